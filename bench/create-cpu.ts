// Server CPU per durable create, split into its parts (a V8 CPU profile of Nasty under POST load), beside the bare-uWS POST's.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { ROOT, threadCpuTimes } from "./children.ts";
import { CPU_PARTS, splitCpuProfile, type CpuPart, type CpuProfile } from "./cpu-profile.ts";
import { httpLoad, type LoadClient, type LoadResult } from "./http-load.ts";
import { judge, type Figure } from "./report.ts";
import { startNasty } from "./servers.ts";

export interface CreateCpuPlan {
  client: LoadClient;
  seconds: number;
  warmupSeconds: number;
  connections: number;
  seedBookmarks: number;
}

/** Samples every this many microseconds: fine enough for parts of a few µs per create over a few thousand creates. */
const PROFILE_INTERVAL_MICROS = 250;
const WARMUP_SECONDS_MIN = 1;

interface Window {
  result: LoadResult;
  /** CPU µs per request: every thread, and the main (JavaScript) thread alone. */
  totalMicrosPerRequest: number;
  mainMicrosPerRequest: number;
  /**
   * The busiest thread besides the main one, in user and kernel time per request: in Nasty the
   * SQLite writer (its kernel time is the commits' writes and fsyncs). Node names every thread
   * "node", so it is picked by its CPU, not its name.
   */
  busiest: { userMicros: number; systemMicros: number };
  /** The other threads together (V8's concurrent GC and compiler helpers, libuv's pool, other workers). */
  restMicrosPerRequest: number;
  /** Every thread besides the main one, busiest first, for the record. */
  otherThreads: { thread: number; userMicros: number; systemMicros: number }[];
  fromMicros: number;
  toMicros: number;
}

function monotonicMicros(): number {
  return Number(process.hrtime.bigint() / 1000n);
}

/** One POST load against `base`, with the CPU of each of the server's threads read around it. */
async function measuredLoad(plan: CreateCpuPlan, base: string, pid: number, token: string, prefix: string): Promise<Window> {
  const before = threadCpuTimes(pid);
  const fromMicros = monotonicMicros();
  const result = await httpLoad(plan.client, { url: `${base}/api/bookmarks`, method: "POST", seconds: plan.seconds, connections: plan.connections, token, prefix });
  const toMicros = monotonicMicros();
  const after = threadCpuTimes(pid);
  if (!after.has(pid)) throw new Error("cannot read the server's CPU time (/proc): this step runs on Linux only");
  if (result.requests === 0) throw new Error(`no request answered at ${base}`);
  const perRequest = (seconds: number) => (seconds * 1e6) / result.requests;
  const used = [...after].map(([thread, times]) => {
    const start = before.get(thread) ?? { user: 0, system: 0 };
    return { thread, userMicros: perRequest(times.user - start.user), systemMicros: perRequest(times.system - start.system) };
  });
  const total = (entry: { userMicros: number; systemMicros: number }) => entry.userMicros + entry.systemMicros;
  const main = used.find((entry) => entry.thread === pid)!;
  const others = used.filter((entry) => entry.thread !== pid).sort((a, b) => total(b) - total(a));
  const busiest = others[0] ?? { userMicros: 0, systemMicros: 0 };
  const rest = others.slice(1).reduce((sum, entry) => sum + total(entry), 0);
  return { result, totalMicrosPerRequest: total(main) + total(busiest) + rest, mainMicrosPerRequest: total(main), busiest: { userMicros: busiest.userMicros, systemMicros: busiest.systemMicros }, restMicrosPerRequest: rest, otherThreads: others, fromMicros, toMicros };
}

/** The main thread's profile: node writes one per thread, named CPU.<date>.<time>.<pid>.<thread id>.<n>.cpuprofile, the main thread's id 0. */
function readProfile(dir: string): CpuProfile {
  const files = fs.readdirSync(dir).filter((name) => /^CPU\.\d+\.\d+\.\d+\.0\.\d+\.cpuprofile$/.test(name));
  if (files.length !== 1) throw new Error(`expected one main-thread CPU profile in ${dir}, found ${fs.readdirSync(dir).join(", ") || "none"}`);
  return JSON.parse(fs.readFileSync(path.join(dir, files[0]!), "utf8")) as CpuProfile;
}

