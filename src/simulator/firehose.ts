// `npm run firehose`: watches /ws topics and prints each event as one readable line (or raw JSON), reconnecting with backoff.
import path from "node:path";
import { pathToFileURL } from "node:url";
import WebSocket from "ws";
import { normalizeTags } from "../commands/schemas.ts";
import { topic } from "../realtime/topics.ts";
import { describeFlags, parseFlags, UsageError, type FlagValues } from "./args.ts";

const FLAGS = {
  url: { kind: "string", describe: "server to watch: ws://, wss://, http:// or https:// (default ws://127.0.0.1:4000)" },
  tag: { kind: "string", repeatable: true, describe: "watch one tag's public bookmarks (repeatable)" },
  user: { kind: "string", repeatable: true, describe: "watch one person's public bookmarks (repeatable)" },
  topic: { kind: "string", repeatable: true, describe: "watch any topic by name, e.g. bookmark:1025 for a discussion (repeatable)" },
  token: { kind: "string", describe: "API token, to watch your own private topic (bookmarks:user:<you>:private)" },
  json: { kind: "switch", describe: "print each pushed frame as the raw JSON line it arrived as" },
  help: { kind: "switch", describe: "show this help" },
} as const;

const DEFAULT_URL = "ws://127.0.0.1:4000";
const BACKOFF_MS_MIN = 250;
const BACKOFF_MS_MAX = 10_000;
const FIELD_CHARS_MAX = 300;

/** The /ws endpoint for a base URL given as ws(s):// or http(s)://, or a UsageError. */
export function socketUrl(raw: string, topics: readonly string[]): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new UsageError(`--url '${raw.slice(0, 80)}' is not a URL; expected e.g. ${DEFAULT_URL}`);
  }
  const schemes: Record<string, string> = { "ws:": "ws:", "wss:": "wss:", "http:": "ws:", "https:": "wss:" };
  const scheme = schemes[url.protocol];
  if (!scheme) throw new UsageError(`--url must be a ws://, wss://, http:// or https:// URL, got ${url.protocol}// ('${raw.slice(0, 80)}')`);
  const endpoint = new URL(url.href.replace(/^[a-z]+:/, scheme));
  endpoint.pathname = `${endpoint.pathname.replace(/\/+$/, "").replace(/\/ws$/, "")}/ws`;
  endpoint.search = new URLSearchParams({ topics: topics.join(",") }).toString();
  return endpoint;
}

/** The topics the flags ask for (the firehose when none); names are built by realtime/topics.ts. */
export function topicsFor(flags: FlagValues): string[] {
  const tags = (flags.tag as string[] | undefined) ?? [];
  const users = (flags.user as string[] | undefined) ?? [];
  const named = (flags.topic as string[] | undefined) ?? [];
  const names = [
    ...tags.map((raw) => {
      if (raw.includes(",")) throw new UsageError(`--tag '${raw.slice(0, 40)}' is not one tag (tags never contain commas); repeat --tag to watch several`);
      const [tag] = normalizeTags([raw]);
      if (tag === undefined) throw new UsageError("--tag needs a tag name, got an empty one");
      return topic.tag(tag);
    }),
    ...users.map((name) => topic.user(name.trim().toLowerCase())),
    ...named,
  ];
  return names.length > 0 ? [...new Set(names)] : [topic.firehose];
}

/** Strips control characters (a title must not drive the terminal) and bounds a field's length. */
function clean(value: unknown): string {
  const text = typeof value === "string" ? value : value === undefined || value === null ? "" : String(value);
  const printable = text.replace(/[\u0000-\u001f\u007f-\u009f]+/g, " ");
  return printable.length > FIELD_CHARS_MAX ? `${printable.slice(0, FIELD_CHARS_MAX)}…` : printable;
}

function clock(iso: unknown, fallback: Date): string {
  const parsed = typeof iso === "string" ? new Date(iso) : fallback;
  const date = Number.isNaN(parsed.getTime()) ? fallback : parsed;
  return [date.getHours(), date.getMinutes(), date.getSeconds()].map((part) => String(part).padStart(2, "0")).join(":");
}

/** One pushed event as a line: time, what happened, who, tags, title, URL. Null for frames that are not pushes. */
export function formatPush(frame: Record<string, unknown>, now: Date = new Date()): string | null {
  if (typeof frame.event !== "string" || typeof frame.topic !== "string") return null;
  const payload = (typeof frame.payload === "object" && frame.payload !== null ? frame.payload : {}) as Record<string, unknown>;
  const tags = Array.isArray(payload.tags) ? `[${payload.tags.map(clean).join(", ")}]` : "[]";
  switch (frame.event) {
    case "bookmark_created":
    case "bookmark_updated": {
      const verb = frame.event === "bookmark_created" ? "saved  " : "updated";
      const when = frame.event === "bookmark_created" ? payload.inserted_at : payload.updated_at;
      const privacy = payload.public === false ? " (private)" : "";
      return `${clock(when, now)}  ${verb}  ${clean(payload.user)}  ${tags}  ${clean(payload.title)}  ${clean(payload.url)}${privacy}`;
    }
    case "bookmark_deleted":
      return `${clock(undefined, now)}  deleted  #${clean(payload.id)} (from ${clean(frame.topic)})`;
    case "comment_posted":
      return `${clock(payload.inserted_at, now)}  comment  ${clean(payload.user)} on #${clean(payload.bookmark_id)}: ${clean(payload.body)}`;
    default:
      return `${clock(undefined, now)}  ${clean(frame.event)}  ${clean(frame.topic)}  ${clean(JSON.stringify(payload))}`;
  }
}

