// `npm run bench [-- --quick | --smoke] [--out DIR] [--only STEPS] [--client wrk|node]`: every bench, one report.
// Each load figure sits beside its ceiling, a bare uWebSockets.js server measured in the same run.
import os from "node:os";
import path from "node:path";
import { Child, ROOT } from "./children.ts";
import { FanoutClient, fanoutFigures, FANOUT_TARGET, type FanoutPlan, type Side } from "./fanout.ts";
import { findWrk, type LoadClient } from "./http-load.ts";
import { loadFigure, type LoadPlan } from "./load.ts";
import { runMicro } from "./micro.ts";
import { createCpuFigure } from "./create-cpu.ts";
import { runSearchBench } from "./search.ts";
import { resumeFigures, type ResumePlan } from "./resume.ts";
import { capacityFigures, type CapacityPlan } from "./capacity.ts";
import { clusterFigures, type ClusterPlan } from "./cluster.ts";
import type { ReplayAnswer } from "./replay.ts";
import { judge, markdownTable, Progress, skipped, writeResults, type BenchResults, type Figure } from "./report.ts";
import { STRING_PREFIX } from "./ceiling.ts";
import { capture, startCeiling, startNasty, type CeilingServer, type NastyServer } from "./servers.ts";

interface Mode {
  microTimeMs: number;
  load: Omit<LoadPlan, "client">;
  postConnections: number;
  getConnections: number;
  seedBookmarks: number;
  fanout: FanoutPlan;
  resume: ResumePlan;
  replayEvents: number;
  searchQuick: boolean;
  capacity: Omit<CapacityPlan, "client">;
  cluster: ClusterPlan;
}

const MODES: Record<"smoke" | "quick" | "full", Mode> = {
  /** A few seconds: proves every step runs and produces its figure (test/bench.test.ts). */
  smoke: {
    microTimeMs: 20,
    load: { seconds: 1, warmupSeconds: 0, rounds: 1 },
    postConnections: 16,
    getConnections: 16,
    seedBookmarks: 60,
    fanout: { sizes: [20, 100], warmupMs: 200, durationMs: 600, windowPushes: 3200, connections: 32, rounds: 1, latency: { subscribers: 20, rate: 100, warmupMs: 200, durationMs: 600, probes: 10, connections: 16 } },
    resume: { subscribers: 20, events: 200 },
    replayEvents: 5000,
    searchQuick: true,
    capacity: { sizes: [200, 2000], tailEvents: 2000, loadSeconds: 1, connections: 8 },
    cluster: { rates: [50], rateSeconds: 1, writers: 4, throughputSeconds: 1, fanoutPerNode: 5, fanoutWriters: 4, fanoutSeconds: 1 },
  },
  quick: {
    microTimeMs: 150,
    load: { seconds: 2, warmupSeconds: 0, rounds: 1 },
    postConnections: 64,
    getConnections: 32,
    seedBookmarks: 100,
    fanout: { sizes: [1000, 10_000], warmupMs: 300, durationMs: 1500, windowPushes: 256_000, connections: 64, rounds: 1, latency: { subscribers: 1000, rate: 1000, warmupMs: 200, durationMs: 1000, probes: 50, connections: 64 } },
    resume: { subscribers: 1000, events: 1000 },
    replayEvents: 50_000,
    searchQuick: true,
    capacity: { sizes: [10_000, 100_000], tailEvents: 50_000, loadSeconds: 3, connections: 32 },
    cluster: { rates: [100, 500], rateSeconds: 3, writers: 32, throughputSeconds: 3, fanoutPerNode: 100, fanoutWriters: 16, fanoutSeconds: 3 },
  },
  full: {
    microTimeMs: 1000,
    load: { seconds: 8, warmupSeconds: 2, rounds: 3 },
    postConnections: 64,
    getConnections: 32,
    seedBookmarks: 200,
    fanout: { sizes: [1000, 10_000], warmupMs: 1000, durationMs: 5000, windowPushes: 256_000, connections: 64, rounds: 3, latency: { subscribers: 1000, rate: 1000, warmupMs: 2000, durationMs: 8000, probes: 100, connections: 64 } },
    resume: { subscribers: 10_000, events: 1000 },
    replayEvents: 1_000_000,
    searchQuick: false,
    capacity: { sizes: [10_000, 1_000_000, 10_000_000], tailEvents: 50_000, loadSeconds: 8, connections: 32 },
    cluster: { rates: [100, 500], rateSeconds: 10, writers: 64, throughputSeconds: 8, fanoutPerNode: 300, fanoutWriters: 16, fanoutSeconds: 8 },
  },
};

