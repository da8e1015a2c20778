// Fan-out figures: events/s delivered to N firehose subscribers, and 201-to-receipt latency, Nasty vs bare-uWS publish.
import { Child, cpuSeconds } from "./children.ts";
import type { ConnectAnswer, FanoutAnswer, FanoutRequest, LatencyAnswer, LimitsAnswer, ProbeAnswer, ThroughputAnswer } from "./fanout-client.ts";
import { judge, skipped, type Figure } from "./report.ts";

export const FIREHOSE_PATH = "/ws?topics=bookmarks:firehose";
export const FANOUT_TARGET = { kind: "ratio-min", value: 0.8 } as const;
/** Open files the client needs beyond its subscribers (stdio, IPC, HTTP driver connections). */
const OPEN_FILES_SPARE = 200;
const CONNECT_MS_PER_SUBSCRIBER = 20;
const ANSWER_SLACK_MS = 60_000;
const DRAIN_NOTE = "the run's drain";
const WINDOW_EVENTS_MIN = 2;
const WINDOW_EVENTS_MAX = 64;

export interface FanoutPlan {
  sizes: number[];
  warmupMs: number;
  durationMs: number;
  /**
   * Pushes created but not yet received, at most, across all subscribers: the window of events
   * in flight is this over the subscriber count (2 to 64), so 10,000 subscribers are not sent a
   * burst the client takes seconds to read, and 1,000 get enough to keep the server busy.
   */
  windowPushes: number;
  /** POST connections, at most; never more than the window of events. */
  connections: number;
  /** Alternating runs of ceiling then Nasty; each side's figure is its median run. */
  rounds: number;
  latency: { subscribers: number; rate: number; warmupMs: number; durationMs: number; probes: number; connections: number };
}

export interface Side {
  name: "nasty" | "ceiling";
  port: number;
  token: string;
  /** The server process, for the CPU it spends per event. */
  pid: number;
  /** Null while the server runs; how it died otherwise (for the error of a run that failed). */
  death: () => string | null;
}

/** A throughput run and the server CPU per created event (over the whole run, warm-up and drain included). */
export interface MeasuredThroughput extends ThroughputAnswer {
  serverCpuMicrosPerEvent: number | null;
}

/** The median run by events/s, or the first failure. */
function medianRun(runs: (MeasuredThroughput | Error)[]): MeasuredThroughput | Error {
  const failed = runs.find((run) => run instanceof Error);
  if (failed) return failed;
  const sorted = [...(runs as MeasuredThroughput[])].sort((a, b) => a.eventsPerSecond - b.eventsPerSecond);
  return sorted[(sorted.length - 1) >> 1]!;
}

/** A client process: subscribers and the HTTP driver of one server, apart from the servers. */
export class FanoutClient {
  private run = 0;

  private constructor(private readonly child: Child) {}

  static start(side: Side["name"]): FanoutClient {
    return new FanoutClient(new Child("bench/fanout-client.ts", [], { label: `fan-out client of ${side}`, ipc: true, raiseOpenFiles: true }));
  }

  private nextRun(): number {
    this.run += 1;
    return this.run;
  }

  async ask<T extends FanoutAnswer>(request: FanoutRequest, timeoutMs: number): Promise<T> {
    const answer = await this.child.request<FanoutAnswer>(request, timeoutMs);
    if ("error" in answer && typeof answer.error === "string" && !("ok" in answer)) throw new Error(`fan-out client: ${answer.error}`);
    return answer as T;
  }

  /** One subscriber, one created bookmark: is there a firehose, and how big is one push? */
  probe(side: Side): Promise<ProbeAnswer> {
    return this.ask<ProbeAnswer>({ op: "probe", port: side.port, path: FIREHOSE_PATH, post: { port: side.port, token: side.token, run: this.nextRun() } }, ANSWER_SLACK_MS);
  }

  connect(side: Side, count: number, probes: number): Promise<ConnectAnswer> {
    return this.ask<ConnectAnswer>({ op: "connect", port: side.port, path: FIREHOSE_PATH, count, probes }, count * CONNECT_MS_PER_SUBSCRIBER + ANSWER_SLACK_MS);
  }

  async throughput(plan: FanoutPlan, side: Side, subscribers: number): Promise<MeasuredThroughput | Error> {
    const windowEvents = Math.max(WINDOW_EVENTS_MIN, Math.min(WINDOW_EVENTS_MAX, Math.floor(plan.windowPushes / subscribers)));
    const connections = Math.min(plan.connections, windowEvents);
    const request: FanoutRequest = { op: "throughput", post: { port: side.port, token: side.token, run: this.nextRun() }, warmupMs: plan.warmupMs, durationMs: plan.durationMs, windowEvents, connections };
    const cpuBefore = cpuSeconds(side.pid);
    const answer = await this.ask<ThroughputAnswer>(request, plan.warmupMs + plan.durationMs + ANSWER_SLACK_MS).catch((error: Error) => error);
    const cpuAfter = cpuSeconds(side.pid);
    if (answer instanceof Error) return answer;
    const serverCpuMicrosPerEvent = cpuBefore !== null && cpuAfter !== null && answer.accepted > 0 ? ((cpuAfter - cpuBefore) * 1e6) / answer.accepted : null;
    return { ...answer, serverCpuMicrosPerEvent };
  }

