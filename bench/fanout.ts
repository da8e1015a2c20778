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

export interface FanoutPlan {
  sizes: number[];
  warmupMs: number;
  durationMs: number;
  /** Events created but not yet delivered to every subscriber, at most. */
  windowEvents: number;
  connections: number;
  /** Rounds of ceiling-then-Nasty; each figure takes the median round. */
  rounds: number;
  latency: { subscribers: number; rate: number; warmupMs: number; durationMs: number; probes: number; connections: number };
}

interface Side {
  name: "nasty" | "ceiling";
  port: number;
  token: string;
  /** The server process, for the CPU it spends per event. */
  pid: number;
}

/** A throughput run and the server CPU per created event (over the whole run, warm-up and drain included). */
export interface MeasuredThroughput extends ThroughputAnswer {
  serverCpuMicrosPerEvent: number | null;
}

interface SideResult {
  /** Every round's run by size. */
  throughput: Map<number, (MeasuredThroughput | Error)[]>;
  latency: LatencyAnswer | Error | null;
}

function record(result: SideResult, size: number, run: MeasuredThroughput | Error): void {
  const runs = result.throughput.get(size) ?? [];
  runs.push(run);
  result.throughput.set(size, runs);
}

/** The median round by events/s, or the first failure. */
function medianRun(runs: (MeasuredThroughput | Error)[]): MeasuredThroughput | Error {
  const failed = runs.find((run) => run instanceof Error);
  if (failed) return failed;
  const sorted = [...(runs as MeasuredThroughput[])].sort((a, b) => a.eventsPerSecond - b.eventsPerSecond);
  return sorted[(sorted.length - 1) >> 1]!;
}

/** The client process: subscribers and the HTTP driver, apart from the servers. */
export class FanoutClient {
  private run = 0;

  private constructor(private readonly child: Child) {}

  static async start(): Promise<FanoutClient> {
    return new FanoutClient(new Child("bench/fanout-client.ts", [], { label: "fan-out client", ipc: true, raiseOpenFiles: true }));
  }

  nextRun(): number {
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

  stop(): Promise<void> {
    return this.child.stop();
  }

  /** One round on one side: every size connected in turn, measured, disconnected; latency when `result.latency` is still unset. */
  private async measureSide(plan: FanoutPlan, side: Side, result: SideResult, say: (label: string) => void): Promise<void> {
    const withLatency = result.latency === null;
    const sizes = [...new Set([...plan.sizes, ...(withLatency ? [plan.latency.subscribers] : [])])].sort((a, b) => a - b);
    for (const size of sizes) {
      say(`fan-out to ${size.toLocaleString("en")} subscribers: ${side.name}, connecting`);
      try {
        await this.ask<ConnectAnswer>({ op: "connect", port: side.port, path: FIREHOSE_PATH, count: size, probes: Math.min(size, plan.latency.probes) }, size * CONNECT_MS_PER_SUBSCRIBER + ANSWER_SLACK_MS);
      } catch (error) {
        if (plan.sizes.includes(size)) record(result, size, error as Error);
        if (withLatency && size === plan.latency.subscribers) result.latency = error as Error;
        continue;
      }
      try {
        if (plan.sizes.includes(size)) {
          say(`fan-out to ${size.toLocaleString("en")} subscribers: ${side.name}, measuring`);
          const request: FanoutRequest = { op: "throughput", post: { port: side.port, token: side.token, run: this.nextRun() }, warmupMs: plan.warmupMs, durationMs: plan.durationMs, windowEvents: plan.windowEvents, connections: plan.connections };
          const cpuBefore = cpuSeconds(side.pid);
          const answer = await this.ask<ThroughputAnswer>(request, plan.warmupMs + plan.durationMs + ANSWER_SLACK_MS).catch((error: Error) => error);
          const cpuAfter = cpuSeconds(side.pid);
          const serverCpuMicrosPerEvent = !(answer instanceof Error) && cpuBefore !== null && cpuAfter !== null && answer.accepted > 0 ? ((cpuAfter - cpuBefore) * 1e6) / answer.accepted : null;
          record(result, size, answer instanceof Error ? answer : { ...answer, serverCpuMicrosPerEvent });
        }
        if (withLatency && size === plan.latency.subscribers) {
          const { rate, warmupMs, durationMs, connections } = plan.latency;
          say(`latency at ${size.toLocaleString("en")} subscribers, ${rate.toLocaleString("en")} creates/s: ${side.name}`);
          result.latency = await this.ask<LatencyAnswer>({ op: "latency", post: { port: side.port, token: side.token, run: this.nextRun() }, rate, warmupMs, durationMs, connections }, warmupMs + durationMs + ANSWER_SLACK_MS).catch((error: Error) => error);
        }
      } finally {
        await this.ask({ op: "disconnect" }, ANSWER_SLACK_MS);
      }
    }
  }

  /** Every fan-out and latency figure; sizes the client's open-files limit cannot hold are skipped with the reason. */
  async figures(plan: FanoutPlan, nasty: Side, ceiling: Side, frameBytes: number, say: (label: string) => void): Promise<Figure[]> {
    const { openFilesLimit } = await this.ask<LimitsAnswer>({ op: "limits" }, ANSWER_SLACK_MS);
    const fits = (size: number) => openFilesLimit === null || size + OPEN_FILES_SPARE <= openFilesLimit;
    const runnable: FanoutPlan = { ...plan, sizes: plan.sizes.filter(fits) };
    const sides: Record<"ceiling" | "nasty", SideResult> = { ceiling: { throughput: new Map(), latency: null }, nasty: { throughput: new Map(), latency: null } };
    for (let round = 1; round <= plan.rounds; round += 1) {
      const sayRound = (label: string) => say(plan.rounds > 1 ? `${label} (round ${round}/${plan.rounds})` : label);
      await this.measureSide(runnable, ceiling, sides.ceiling, sayRound);
      await this.measureSide(runnable, nasty, sides.nasty, sayRound);
    }
    const figures = plan.sizes.map((size) => {
      const id = `fanout-${size}`;
      const name = `firehose fan-out, ${size.toLocaleString("en")} subscribers`;
      if (!fits(size)) return skipped(id, name, "events/s", FANOUT_TARGET, `the client may open ${openFilesLimit} files (ulimit -n), ${size + OPEN_FILES_SPARE} needed`);
      return throughputFigure(id, name, medianRun(sides.nasty.throughput.get(size)!), medianRun(sides.ceiling.throughput.get(size)!), frameBytes, plan.rounds);
    });
    return [...figures, ...latencyFigures(plan, sides.nasty.latency, sides.ceiling.latency)];
  }
}

function throughputFigure(id: string, name: string, nasty: MeasuredThroughput | Error, ceiling: MeasuredThroughput | Error, frameBytes: number, rounds: number): Figure {
  if (nasty instanceof Error || ceiling instanceof Error) {
    const failed = [nasty instanceof Error ? `nasty: ${nasty.message}` : null, ceiling instanceof Error ? `ceiling: ${ceiling.message}` : null].filter(Boolean).join("; ");
    return { ...skipped(id, name, "events/s", FANOUT_TARGET, `failed: ${failed}`), pass: false };
  }
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