const STEPS = ["micro", "replay", "search", "create", "cpu", "feed", "html", "fanout", "resume", "capacity", "cluster"] as const;
type Step = (typeof STEPS)[number];

interface Options {
  mode: keyof typeof MODES;
  out: string;
  only: Set<Step>;
  client: LoadClient;
  /** --sizes: the capacity step's bookmark counts instead of the mode's. */
  capacitySizes: number[] | null;
}

function usage(problem: string): never {
  console.error(`bench: ${problem}\nusage: npm run bench -- [--quick | --smoke] [--out DIR] [--only ${STEPS.join(",")}] [--client wrk|node] [--sizes N,N,…]`);
  process.exit(2);
}

function parseOptions(args: string[]): Options {
  const options: Options = { mode: "full", out: path.join(ROOT, "bench/results"), only: new Set(STEPS), client: findWrk() ? "wrk" : "node", capacitySizes: null };
  for (let index = 0; index < args.length; index += 1) {
    const arg = args[index]!;
    const value = () => args[++index] ?? usage(`${arg} needs a value`);
    if (arg === "--quick" || arg === "--smoke" || arg === "--full") options.mode = arg.slice(2) as Options["mode"];
    else if (arg === "--out") options.out = path.resolve(value());
    else if (arg === "--only") {
      const steps = value().split(",");
      for (const step of steps) if (!STEPS.includes(step as Step)) usage(`unknown step '${step}'`);
      options.only = new Set(steps as Step[]);
    } else if (arg === "--client") {
      const client = value();
      if (client !== "wrk" && client !== "node") usage(`--client is wrk or node, not '${client}'`);
      if (client === "wrk" && !findWrk()) usage("--client wrk, but wrk is not installed");
      options.client = client;
    } else if (arg === "--sizes") {
      const sizes = value().split(",").map(Number);
      if (sizes.some((size) => !Number.isInteger(size) || size < 1)) usage("--sizes takes bookmark counts separated by commas, e.g. 100000,1000000");
      options.capacitySizes = sizes;
    } else usage(`unknown argument '${arg}'`);
  }
  return options;
}

const REPLAY_TARGET = { kind: "value-min", value: 500_000 } as const;
const MEMORY_TARGET = { kind: "value-max", value: 1024 } as const;

async function replayFigures(events: number): Promise<Figure[]> {
  const child = new Child("bench/replay.ts", [String(events)], { label: "replay bench", ipc: true, nodeFlags: ["--expose-gc", "--max-old-space-size=8192"] });
  let answer: ReplayAnswer | { error: string };
  try {
    answer = await child.nextMessage<ReplayAnswer | { error: string }>(Math.max(120_000, events / 5));
  } finally {
    await child.stop();
  }
  if ("error" in answer) throw new Error(answer.error);
  const size = answer.bookmarks.toLocaleString("en");
  return [
    judge({
      id: "replay",
      name: `replay at start-up, ${answer.events.toLocaleString("en")} events`,
      unit: "events/s",
      value: answer.replayEventsPerSecond,
      ceiling: answer.readEventsPerSecond,
      ceilingName: "rows read + parsed, nothing applied",
      ratio: answer.replayEventsPerSecond / answer.readEventsPerSecond,
      target: REPLAY_TARGET,
      note: null,
      details: { ...answer },
    }),
    judge({
      id: "memory",
      name: `heap per bookmark, ${size} bookmarks`,
      unit: "B",
      value: answer.heapBytesPerBookmark,
      ceiling: null,
      ceilingName: null,
      ratio: null,
      target: MEMORY_TARGET,
      note: `${answer.dataBytesPerBookmark.toFixed(0)} B of it are the bookmark's own text; the search index adds ${answer.searchHeapBytesPerBookmark.toFixed(0)} B`,
      details: { ...answer },
    }),
  ];
}