  latency(plan: FanoutPlan, side: Side): Promise<LatencyAnswer | Error> {
    const { rate, warmupMs, durationMs, connections } = plan.latency;
    const request: FanoutRequest = { op: "latency", post: { port: side.port, token: side.token, run: this.nextRun() }, rate, warmupMs, durationMs, connections };
    return this.ask<LatencyAnswer>(request, warmupMs + durationMs + ANSWER_SLACK_MS).catch((error: Error) => error);
  }

  async disconnect(): Promise<void> {
    await this.ask({ op: "disconnect" }, ANSWER_SLACK_MS);
  }

  async openFilesLimit(): Promise<number | null> {
    return (await this.ask<LimitsAnswer>({ op: "limits" }, ANSWER_SLACK_MS)).openFilesLimit;
  }

  stop(): Promise<void> {
    return this.child.stop();
  }
}

/** Both sides, each with its own client process, so both sets of subscribers stay connected at once. */
export interface FanoutSides {
  nasty: { side: Side; client: FanoutClient };
  ceiling: { side: Side; client: FanoutClient };
}

interface SizeResult {
  throughput: Record<Side["name"], (MeasuredThroughput | Error)[]>;
  latency: Record<Side["name"], LatencyAnswer | Error> | null;
}

/**
 * One subscriber count: both sides connected at once, then `rounds` alternating runs (ceiling,
 * Nasty, ceiling, …) so a change in the machine's load hits both, then latency if this is its size.
 */
async function measureSize(plan: FanoutPlan, sides: FanoutSides, size: number, say: (label: string) => void): Promise<SizeResult | Error> {
  const order = [sides.ceiling, sides.nasty];
  const where = `${size.toLocaleString("en")} subscribers`;
  say(`fan-out to ${where}: connecting to both`);
  const connected = await Promise.all(
    order.map(({ side, client }) => client.connect(side, size, Math.min(size, plan.latency.probes)).catch((error: Error) => new Error(`${side.name}: ${error.message}${side.death() ? ` (${side.death()})` : ""}`))),
  );
  try {
    const failed = connected.find((answer) => answer instanceof Error);
    if (failed instanceof Error) return failed;
    const result: SizeResult = { throughput: { nasty: [], ceiling: [] }, latency: null };
    if (plan.sizes.includes(size)) {
      for (let round = 1; round <= plan.rounds; round += 1) {
        for (const { side, client } of order) {
          say(`fan-out to ${where}: ${side.name}, round ${round}/${plan.rounds}`);
          result.throughput[side.name].push(await client.throughput(plan, side, size));
        }
      }
    }
    if (size === plan.latency.subscribers) {
      const latency: Partial<Record<Side["name"], LatencyAnswer | Error>> = {};
      for (const { side, client } of order) {
        say(`latency at ${where}, ${plan.latency.rate.toLocaleString("en")} creates/s: ${side.name}`);
        latency[side.name] = await client.latency(plan, side);
      }
      result.latency = latency as Record<Side["name"], LatencyAnswer | Error>;
    }
    return result;
  } finally {
    await Promise.all(order.map(({ client }) => client.disconnect()));
  }
}

/** Every fan-out and latency figure; sizes the clients' open-files limit cannot hold are skipped with the reason. */
export async function fanoutFigures(plan: FanoutPlan, sides: FanoutSides, frameBytes: number, say: (label: string) => void): Promise<Figure[]> {
  const openFilesLimit = await sides.nasty.client.openFilesLimit();
  const fits = (size: number) => openFilesLimit === null || size + OPEN_FILES_SPARE <= openFilesLimit;
  const sizes = [...new Set([...plan.sizes, plan.latency.subscribers])].filter(fits).sort((a, b) => a - b);
  const results = new Map<number, SizeResult | Error>();
  for (const size of sizes) results.set(size, await measureSize(plan, sides, size, say));
  const figures = plan.sizes.map((size) => {
    const id = `fanout-${size}`;
    const name = `firehose fan-out, ${size.toLocaleString("en")} subscribers`;
    if (!fits(size)) return skipped(id, name, "events/s", FANOUT_TARGET, `the client may open ${openFilesLimit} files (ulimit -n), ${size + OPEN_FILES_SPARE} needed`);
    const result = results.get(size)!;
    if (result instanceof Error) return { ...skipped(id, name, "events/s", FANOUT_TARGET, `failed: ${result.message}`), pass: false };
    return throughputFigure(id, name, medianRun(result.throughput.nasty), medianRun(result.throughput.ceiling), frameBytes, plan.rounds);
  });
  const latencyResult = results.get(plan.latency.subscribers);
  const latency = latencyResult instanceof Error ? { nasty: latencyResult, ceiling: latencyResult } : (latencyResult?.latency ?? null);
  return [...figures, ...latencyFigures(plan, latency?.nasty ?? null, latency?.ceiling ?? null)];
}

