// `tsx bench/profile-fanout.ts [--threads] [SUBSCRIBERS] [OUT_DIR]`: the fan-out bench's throughput run on the bare-uWS
// ceiling and on one Nasty (under `--cpu-prof` unless --threads), each server's CPU per event by thread, then the
// profile's parts and busiest functions by own time. A tool for finding where Nasty's per-event CPU goes.
import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { FanoutClient, type FanoutPlan, type Side } from "./fanout.ts";
import { ROOT, threadCpuTimes } from "./children.ts";
import { splitCpuProfile, type CpuProfile } from "./cpu-profile.ts";
import { capture, startCeiling, startNasty } from "./servers.ts";

const profile = !process.argv.includes("--threads");
const [subscribersArg, outArg] = process.argv.slice(2).filter((arg) => arg !== "--threads");
const subscribers = Number(subscribersArg ?? 1000);
const outDir = path.resolve(outArg ?? fs.mkdtempSync(path.join(os.tmpdir(), "nasty-fanout-prof-")));
fs.mkdirSync(outDir, { recursive: true });
const plan: FanoutPlan = { sizes: [subscribers], warmupMs: 1000, durationMs: 6000, windowPushes: 256_000, connections: 64, rounds: 1, latency: { subscribers, rate: 1000, warmupMs: 0, durationMs: 0, probes: 0, connections: 1 } };
const extraFlags = (process.env.NODE_FLAGS ?? "").split(" ").filter(Boolean);

/** One throughput run on `side`, with its server's CPU per event by thread. */
async function measure(client: FanoutClient, side: Side): Promise<{ from: number; to: number }> {
  await client.connect(side, subscribers, 0);
  const perfArgs = process.env.PERF_RECORD
    ? ["record", "-F", "499", "-p", String(side.pid), "-o", path.join(outDir, `${side.name}.data`)]
    : ["stat", "-e", "raw_syscalls:sys_enter,page-faults,context-switches", "-p", String(side.pid), "-o", path.join(outDir, `${side.name}.perf`)];
  const tracer = process.env.SYSCALLS || process.env.PERF_RECORD ? spawn("perf", perfArgs, { stdio: "ignore" }) : null;
  const threadsBefore = threadCpuTimes(side.pid);
  const from = Number(process.hrtime.bigint() / 1000n);
  const run = await client.throughput(plan, side, subscribers);
  const to = Number(process.hrtime.bigint() / 1000n);
  const threadsAfter = threadCpuTimes(side.pid);
  if (tracer) {
    tracer.kill("SIGINT");
    await new Promise((resolve) => tracer.once("exit", resolve));
  }
  await client.disconnect();
  if (run instanceof Error) throw run;
  console.log(`${side.name}: ${run.eventsPerSecond.toFixed(0)} events/s, ${run.serverCpuMicrosPerEvent?.toFixed(0)} µs server CPU per event`);
  for (const [id, after] of threadsAfter) {
    const before = threadsBefore.get(id) ?? { user: 0, system: 0 };
    const user = ((after.user - before.user) * 1e6) / run.accepted;
    const system = ((after.system - before.system) * 1e6) / run.accepted;
    if (user + system > 1) console.log(`  thread ${id === side.pid ? "main" : id}: ${user.toFixed(0)} µs user + ${system.toFixed(0)} µs system per event`);
  }
  if (tracer && !process.env.PERF_RECORD && run.accepted > 0) {
    const text = fs.readFileSync(path.join(outDir, `${side.name}.perf`), "utf8");
    for (const match of text.matchAll(/^\s*([\d,]+)\s+(\S+)/gm)) console.log(`  ${match[2]}: ${(Number(match[1]!.replaceAll(",", "")) / run.accepted).toFixed(1)} per event`);
  }
  return { from, to };
}

/** With COMMITS=1, Nasty's /metrics is on, to tell its group commits' mean size and time during the run. */
const METRICS_TOKEN = process.env.COMMITS ? "profile-fanout-metrics-token" : "";
const nasty = await startNasty(200, [...(profile ? ["--cpu-prof", `--cpu-prof-dir=${outDir}`, "--cpu-prof-interval=200"] : []), ...extraFlags], { NASTY_METRICS_TOKEN: METRICS_TOKEN });

/** Sum and count of each histogram of Nasty's /metrics named `nasty_log_commit…`. */
async function commitMetrics(): Promise<Map<string, number>> {
  const text = await (await fetch(`${nasty.base}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } })).text();
  return new Map([...text.matchAll(/^(nasty_log_commit\w*_(?:sum|count)) (\S+)$/gm)].map((match) => [match[1]!, Number(match[2])]));
}
const nastyClient = FanoutClient.start("nasty");
const ceilingClient = FanoutClient.start("ceiling");
try {
  const nastySide: Side = { name: "nasty", port: nasty.port, token: nasty.token, pid: nasty.child.process.pid!, death: () => nasty.child.death() };
  const probe = await nastyClient.probe(nastySide);
  if (!probe.ok) throw new Error(probe.error);
  const json = await capture(nasty.base, "/api/bookmarks?limit=50", /json/);
  if ("missing" in json) throw new Error(json.missing);
  const ceiling = await startCeiling({ postAnswer: nasty.postAnswer, gets: {}, wsPath: "/ws", topic: "bookmarks:firehose", frameBytes: probe.frameBytes, maxBackpressureBytes: 1024 * 1024 });
  try {
    await measure(ceilingClient, { name: "ceiling", port: ceiling.port, token: "", pid: ceiling.child.process.pid!, death: () => ceiling.child.death() });
  } finally {
    await ceiling.stop();
  }
  const commitsBefore = METRICS_TOKEN ? await commitMetrics() : null;
  const { from, to } = await measure(nastyClient, nastySide);
  if (commitsBefore) {
    const after = await commitMetrics();
    const delta = (name: string) => (after.get(name) ?? 0) - (commitsBefore.get(name) ?? 0);
    const batches = delta("nasty_log_commit_seconds_count");
    console.log(`  group commits: ${batches} batches, ${(delta("nasty_log_commit_batch_events_sum") / batches).toFixed(1)} events each, ${((delta("nasty_log_commit_seconds_sum") / batches) * 1000).toFixed(2)} ms from send to commit`);
  }
  await nasty.stop();
  if (profile) {
    const file = fs.readdirSync(outDir).filter((name) => /\.\d+\.0\.\d+\.cpuprofile$/.test(name)).map((name) => path.join(outDir, name))[0]!;
    const split = splitCpuProfile(JSON.parse(fs.readFileSync(file, "utf8")) as CpuProfile, ROOT, from, to);
    console.log(`profile ${file}: busy ${(split.busyMicros / 1e6).toFixed(2)} s, idle ${(split.idleMicros / 1e6).toFixed(2)} s`);
    for (const [part, share] of Object.entries(split.shares)) if (share > 0.005) console.log(`  ${(share * 100).toFixed(1).padStart(5)} %  ${part}`);
    for (const { frame, share } of split.top) console.log(`  ${(share * 100).toFixed(1).padStart(5)} %  ${frame}`);
  }
} finally {
  await Promise.all([nastyClient.stop(), ceilingClient.stop(), nasty.stop()]);
}
