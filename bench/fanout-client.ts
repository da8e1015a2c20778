// The fan-out bench's client process: thousands of firehose subscribers plus the HTTP driver that creates events.
// Runs apart from the servers it measures; the parent sends FanoutRequest messages over IPC and gets one answer each.
import fs from "node:fs";
import http from "node:http";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { bookmarkRequestBody, corpus } from "./corpus.ts";
import { percentile } from "./http-load.ts";
import { connectSubscriber, type Subscriber } from "./ws-client.ts";

export interface PostTarget {
  port: number;
  token: string;
  /** Distinguishes this run's URLs and markers from every other run's. */
  run: number;
}

export type FanoutRequest =
  | { op: "probe"; port: number; path: string; post: PostTarget }
  | { op: "connect"; port: number; path: string; count: number; probes: number }
  | { op: "throughput"; post: PostTarget; warmupMs: number; durationMs: number; windowEvents: number; connections: number }
  | { op: "latency"; post: PostTarget; rate: number; warmupMs: number; durationMs: number; connections: number }
  | { op: "limits" }
  | { op: "disconnect" };

export type ProbeAnswer = { ok: true; frameBytes: number; sample: string } | { ok: false; error: string };
export interface LimitsAnswer { openFilesLimit: number | null }
export interface ConnectAnswer { connected: number; ms: number; openFilesLimit: number | null }
export interface ThroughputAnswer {
  subscribers: number;
  accepted: number;
  /** Events that reached every subscriber in the measured window. */
  events: number;
  seconds: number;
  /** Pushes received in the window per subscriber per second. */
  eventsPerSecond: number;
  deliveriesPerSecond: number;
  dropped: number;
  errors: number;
  stalled: boolean;
}
export interface LatencyAnswer { subscribers: number; probes: number; rateAchieved: number; samples: number; createToReceiptP50Ms: number | null; createToReceiptP99Ms: number | null; ackToReceiptP50Ms: number | null; ackToReceiptP99Ms: number | null; receivedBeforeAck: number; missing: number; behind: number; errors: number }
export type FanoutAnswer = ProbeAnswer | LimitsAnswer | ConnectAnswer | ThroughputAnswer | LatencyAnswer | { ok: true } | { error: string };

const RING_EVENTS = 1 << 16;
const RING_MASK = RING_EVENTS - 1;
const CONNECTS_IN_FLIGHT_MAX = 200;
const HANDSHAKE_TIMEOUT_MS = 20_000;
const STALL_MS = 8_000;
/** How long a run waits for what it created to reach every subscriber before it reports. */
const DRAIN_MS_MAX = 5_000;
const LATENCY_OUTSTANDING_MAX = 2_000;
const OP_PREFIX = Buffer.from('{"op"');

/** A push is any data frame but the protocol's own answers ({"op":"ok"} and the like). */
function isPush(data: Buffer, start: number, end: number): boolean {
  return !(end - start >= OP_PREFIX.length && data.compare(OP_PREFIX, 0, OP_PREFIX.length, start, start + OP_PREFIX.length) === 0);
}

export function openFilesLimit(): number | null {
  try {
    const limits = fs.readFileSync("/proc/self/limits", "utf8");
    const match = /Max open files\s+(\d+)/.exec(limits);
    return match ? Number(match[1]) : null;
  } catch {
    return null;
  }
}

/**
 * Counts deliveries without decoding them. Every subscriber gets the firehose in publish order,
 * so a subscriber's k-th push is event k; `reached[k]` counts subscribers that got event k, and
 * event k is delivered once every live subscriber has it. A subscriber that is cut off stops
 * counting against later events.
 */
class Deliveries {
  live = 0;
  completed = 0;
  /** Pushes received by any subscriber: progress even while no event has reached everyone yet. */
  pushes = 0;
  private readonly reached = new Uint32Array(RING_EVENTS);
  private waiters: (() => void)[] = [];

  reset(live: number): void {
    this.live = live;
    this.completed = 0;
    this.reached.fill(0);
  }

  push(subscriber: Subscriber): void {
    this.pushes += 1;
    subscriber.count += 1;
    if (subscriber.count - this.completed >= RING_EVENTS) throw new Error("a subscriber ran a whole ring ahead of the slowest");
    const slot = subscriber.count & RING_MASK;
    this.reached[slot]! += 1;
    if (this.reached[slot]! >= this.live) this.advance();
  }

  drop(subscriber: Subscriber): void {
    this.live -= 1;
    for (let event = this.completed + 1; event <= subscriber.count; event += 1) this.reached[event & RING_MASK]! -= 1;
    this.advance();
  }

  private advance(): void {
    const before = this.completed;
    while (this.live > 0 && this.reached[(this.completed + 1) & RING_MASK]! >= this.live) {
      this.completed += 1;
      this.reached[this.completed & RING_MASK] = 0;
    }
    if (this.completed !== before) for (const wake of this.waiters.splice(0)) wake();
  }

  /** Resolves at the next delivery, or after `ms` anyway. */
  next(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.waiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }
}