async function searchFigures(quick: boolean): Promise<Figure[]> {
  const result = await runSearchBench({ quick });
  const figure = (quantile: "p50" | "p99") =>
    judge({ id: `search-${quantile}`, name: `search query ${quantile}, ${result.bookmarks.toLocaleString("en")} bookmarks`, unit: "ms", value: result[`${quantile}_ms`], ceiling: null, ceilingName: null, ratio: null, target: null, note: null, details: { ...result } });
  const loaded = judge({
    id: "search-section-load", name: `search index read from a snapshot section, ${result.bookmarks.toLocaleString("en")} bookmarks`, unit: "ms", value: result.section_load_ms, ceiling: null, ceilingName: null, ratio: null, target: null,
    note: `built in ${result.build_index_ms} ms; section ${(result.section_bytes / 1048576).toFixed(1)} MiB written in ${result.section_encode_ms} ms; queries on it p50 ${result.loaded_p50_ms} ms, p99 ${result.loaded_p99_ms} ms`, details: { ...result },
  });
  return [figure("p50"), figure("p99"), loaded];
}

interface Servers {
  /** Size and item count of each captured GET answer, by path. */
  answers: Record<string, { bytes: number; items: number }>;
  nasty: NastyServer;
  ceiling: CeilingServer;
  /** One client process per side, when the fan-out step runs. */
  fanout: { nasty: FanoutClient; ceiling: FanoutClient } | null;
  frameBytes: number | null;
  firehoseMissing: string | null;
  html: boolean;
  htmlMissing: string | null;
}

function nastySide(nasty: NastyServer): Side {
  return { name: "nasty", port: nasty.port, token: nasty.token, pid: nasty.child.process.pid!, death: () => nasty.child.death() };
}

/** Nasty first (seeded), then what the ceiling must copy from it: answers and the size of one firehose push. */
async function startServers(mode: Mode, only: Set<Step>): Promise<Servers> {
  const nasty = await startNasty(mode.seedBookmarks);
  let fanout: Servers["fanout"] = null;
  try {
    const json = await capture(nasty.base, "/api/bookmarks?limit=50", /json/);
    if ("missing" in json) throw new Error(`the feed cannot be read: ${json.missing}`);
    const html = await capture(nasty.base, "/", /text\/html/);
    let frameBytes: number | null = null;
    let firehoseMissing: string | null = null;
    if (only.has("fanout")) {
      fanout = { nasty: FanoutClient.start("nasty"), ceiling: FanoutClient.start("ceiling") };
      const probe = await fanout.nasty.probe(nastySide(nasty));
      if (probe.ok) frameBytes = probe.frameBytes;
      else firehoseMissing = probe.error;
    }
    const gets: Record<string, { body: string; contentType: string }> = { "/api/bookmarks": json };
    if (!("missing" in html)) gets["/"] = html;
    const ceiling = await startCeiling({ postAnswer: nasty.postAnswer, gets, wsPath: "/ws", topic: "bookmarks:firehose", frameBytes: frameBytes ?? 0, maxBackpressureBytes: 1024 * 1024 });
    const answers: Servers["answers"] = { "/api/bookmarks": { bytes: Buffer.byteLength(json.body), items: (JSON.parse(json.body) as { data: unknown[] }).data.length } };
    if (!("missing" in html)) answers["/"] = { bytes: Buffer.byteLength(html.body), items: html.body.split('<article class="card').length - 1 };
    return { answers, nasty, ceiling, fanout, frameBytes, firehoseMissing, html: !("missing" in html), htmlMissing: "missing" in html ? html.missing : null };
  } catch (error) {
    await Promise.all([fanout?.nasty.stop(), fanout?.ceiling.stop()]);
    await nasty.stop();
    throw error;
  }
}

