// The one logger (pino): level, JSON or one readable line per record, and whether the access log is on, set once from the config.
import pino, { type DestinationStream, type Logger } from "pino";

export const LOG_LEVELS = ["trace", "debug", "info", "warn", "error", "fatal", "silent"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
export const LOG_FORMATS = ["json", "text"] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

export interface LogSettings {
  level: LogLevel;
  format: LogFormat;
  /** One `access` record per answered request. */
  accessLog: boolean;
  /** The access log's client address follows X-Forwarded-For (clientAddress) only behind a trusted proxy. */
  trustProxy: boolean;
}

export type { DestinationStream, Logger };

/** A value of the text format: bare when it reads unambiguously, else as JSON. */
function textValue(value: unknown): string {
  if (typeof value === "string") return /^[^\s"=]+$/.test(value) ? value : JSON.stringify(value);
  return typeof value === "object" && value !== null ? JSON.stringify(value) : String(value);
}

/**
 * One pino record (a JSON line) as text: time, level, message, then key=value pairs; an error's
 * stack follows on lines indented by four spaces, so the record's own line stays one line.
 */
export function textLine(json: string): string {
  const { time, level, msg, err, ...fields } = JSON.parse(json) as Record<string, unknown>;
  let line = `${String(time)} ${String(level).toUpperCase().padEnd(5)} ${typeof msg === "string" ? msg : ""}`;
  for (const name in fields) line += ` ${name}=${textValue(fields[name])}`;
  if (err && typeof err === "object") {
    const error = err as { message?: unknown; stack?: unknown };
    line += ` err=${textValue(error.message)}`;
    if (typeof error.stack === "string") line += `\n${error.stack.replace(/^/gm, "    ")}`;
  }
  return `${line}\n`;
}

/**
 * Records go to `destination` (standard output unless a test passes its own), written
 * synchronously so nothing is lost when the process stops. The text format is our own small
 * formatter over pino's JSON: one line per record, no colours, no extra dependency (pino-pretty
 * brings a dozen packages for options we do not use).
 */
function build(settings: Pick<LogSettings, "level" | "format">, destination?: DestinationStream): Logger {
  const out = destination ?? pino.destination({ dest: 1, sync: true });
  const stream: DestinationStream = settings.format === "text" ? { write: (line: string) => out.write(textLine(line)) } : out;
  return pino({ level: settings.level, base: null, timestamp: pino.stdTimeFunctions.isoTime, formatters: { level: (label) => ({ level: label }) } }, stream);
}

/** The process's logger; parts log through it (a request through its child, Context.log). */
export let logger: Logger = build({ level: "info", format: "text" });

/** The access log's settings while it is on; null (nothing done per request) while it is off. */
export let accessLog: { trustProxy: boolean } | null = null;

/** Sets level, format and access log for the whole process (the composition root calls it once per start). */
export function configureLogging(settings: LogSettings, destination?: DestinationStream): void {
  logger = build(settings, destination);
  accessLog = settings.accessLog ? { trustProxy: settings.trustProxy } : null;
}