let subscribers: Subscriber[] = [];
const deliveries = new Deliveries();
/** Marker in titles: `lm<run>x<event>` lets probe subscribers tell which event a push carries. */
let receipt: ((event: number, at: number) => void) | null = null;
let markerRun = -1;

function onFrame(subscriber: Subscriber, data: Buffer, start: number, end: number): void {
  if (!isPush(data, start, end)) return;
  deliveries.push(subscriber);
  if (subscriber.probe && receipt) {
    const marker = `lm${markerRun}x`;
    const at = data.indexOf(marker, start, "latin1");
    if (at < 0 || at >= end) return;
    let event = 0;
    for (let index = at + marker.length; index < end; index += 1) {
      const digit = data[index]! - 48;
      if (digit < 0 || digit > 9) break;
      event = event * 10 + digit;
    }
    receipt(event, performance.now());
  }
}

function onClose(subscriber: Subscriber): void {
  deliveries.drop(subscriber);
}

function postOnce(agent: http.Agent, target: PostTarget, body: string): Promise<number> {
  return new Promise((resolve) => {
    const headers: Record<string, string> = { "content-type": "application/json", "content-length": String(Buffer.byteLength(body)) };
    if (target.token) headers.authorization = `Bearer ${target.token}`;
    const request = http.request({ agent, host: "127.0.0.1", port: target.port, path: "/api/bookmarks", method: "POST", headers }, (response) => {
      response.resume();
      response.on("end", () => resolve(response.statusCode ?? 0));
    });
    request.on("error", () => resolve(0));
    request.end(body);
  });
}

function eventBody(target: PostTarget, event: number): string {
  const fields = corpus(target.run * 1_000_003 + event)(target.run * 10_000_000 + event);
  return bookmarkRequestBody(fields, `lm${target.run}x${event}`);
}

async function probe(request: Extract<FanoutRequest, { op: "probe" }>): Promise<ProbeAnswer> {
  let got: ((frame: string) => void) | null = null;
  const frame = new Promise<string>((resolve) => (got = resolve));
  let subscriber: Subscriber;
  try {
    subscriber = await connectSubscriber({
      port: request.port,
      path: request.path,
      onFrame: (_, data, start, end) => {
        if (isPush(data, start, end)) got?.(data.toString("utf8", start, end));
      },
      onClose: () => {},
      timeoutMs: HANDSHAKE_TIMEOUT_MS,
    });
  } catch (error) {
    return { ok: false, error: (error as Error).message };
  }
  const agent = new http.Agent({ keepAlive: false });
  const status = await postOnce(agent, request.post, eventBody(request.post, 1));
  if (status !== 201) {
    subscriber.close();
    return { ok: false, error: `the probe POST answered ${status}` };
  }
  const text = await Promise.race([frame, new Promise<null>((resolve) => setTimeout(() => resolve(null), 5000))]);
  subscriber.close();
  if (text === null) return { ok: false, error: "a subscriber got no push within 5 s of a created bookmark" };
  return { ok: true, frameBytes: Buffer.byteLength(text), sample: text.slice(0, 300) };
}

async function connect(request: Extract<FanoutRequest, { op: "connect" }>): Promise<ConnectAnswer> {
  const started = performance.now();
  const opened: Subscriber[] = [];
  let next = 0;
  const worker = async () => {
    while (next < request.count) {
      const index = next++;
      opened.push(await connectSubscriber({ port: request.port, path: request.path, probe: index < request.probes, onFrame, onClose, timeoutMs: HANDSHAKE_TIMEOUT_MS }));
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.min(CONNECTS_IN_FLIGHT_MAX, request.count) }, worker));
  } catch (error) {
    for (const subscriber of opened) subscriber.close();
    throw error;
  }
  subscribers = opened;
  deliveries.reset(opened.length);
  return { connected: opened.length, ms: performance.now() - started, openFilesLimit: openFilesLimit() };
}

/**
 * Closed loop: `connections` keep-alive POST loops, never more than `windowEvents` created but not
 * yet delivered to every subscriber (so nobody is pushed past its backpressure bound). Counts
 * events delivered to all subscribers per second after the warm-up.
 */
async function throughput(request: Extract<FanoutRequest, { op: "throughput" }>): Promise<ThroughputAnswer> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: request.connections });
  const startLive = deliveries.live;
  const base = deliveries.completed;
  let accepted = 0;
  let sent = 0;
  let errors = 0;
  let stopped = false;
  let stalled = false;
  let progressAt = performance.now();
  let progressPushes = deliveries.pushes;
  const loop = async () => {
    while (!stopped) {
      if (base + accepted - deliveries.completed >= request.windowEvents) {
        await deliveries.next(100);
        if (deliveries.pushes !== progressPushes) {
          progressPushes = deliveries.pushes;
          progressAt = performance.now();
        } else if (performance.now() - progressAt > STALL_MS) {
          stalled = stopped = true;
        }
        continue;
      }
      sent += 1;
      accepted += 1;
      const status = await postOnce(agent, request.post, eventBody(request.post, sent));
      if (status !== 201) {
        accepted -= 1;
        errors += 1;
      }
    }
  };
  const loops = Promise.all(Array.from({ length: request.connections }, loop));
  await sleep(request.warmupMs);
  const startedAt = performance.now();
  const startedCompleted = deliveries.completed;
  const startedPushes = deliveries.pushes;
  await sleep(request.durationMs);
  const seconds = (performance.now() - startedAt) / 1000;
  const events = deliveries.completed - startedCompleted;
  const pushes = deliveries.pushes - startedPushes;
  stopped = true;
  await loops;
  await drain(base + accepted);
  agent.destroy();
  // Pushes over subscribers: smoother than whole-event completions, which come in bursts of a window.
  return { subscribers: startLive, accepted, events, seconds, eventsPerSecond: pushes / startLive / seconds, deliveriesPerSecond: pushes / seconds, dropped: startLive - deliveries.live, errors, stalled };
}