/** Each load step in turn; a step that throws becomes a failed figure and the next one still runs. */
async function loadFigures(options: Options, mode: Mode, servers: Servers, errors: string[], say: (label: string) => void): Promise<Figure[]> {
  const plan: LoadPlan = { client: options.client, ...mode.load };
  const sides = { nasty: { base: servers.nasty.base, token: servers.nasty.token, pid: servers.nasty.child.process.pid! }, ceiling: { base: servers.ceiling.base, pid: servers.ceiling.child.process.pid! } };
  const half = { kind: "ratio-min", value: 0.5 } as const;
  const figures: Figure[] = [];
  const step = async (id: string, name: string, work: () => Promise<Figure[]>) => figures.push(...(await attempt(errors, id, name, work)));
  if (options.only.has("create")) {
    const name = "durable bookmark creation, POST /api/bookmarks";
    await step("create", name, async () => [await loadFigure(plan, { id: "create", name, method: "POST", pathAndQuery: "/api/bookmarks", connections: mode.postConnections, target: half, ...sides }, say)]);
  }
  if (options.only.has("cpu")) {
    const cpuPlan = { client: options.client, seconds: mode.load.seconds, warmupSeconds: mode.load.warmupSeconds, connections: mode.postConnections, seedBookmarks: mode.seedBookmarks };
    await step("create-cpu", "server CPU per durable create", async () => [await createCpuFigure(cpuPlan, sides, say)]);
  }
  if (options.only.has("feed")) {
    const name = "feed GET /api/bookmarks?limit=50 (JSON)";
    await step("feed-json", name, async () => [await loadFigure(plan, { id: "feed-json", name, method: "GET", pathAndQuery: "/api/bookmarks?limit=50", connections: mode.getConnections, target: half, answer: servers.answers["/api/bookmarks"], ...sides }, say)]);
  }
  if (options.only.has("html")) {
    const name = "feed page GET / (HTML, 50 items)";
    if (servers.html) {
      await step("feed-html", name, async () => [await loadFigure(plan, { id: "feed-html", name, method: "GET", pathAndQuery: "/", connections: mode.getConnections, target: half, answer: servers.answers["/"], ...sides }, say)]);
      // Reference only: what answering the page as a JS string (transcoded on every request) costs the bare server itself.
      const asString = { base: servers.ceiling.base + STRING_PREFIX, token: "", pid: sides.ceiling.pid };
      const reference = "reference: bare uWS answering the same page as a JS string";
      await step("feed-html-string", reference, async () => [await loadFigure(plan, { id: "feed-html-string", name: reference, method: "GET", pathAndQuery: "/", connections: mode.getConnections, target: null, answer: servers.answers["/"], nasty: asString, ceiling: sides.ceiling }, say)]);
    } else figures.push(skipped("feed-html", name, "req/s", half, `no HTML feed page yet (${servers.htmlMissing})`));
  }
  if (options.only.has("fanout") && servers.fanout) {
    const fanout = servers.fanout;
    const frameBytes = servers.frameBytes;
    if (frameBytes === null) {
      const reason = `no firehose at /ws yet (${servers.firehoseMissing})`;
      figures.push(...mode.fanout.sizes.map((size) => skipped(`fanout-${size}`, `firehose fan-out, ${size.toLocaleString("en")} subscribers`, "events/s", FANOUT_TARGET, reason)));
      figures.push(skipped("latency-p50", "201 → receipt p50", "ms", null, reason), skipped("latency-p99", "201 → receipt p99", "ms", null, reason));
    } else {
      const ceilingChild = servers.ceiling.child;
      const ceiling: Side = { name: "ceiling", port: servers.ceiling.port, token: "", pid: ceilingChild.process.pid!, death: () => ceilingChild.death() };
      const sides = { nasty: { side: nastySide(servers.nasty), client: fanout.nasty }, ceiling: { side: ceiling, client: fanout.ceiling } };
      await step("fanout", "firehose fan-out", () => fanoutFigures(mode.fanout, sides, frameBytes, say));
    }
  }
  if (options.only.has("resume")) {
    const resumeSides = { nasty: { port: servers.nasty.port, pid: servers.nasty.child.process.pid!, token: servers.nasty.token }, ceiling: { port: servers.ceiling.port, pid: servers.ceiling.child.process.pid! } };
    await step("resume-storm", "resume storm", () => resumeFigures(mode.resume, resumeSides, say));
  }
  return figures;
}

