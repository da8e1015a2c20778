// A V8 CPU profile (`node --cpu-prof`) summed by part of the create path: which code the main thread's time went to.
import { fileURLToPath } from "node:url";

/** The parts the create path is split into, in the order the report lists them. */
export const CPU_PARTS = [
  "HTTP", "JSON", "validation", "auth", "commands", "log hand-off", "apply", "search", "fragments", "publish", "GC",
  "native (uWS, libuv, V8)", "other JS",
] as const;
export type CpuPart = (typeof CPU_PARTS)[number];

/** The subset of the `.cpuprofile` format read here. */
export interface CpuProfile {
  nodes: { id: number; callFrame: { functionName: string; url: string }; children?: number[] }[];
  /** Microseconds, on the same monotonic clock as `process.hrtime` (CLOCK_MONOTONIC). */
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

/**
 * Functions whose own time is JSON work: V8 does not show `JSON.parse`/`JSON.stringify` as frames
 * of their own, it counts them to the caller, so the callers whose work is mostly JSON are named.
 */
const JSON_FUNCTIONS: ReadonlySet<string> = new Set(["jsonBody", "parse", "stringify"]);

/** Project-relative path of a frame's script ("" for builtins and native frames). */
function projectPath(url: string, root: string): string {
  if (!url.startsWith("file://")) return "";
  const file = fileURLToPath(url);
  return file.startsWith(root) ? file.slice(root.length).replace(/^\/+/, "") : file;
}

/**
 * The part one frame belongs to, or null when it says nothing by itself (node internals, builtins,
 * the bench's own loader): such a frame's time goes to the nearest caller that has a part.
 */
export function frameCpuPart(functionName: string, url: string, root: string): CpuPart | "idle" | null {
  if (functionName === "(garbage collector)") return "GC";
  if (functionName === "(idle)") return "idle";
  if (functionName === "(program)") return "native (uWS, libuv, V8)";
  const file = projectPath(url, root);
  if (JSON_FUNCTIONS.has(functionName) && (file === "" || file.startsWith("src/http/"))) return "JSON";
  if (file.includes("node_modules/superstruct/") || file === "src/commands/schemas.ts" || file === "src/text.ts") return "validation";
  if (file.includes("node_modules/uWebSockets.js/") || file.includes("uws-js-unofficial")) return "HTTP";
  if (file.includes("node_modules/eta/")) return "fragments";
  if (!file.startsWith("src/")) return null;
  const [, folder = "", name = ""] = /^src\/([^/]+)\/?(.*)$/.exec(file) ?? [];
  switch (folder) {
    case "http": return "HTTP";
    case "auth": return "auth";
    case "commands": return "commands";
    case "log": return "log hand-off";
    case "store": return "apply";
    case "search": return "search";
    case "render": return "fragments";
    case "realtime": return /render|fragment|html-feed/.test(name) ? "fragments" : "publish";
    default: return "other JS";
  }
}

export interface CpuSplit {
  /** Sampled main-thread time in the window, idle excluded, in microseconds. */
  busyMicros: number;
  idleMicros: number;
  samples: number;
  /** Each part's share of the busy time (0..1). */
  shares: Record<CpuPart, number>;
  /** The functions with the most time of their own, with their part and share of the busy time. */
  top: { frame: string; part: CpuPart; share: number }[];
}

const TOP_FRAMES = 25;

/**
 * Sums the samples taken between `fromMicros` and `toMicros` (the load window, on the profile's
 * clock) by part: each sample counts for the time until the next one, and goes to the part of the
 * nearest frame on its stack, leaf first, that has one.
 */
export function splitCpuProfile(profile: CpuProfile, root: string, fromMicros: number, toMicros: number): CpuSplit {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const parentOf = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parentOf.set(child, node.id);
  const partOf = new Map<number, CpuPart | "idle">();
  const resolve = (id: number): CpuPart | "idle" => {
    const known = partOf.get(id);
    if (known) return known;
    const node = byId.get(id);
    const own = node ? frameCpuPart(node.callFrame.functionName, node.callFrame.url, root) : null;
    const parent = parentOf.get(id);
    const part = own ?? (parent === undefined ? "other JS" : resolve(parent));
    partOf.set(id, part);
    return part;
  };
  const micros = Object.fromEntries(CPU_PARTS.map((part) => [part, 0])) as Record<CpuPart, number>;
  const ownMicros = new Map<number, number>();
  let idleMicros = 0;
  let samples = 0;
  let time = profile.startTime;
  for (let index = 0; index < profile.samples.length; index += 1) {
    time += profile.timeDeltas[index] ?? 0;
    const duration = profile.timeDeltas[index + 1] ?? 0;
    if (time < fromMicros || time >= toMicros) continue;
    samples += 1;
    const part = resolve(profile.samples[index]!);
    if (part === "idle") idleMicros += duration;
    else {
      micros[part] += duration;
      ownMicros.set(profile.samples[index]!, (ownMicros.get(profile.samples[index]!) ?? 0) + duration);
    }
  }
  const busyMicros = CPU_PARTS.reduce((sum, part) => sum + micros[part], 0);
  const shares = Object.fromEntries(CPU_PARTS.map((part) => [part, busyMicros > 0 ? micros[part] / busyMicros : 0])) as Record<CpuPart, number>;
  const byFrame = new Map<string, { part: CpuPart; micros: number }>();
  for (const [id, own] of ownMicros) {
    const frame = byId.get(id)!.callFrame;
    const key = `${frame.functionName || "(anonymous)"} ${projectPath(frame.url, root) || frame.url}`;
    const entry = byFrame.get(key) ?? { part: resolve(id) as CpuPart, micros: 0 };
    entry.micros += own;
    byFrame.set(key, entry);
  }
  const top = [...byFrame].sort((a, b) => b[1].micros - a[1].micros).slice(0, TOP_FRAMES).map(([frame, { part, micros: own }]) => ({ frame, part, share: busyMicros > 0 ? own / busyMicros : 0 }));
  return { busyMicros, idleMicros, samples, shares, top };
}