/**
 * Splits Nasty's CPU per create. CPU comes from /proc, per thread, under POST load on `nasty` (the
 * run's server, not profiled: a profiler's sampling threads would add their own time); the main
 * thread's share of each part comes from a second Nasty started here under `--cpu-prof` and
 * loaded the same way. The other threads are the busiest (the SQLite writer: its kernel time is
 * the commits' writes and fsyncs) and the rest together. The bare-uWS POST server (`ceiling`) is
 * loaded the same way for its CPU per request. V8 samples on a wall-clock timer, so on a busy
 * machine a function that waits in the kernel (the corked send of each answer) takes more of the
 * shares than its CPU: read the split from an otherwise idle machine.
 */
export async function createCpuFigure(plan: CreateCpuPlan, sides: { nasty: { base: string; pid: number; token: string }; ceiling: { base: string; pid: number } }, say: (label: string) => void): Promise<Figure> {
  // At least a second even in the small modes: right after start, V8 compiles on its helper threads.
  const warmUp = (base: string, token: string) => httpLoad(plan.client, { url: `${base}/api/bookmarks`, method: "POST", seconds: Math.max(WARMUP_SECONDS_MIN, plan.warmupSeconds), connections: plan.connections, token, prefix: `cpu${process.pid}w${base.length}` });
  say("create CPU split: warming up");
  await warmUp(sides.nasty.base, sides.nasty.token);
  say("create CPU split: bare uWS POST");
  const bare = await measuredLoad(plan, sides.ceiling.base, sides.ceiling.pid, "", `cpu${process.pid}c`);
  say("create CPU split: Nasty POST");
  const measured = await measuredLoad(plan, sides.nasty.base, sides.nasty.pid, sides.nasty.token, `cpu${process.pid}n`);
  const profileDir = fs.mkdtempSync(path.join(os.tmpdir(), "nasty-cpu-prof-"));
  try {
    say("create CPU split: a profiled Nasty, warming up");
    const profiled = await startNasty(plan.seedBookmarks, ["--cpu-prof", `--cpu-prof-dir=${profileDir}`, `--cpu-prof-interval=${PROFILE_INTERVAL_MICROS}`]);
    let window: Window;
    try {
      await warmUp(profiled.base, profiled.token);
      say("create CPU split: the profiled Nasty under POST load");
      window = await measuredLoad(plan, profiled.base, profiled.child.process.pid!, profiled.token, `cpu${process.pid}p`);
    } finally {
      await profiled.stop();
    }
    const split = splitCpuProfile(readProfile(profileDir), ROOT, window.fromMicros, window.toMicros);
    const parts: Record<string, number> = {};
    for (const part of CPU_PARTS) parts[part] = split.shares[part as CpuPart] * measured.mainMicrosPerRequest;
    parts["SQLite writer thread, user"] = measured.busiest.userMicros;
    parts["SQLite writer thread, kernel (writes, fsync)"] = measured.busiest.systemMicros;
    parts["other threads (V8 helpers, libuv)"] = measured.restMicrosPerRequest;
    const listed = Object.entries(parts).filter(([, micros]) => micros >= 0.5).map(([part, micros]) => `${part} ${micros.toFixed(micros >= 10 ? 0 : 1)}`);
    return judge({
      id: "create-cpu",
      name: "server CPU per durable create (µs), split by part",
      unit: "µs",
      value: measured.totalMicrosPerRequest,
      ceiling: bare.totalMicrosPerRequest,
      ceilingName: "bare uWS POST",
      ratio: bare.totalMicrosPerRequest / measured.totalMicrosPerRequest,
      target: null,
      note: `${listed.join(", ")} µs (${measured.result.requests} creates, ${measured.result.errors} failed; shares from ${split.samples} profile samples)`,
      details: { parts, split, nasty: { ...measured }, profiled: { ...window }, ceiling: { ...bare }, plan: { ...plan } },
    });
  } finally {
    fs.rmSync(profileDir, { recursive: true, force: true });
  }
}