function throughputFigure(id: string, name: string, nasty: MeasuredThroughput | Error, ceiling: MeasuredThroughput | Error, frameBytes: number, rounds: number): Figure {
  if (nasty instanceof Error || ceiling instanceof Error) {
    const failed = [nasty instanceof Error ? `nasty: ${nasty.message}` : null, ceiling instanceof Error ? `ceiling: ${ceiling.message}` : null].filter(Boolean).join("; ");
    return { ...skipped(id, name, "events/s", FANOUT_TARGET, `failed: ${failed}`), pass: false };
  }
  if (ceiling.deliveriesPerSecond === 0) return { ...skipped(id, name, "events/s", FANOUT_TARGET, `failed: the ceiling delivered nothing in ${ceiling.seconds.toFixed(1)} s${ceiling.stalled ? " (stalled)" : ""}`), pass: false, details: { frameBytes, rounds, nasty, ceiling } };
  const cpu = nasty.serverCpuMicrosPerEvent !== null && ceiling.serverCpuMicrosPerEvent !== null ? `server CPU per event ${nasty.serverCpuMicrosPerEvent.toFixed(0)} µs vs ${ceiling.serverCpuMicrosPerEvent.toFixed(0)} µs bare` : null;
  const problems = [cpu, nasty.stalled ? "nasty stalled" : null, nasty.dropped > 0 ? `nasty dropped ${nasty.dropped} subscribers` : null, nasty.errors > 0 ? `${nasty.errors} nasty POSTs failed` : null].filter(Boolean);
  return judge({
    id,
    name,
    unit: "events/s",
    value: nasty.eventsPerSecond,
    ceiling: ceiling.eventsPerSecond,
    ceilingName: "bare uWS publish",
    ratio: ceiling.eventsPerSecond > 0 ? nasty.eventsPerSecond / ceiling.eventsPerSecond : null,
    target: FANOUT_TARGET,
    note: problems.length > 0 ? problems.join(", ") : null,
    details: { frameBytes, rounds, nasty, ceiling },
  });
}

function latencyFigures(plan: FanoutPlan, nasty: LatencyAnswer | Error | null, ceiling: LatencyAnswer | Error | null): Figure[] {
  const { subscribers, rate } = plan.latency;
  const where = `${subscribers.toLocaleString("en")} subscribers, ${rate.toLocaleString("en")} creates/s`;
  return (["P50", "P99"] as const).map((quantile) => {
    const id = `latency-${quantile.toLowerCase()}`;
    const name = `201 → receipt ${quantile.toLowerCase()}, ${where}`;
    if (!nasty || !ceiling || nasty instanceof Error || ceiling instanceof Error) {
      const reason = [nasty, ceiling].map((side) => (side instanceof Error ? side.message : null)).filter(Boolean).join("; ");
      return { ...skipped(id, name, "ms", null, `failed: ${reason || "not measured"}`), pass: nasty instanceof Error ? false : null };
    }
    const value = nasty[`ackToReceipt${quantile}Ms`];
    const ceilingValue = ceiling[`ackToReceipt${quantile}Ms`];
    return judge({
      id,
      name,
      unit: "ms",
      value,
      ceiling: ceilingValue,
      ceilingName: "bare uWS",
      ratio: value !== null && ceilingValue !== null && value > 0 && ceilingValue > 0 ? ceilingValue / value : null,
      target: null,
      note: `${nasty.rateAchieved.toFixed(0)} of ${rate.toLocaleString("en")} creates/s achieved (bare ${ceiling.rateAchieved.toFixed(0)}); create → receipt ${formatMs(nasty[`createToReceipt${quantile}Ms`])} (bare ${formatMs(ceiling[`createToReceipt${quantile}Ms`])}); ${nasty.receivedBeforeAck} of ${nasty.samples} receipts came before their 201${nasty.missing > 0 ? `; ${nasty.missing} pushes still missing after ${DRAIN_NOTE}` : ""}`,
      details: { nasty, ceiling },
    });
  });
}

function formatMs(value: number | null): string {
  return value === null ? "—" : `${value.toFixed(2)} ms`;
}