/** Runs a step; a step that throws becomes a failed figure and the run goes on. */
async function attempt(errors: string[], id: string, name: string, work: () => Promise<Figure[]>): Promise<Figure[]> {
  try {
    return await work();
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    errors.push(`${name}: ${message}`);
    return [{ ...skipped(id, name, "", null, `failed: ${message.split("\n")[0]}`), pass: false }];
  }
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  const mode = MODES[options.mode];
  const started = new Date();
  const serverSteps = (["create", "cpu", "feed", "html", "fanout", "resume"] as const).filter((step) => options.only.has(step));
  const progress = new Progress();
  const say = (label: string) => progress.start(label);
  const errors: string[] = [];
  const figures: Figure[] = [];
  let micro: BenchResults["micro"] = [];
  let uwsNative: boolean | null = null;

  if (options.only.has("micro")) {
    say("micro-benchmarks (tinybench)");
    micro = await runMicro(mode.microTimeMs).catch((error: Error) => {
      errors.push(`micro-benchmarks: ${error.message}`);
      return [];
    });
  }
  if (options.only.has("replay")) {
    say(`replay and memory: writing and replaying ${mode.replayEvents.toLocaleString("en")} events`);
    figures.push(...(await attempt(errors, "replay", "replay and memory", () => replayFigures(mode.replayEvents))));
  }
  if (options.only.has("search")) {
    say("search queries (bench/search.ts)");
    figures.push(...(await attempt(errors, "search", "search queries", () => searchFigures(mode.searchQuick))));
  }
  if (options.only.has("capacity")) {
    figures.push(...(await attempt(errors, "capacity", "capacity", () => capacityFigures({ ...mode.capacity, ...(options.capacitySizes ? { sizes: options.capacitySizes } : {}), client: options.client }, say))));
  }
  if (options.only.has("cluster")) {
    say("cluster: three nodes on one Postgres (bench/cluster.ts)");
    figures.push(...(await attempt(errors, "cluster", "cluster", () => clusterFigures(mode.cluster, say))));
  }
  if (serverSteps.length > 0) {
    say("starting Nasty (seeded), the fan-out client and the bare-uWS ceiling");
    figures.push(
      ...(await attempt(errors, "servers", "load benches", async () => {
        const servers = await startServers(mode, options.only);
        uwsNative = servers.nasty.uwsNative;
        try {
          return await loadFigures(options, mode, servers, errors, say);
        } finally {
          await Promise.all([servers.fanout?.nasty.stop(), servers.fanout?.ceiling.stop(), servers.ceiling.stop(), servers.nasty.stop()]);
        }
      })),
    );
  }
  progress.done();

  const finished = new Date();
  const cpus = os.cpus();
  const results: BenchResults = {
    version: 1,
    mode: options.mode,
    startedAt: started.toISOString(),
    finishedAt: finished.toISOString(),
    durationSeconds: (finished.getTime() - started.getTime()) / 1000,
    machine: { cpus: cpus.length, cpuModel: cpus[0]?.model ?? "unknown", node: process.version, platform: `${process.platform} ${os.release()}`, loadAverage: os.loadavg(), loadClient: options.client, uwsNative },
    micro,
    figures,
  };
  const file = writeResults(options.out, results);
  console.log(markdownTable(results));
  console.log(`\nresults: ${path.relative(process.cwd(), file)}, chart: ${path.relative(process.cwd(), path.join(options.out, "latest.svg"))} (${results.durationSeconds.toFixed(0)} s)`);
  if (errors.length > 0) {
    console.error(`\n${errors.length} step(s) failed:\n${errors.join("\n\n")}`);
    process.exitCode = 1;
  }
}

await main();
