// Server CPU per durable create, split into its parts (a V8 CPU profile of Nasty under POST load), beside the bare-uWS POST's.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { cpuTimes, ROOT } from "./children.ts";
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

interface Window {
  result: LoadResult;
  /** CPU µs per request: every thread, the main (JavaScript) thread alone, and the other threads' user and system (kernel) time. */
  totalMicrosPerRequest: number;
  mainMicrosPerRequest: number;
  othersUserMicrosPerRequest: number;
  othersSystemMicrosPerRequest: number;
  fromMicros: number;
  toMicros: number;
}

function monotonicMicros(): number {
  return Number(process.hrtime.bigint() / 1000n);
}

/** One POST load against `base`, with the server's CPU (all threads and main thread) read around it. */
async function measuredLoad(plan: CreateCpuPlan, base: string, pid: number, token: string, prefix: string): Promise<Window> {
  const read = () => ({ all: cpuTimes(pid), main: cpuTimes(pid, pid) });
  const before = read();
  const fromMicros = monotonicMicros();
  const result = await httpLoad(plan.client, { url: `${base}/api/bookmarks`, method: "POST", seconds: plan.seconds, connections: plan.connections, token, prefix });
  const toMicros = monotonicMicros();
  const after = read();
  if (!before.all || !before.main || !after.all || !after.main) throw new Error("cannot read the server's CPU time (/proc): this step runs on Linux only");
  if (result.requests === 0) throw new Error(`no request answered at ${base}`);
  const perRequest = (seconds: number) => (seconds * 1e6) / result.requests;
  const main = perRequest(after.main.user + after.main.system - before.main.user - before.main.system);
  const othersUser = perRequest(after.all.user - before.all.user - (after.main.user - before.main.user));
  const othersSystem = perRequest(after.all.system - before.all.system - (after.main.system - before.main.system));
  return { result, totalMicrosPerRequest: main + othersUser + othersSystem, mainMicrosPerRequest: main, othersUserMicrosPerRequest: othersUser, othersSystemMicrosPerRequest: othersSystem, fromMicros, toMicros };
}

/** The main thread's profile: node writes one per thread, named CPU.<date>.<time>.<pid>.<thread id>.<n>.cpuprofile, the main thread's id 0. */
function readProfile(dir: string): CpuProfile {
  const files = fs.readdirSync(dir).filter((name) => /^CPU\.\d+\.\d+\.\d+\.0\.\d+\.cpuprofile$/.test(name));
  if (files.length !== 1) throw new Error(`expected one main-thread CPU profile in ${dir}, found ${fs.readdirSync(dir).join(", ") || "none"}`);
  return JSON.parse(fs.readFileSync(path.join(dir, files[0]!), "utf8")) as CpuProfile;
}

/**
 * Starts its own Nasty under `--cpu-prof`, loads it with creates, and splits its CPU per create:
 * the main thread's CPU (from /proc) in the shares the profile's samples give each part, plus the
 * other threads (the SQLite writer's commits and fsyncs) as one more part. The bare-uWS POST server
 * (`ceiling`) is loaded the same way for its CPU per request.
 */
export async function createCpuFigure(plan: CreateCpuPlan, ceiling: { base: string; pid: number }, say: (label: string) => void): Promise<Figure> {
  const profileDir = fs.mkdtempSync(path.join(os.tmpdir(), "nasty-cpu-prof-"));
  try {
    say("create CPU split: starting a profiled Nasty");
    const nasty = await startNasty(plan.seedBookmarks, ["--cpu-prof", `--cpu-prof-dir=${profileDir}`, `--cpu-prof-interval=${PROFILE_INTERVAL_MICROS}`]);
    const pid = nasty.child.process.pid!;
    let window: Window;
    let bare: Window;
    try {
      if (plan.warmupSeconds > 0) await httpLoad(plan.client, { url: `${nasty.base}/api/bookmarks`, method: "POST", seconds: plan.warmupSeconds, connections: plan.connections, token: nasty.token, prefix: `cpu${process.pid}w` });
      say("create CPU split: bare uWS POST");
      bare = await measuredLoad(plan, ceiling.base, ceiling.pid, "", `cpu${process.pid}c`);
      say("create CPU split: Nasty POST, profiled");
      window = await measuredLoad(plan, nasty.base, pid, nasty.token, `cpu${process.pid}n`);
    } finally {
      await nasty.stop();
    }
    const split = splitCpuProfile(readProfile(profileDir), ROOT, window.fromMicros, window.toMicros);
    const parts: Record<string, number> = {};
    for (const part of CPU_PARTS) parts[part] = split.shares[part as CpuPart] * window.mainMicrosPerRequest;
    parts["other threads, user (SQLite writer)"] = Math.max(0, window.othersUserMicrosPerRequest);
    parts["other threads, kernel (commits, fsync)"] = Math.max(0, window.othersSystemMicrosPerRequest);
    const listed = Object.entries(parts).filter(([, micros]) => micros >= 0.5).map(([part, micros]) => `${part} ${micros.toFixed(micros >= 10 ? 0 : 1)}`);
    return judge({
      id: "create-cpu",
      name: "server CPU per durable create (µs), split by part",
      unit: "µs",
      value: window.totalMicrosPerRequest,
      ceiling: bare.totalMicrosPerRequest,
      ceilingName: "bare uWS POST",
      ratio: bare.totalMicrosPerRequest / window.totalMicrosPerRequest,
      target: null,
      note: `${listed.join(", ")} µs (profiled run: ${window.result.requests} creates, ${window.result.errors} failed, ${split.samples} samples)`,
      details: { parts, split, nasty: { ...window }, ceiling: { ...bare }, plan: { ...plan } },
    });
  } finally {
    fs.rmSync(profileDir, { recursive: true, force: true });
  }
}