async function drain(until: number): Promise<void> {
  const deadline = performance.now() + DRAIN_MS_MAX;
  while (deliveries.completed < until && deliveries.live > 0 && performance.now() < deadline) await deliveries.next(100);
}

/** Open loop at `rate` creates/s; probe subscribers time each push against its POST and its 201. */
async function latency(request: Extract<FanoutRequest, { op: "latency" }>): Promise<LatencyAnswer> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: request.connections });
  const total = Math.ceil((request.rate * (request.warmupMs + request.durationMs)) / 1000);
  const measuredFrom = Math.floor((request.rate * request.warmupMs) / 1000);
  const sentAt = new Float64Array(total + 1).fill(NaN);
  const ackAt = new Float64Array(total + 1).fill(NaN);
  const receipts: number[] = [];
  const base = deliveries.completed;
  markerRun = request.post.run;
  receipt = (event, at) => {
    if (event > measuredFrom && event <= total) receipts.push(event, at);
  };
  let sent = 0;
  let outstanding = 0;
  let accepted = 0;
  let behind = 0;
  let errors = 0;
  const started = performance.now();
  await new Promise<void>((finish) => {
    const tick = setInterval(() => {
      const due = Math.min(total, Math.floor(((performance.now() - started) * request.rate) / 1000));
      while (sent < due) {
        sent += 1;
        if (outstanding >= LATENCY_OUTSTANDING_MAX) {
          behind += 1;
          continue;
        }
        const event = sent;
        outstanding += 1;
        sentAt[event] = performance.now();
        void postOnce(agent, request.post, eventBody(request.post, event)).then((status) => {
          outstanding -= 1;
          if (status === 201) {
            ackAt[event] = performance.now();
            accepted += 1;
          } else errors += 1;
        });
      }
      if (sent >= total) {
        clearInterval(tick);
        finish();
      }
    }, 1);
  });
  const deadline = performance.now() + DRAIN_MS_MAX;
  while (outstanding > 0 && performance.now() < deadline) await sleep(10);
  await drain(base + accepted);
  receipt = null;
  agent.destroy();
  const createToReceipt: number[] = [];
  const ackToReceipt: number[] = [];
  let receivedBeforeAck = 0;
  for (let index = 0; index < receipts.length; index += 2) {
    const event = receipts[index]!;
    const at = receipts[index + 1]!;
    createToReceipt.push(at - sentAt[event]!);
    const delta = at - ackAt[event]!;
    if (Number.isNaN(delta)) continue;
    ackToReceipt.push(delta);
    if (delta < 0) receivedBeforeAck += 1;
  }
  createToReceipt.sort((a, b) => a - b);
  ackToReceipt.sort((a, b) => a - b);
  let measuredAccepted = 0;
  for (let event = measuredFrom + 1; event <= total; event += 1) if (!Number.isNaN(ackAt[event]!)) measuredAccepted += 1;
  const probes = subscribers.filter((subscriber) => subscriber.probe && !subscriber.closed).length;
  return {
    subscribers: deliveries.live,
    probes,
    rateAchieved: accepted / ((performance.now() - started) / 1000),
    samples: createToReceipt.length,
    createToReceiptP50Ms: percentile(createToReceipt, 0.5),
    createToReceiptP99Ms: percentile(createToReceipt, 0.99),
    ackToReceiptP50Ms: percentile(ackToReceipt, 0.5),
    ackToReceiptP99Ms: percentile(ackToReceipt, 0.99),
    receivedBeforeAck,
    /** Pushes of acknowledged events that probes had not received when the run ended. */
    missing: Math.max(0, measuredAccepted * probes - createToReceipt.length),
    behind,
    errors,
  };
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function answer(request: FanoutRequest): Promise<FanoutAnswer> {
  switch (request.op) {
    case "probe": return probe(request);
    case "limits": return { openFilesLimit: openFilesLimit() };
    case "connect": return connect(request);
    case "throughput": return throughput(request);
    case "latency": return latency(request);
    case "disconnect": {
      for (const subscriber of subscribers) subscriber.close();
      subscribers = [];
      deliveries.reset(0);
      return { ok: true };
    }
  }
}

if (process.send && process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  process.on("message", (request: FanoutRequest) => {
    answer(request).then(
      (reply) => process.send!(reply),
      (error: Error) => process.send!({ error: error.message }),
    );
  });
  process.once("disconnect", () => process.exit(0));
}