export interface FirehoseOptions {
  endpoint: URL;
  topics: readonly string[];
  json: boolean;
  token?: string;
  out: (line: string) => void;
  note: (line: string) => void;
}

/**
 * Keeps one socket open to `endpoint`: on close or failure it says so and reconnects after a
 * doubling delay (250 ms up to 10 s), reset once a connection is accepted, resuming after the
 * last seq it saw: the server replays what was missed, or says resync when it no longer can. A handshake the server
 * refuses for good (401, 403, 404) or every topic refused ends it; `done` resolves to the exit code.
 */
export class FirehoseClient {
  private socket: WebSocket | null = null;
  private timer: NodeJS.Timeout | null = null;
  private attempt = 0;
  private connections = 0;
  /** The seq of the last push seen: a reconnect resumes after it (`?since=`), so nothing is missed. */
  private lastSeq: number | null = null;
  private stopped = false;
  private finish!: (code: number) => void;
  readonly done: Promise<number> = new Promise((resolve) => (this.finish = resolve));

  constructor(private readonly options: FirehoseOptions) {}

  start(): void {
    this.connect();
  }

  stop(code = 0): void {
    if (this.stopped) return;
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.socket?.close(1000);
    this.finish(code);
  }

  private connect(): void {
    if (this.stopped) return;
    const headers = this.options.token ? { authorization: `Bearer ${this.options.token}` } : undefined;
    const endpoint = new URL(this.options.endpoint);
    if (this.lastSeq !== null) endpoint.searchParams.set("since", String(this.lastSeq));
    const socket = new WebSocket(endpoint, { headers });
    this.socket = socket;
    let refused = 0;
    socket.on("open", () => {
      this.connections += 1;
      this.attempt = 0;
      this.options.note(`${this.connections === 1 ? "connected" : "reconnected"} to ${this.options.endpoint.origin}${this.options.endpoint.pathname}`);
    });
    socket.on("message", (data, isBinary) => {
      if (isBinary) return;
      const text = data.toString();
      let frame: Record<string, unknown>;
      try {
        frame = JSON.parse(text) as Record<string, unknown>;
      } catch {
        this.options.note(`ignored a frame that is not JSON: ${clean(text).slice(0, 80)}`);
        return;
      }
      if (typeof frame.seq === "number" && Number.isSafeInteger(frame.seq)) this.lastSeq = Math.max(this.lastSeq ?? 0, frame.seq);
      if (frame.op === "ok" && frame.for === "subscribe") this.options.note(`listening on ${clean(frame.topic)}`);
      else if (frame.op === "resync") this.options.note(`missed too much on ${clean(frame.topic)} while away to catch up; going on from now`);
      else if (frame.op === "error") {
        this.options.note(`the server refused ${clean(frame.for ?? "a frame")} ${clean(frame.topic)}: ${clean(frame.reason)}`);
        if (frame.for === "subscribe" && ++refused === this.options.topics.length) this.stop(2);
      } else if (this.options.json) this.options.out(text);
      else {
        const line = formatPush(frame);
        if (line !== null) this.options.out(line);
      }
    });
    socket.on("unexpected-response", (_request, response) => {
      const status = response.statusCode ?? 0;
      socket.terminate();
      if ([401, 403, 404].includes(status)) {
        this.options.note(`the server refused the connection (${status} ${clean(response.statusMessage)}); not retrying`);
        this.stop(2);
      } else this.retry(`the server answered ${status} ${clean(response.statusMessage)}`);
    });
    socket.on("error", (error) => this.retry(`cannot connect (${clean(error.message)})`));
    socket.on("close", (code, reason) => this.retry(`connection closed (${code}${reason.length > 0 ? ` ${clean(reason.toString())}` : ""})`));
  }

  /** Schedules the next attempt once per failed socket (error and close both report the same failure). */
  private retry(why: string): void {
    if (this.stopped || this.timer) return;
    this.socket?.removeAllListeners();
    this.socket?.on("error", () => {});
    this.socket = null;
    const delayMs = Math.min(BACKOFF_MS_MAX, BACKOFF_MS_MIN * 2 ** this.attempt);
    this.attempt += 1;
    this.options.note(`${why}; reconnecting in ${(delayMs / 1000).toFixed(1)} s (attempt ${this.attempt})`);
    this.timer = setTimeout(() => {
      this.timer = null;
      this.connect();
    }, delayMs);
  }
}

export async function runFirehose(argv: readonly string[]): Promise<number> {
  let options: FirehoseOptions;
  try {
    const flags = parseFlags(argv, FLAGS);
    if (flags.help) {
      console.log(`npm run firehose -- [--tag rust] [--user alice] [--url ${DEFAULT_URL}] [--json]\n${describeFlags(FLAGS)}`);
      return 0;
    }
    const topics = topicsFor(flags);
    options = {
      endpoint: socketUrl((flags.url as string | undefined) ?? DEFAULT_URL, topics), topics, json: flags.json === true, token: flags.token as string | undefined,
      out: (line) => process.stdout.write(`${line}\n`),
      note: (line) => process.stderr.write(`[firehose] ${line}\n`),
    };
  } catch (error) {
    if (error instanceof UsageError) {
      console.error(`[firehose] ${error.message}`);
      return 2;
    }
    throw error;
  }
  const client = new FirehoseClient(options);
  const stop = () => client.stop(0);
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
  // A reader that went away (`npm run firehose | head`) ends the watch quietly.
  process.stdout.on("error", (error: NodeJS.ErrnoException) => {
    if (error.code !== "EPIPE") throw error;
    stop();
  });
  client.start();
  return client.done;
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  process.exitCode = await runFirehose(process.argv.slice(2));
}
