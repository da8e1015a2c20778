// The resume storm's client, a child process: N subscribers drop, E events are committed, all reconnect with ?since= at once; then the ceiling delivers the same bytes.
import fs from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { bookmarkRequestBody, corpus } from "./corpus.ts";
import { connectSubscriber, type Subscriber } from "./ws-client.ts";
import { cpuSeconds } from "./children.ts";

/** CPU milliseconds `pid` spent while `work` ran; null off Linux. */
async function cpuMsOf<T>(pid: number, work: () => Promise<T>): Promise<{ result: T; cpuMs: number | null }> {
  const before = cpuSeconds(pid);
  const result = await work();
  const after = cpuSeconds(pid);
  return { result, cpuMs: before === null || after === null ? null : (after - before) * 1000 };
}

export interface ResumeRequest {
  nastyPort: number;
  nastyPid: number;
  token: string;
  ceilingPort: number;
  ceilingPid: number;
  subscribers: number;
  events: number;
  timeoutMs: number;
}

export interface ResumeAnswer {
  nastyMs: number;
  ceilingMs: number;
  /** CPU (user + system, every thread) each server spent from the reconnects until all caught up; null off Linux. */
  nastyCpuMs: number | null;
  ceilingCpuMs: number | null;
  /** Server RSS before the storm, and its peak while the storm was caught up. */
  baselineRssBytes: number;
  peakRssBytes: number;
  /** Bytes of pushes one subscriber was replayed (the same for each; the ceiling sends as many). */
  bytesPerSubscriber: number;
  resyncs: number;
}

const CONNECTS_AT_ONCE = 1000;
const POSTS_AT_ONCE = 25;
const RSS_SAMPLE_MS = 20;
const FIREHOSE = "bookmarks:firehose";

function rssBytes(pid: number): number {
  const match = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, "utf8"));
  return match ? Number(match[1]) * 1024 : 0;
}

/** Opens `count` subscribers at `path`, CONNECTS_AT_ONCE handshakes in flight at a time. */
async function openAll(port: number, path: string, count: number, onFrame: (subscriber: Subscriber, data: Buffer, start: number, end: number) => void, timeoutMs: number): Promise<Subscriber[]> {
  const opened: Subscriber[] = [];
  for (let start = 0; start < count; start += CONNECTS_AT_ONCE) {
    const batch = Array.from({ length: Math.min(CONNECTS_AT_ONCE, count - start) }, () => connectSubscriber({ port, path, onFrame, onClose: () => {}, timeoutMs }));
    opened.push(...(await Promise.all(batch)));
  }
  return opened;
}

/** Resolves when `done()` holds, checking every few milliseconds; rejects after `timeoutMs` naming `what`. */
function until(done: () => boolean, what: () => string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const check = () => {
      if (done()) resolve();
      else if (Date.now() > deadline) reject(new Error(`timed out: ${what()}`));
      else setTimeout(check, 2);
    };
    check();
  });
}

async function post(port: number, token: string, body: string): Promise<void> {
  const response = await fetch(`http://127.0.0.1:${port}/api/bookmarks`, { method: "POST", headers: { "content-type": "application/json", authorization: `Bearer ${token}` }, body });
  if (response.status !== 201) throw new Error(`POST /api/bookmarks answered ${response.status}: ${(await response.text()).slice(0, 200)}`);
}

/**
 * Subscribers that count pushes (frames starting `{"topic"`) and resyncs (`{"op":"resync"`) and their
 * bytes, and how many have had all `events` pushes (counted as they arrive: the check that waits for
 * the storm's end must not compete with the servers for the CPU by walking every subscriber).
 */
function counter(events: number) {
  const pushes = new Map<Subscriber, number>();
  let bytes = 0;
  let resyncs = 0;
  let caughtUp = 0;
  const onFrame = (subscriber: Subscriber, data: Buffer, start: number, end: number) => {
    if (data[start + 2] === 0x74) {
      const count = (pushes.get(subscriber) ?? 0) + 1;
      pushes.set(subscriber, count);
      if (count === events) caughtUp += 1;
      bytes += end - start;
    } else if (data.toString("latin1", start, Math.min(end, start + 16)) === '{"op":"resync","') resyncs += 1;
  };
  return { onFrame, bytes: () => bytes, resyncs: () => resyncs, caughtUp: () => caughtUp };
}

async function storm(request: ResumeRequest): Promise<ResumeAnswer> {
  const first = await openAll(request.nastyPort, `/ws?topics=${FIREHOSE}`, request.subscribers, () => {}, request.timeoutMs);
  const status = (await (await fetch(`http://127.0.0.1:${request.nastyPort}/api/status`)).json()) as { live: { head_seq: number } };
  const since = status.live.head_seq;
  for (const subscriber of first) subscriber.close();
  const next = corpus(7);
  for (let start = 0; start < request.events; start += POSTS_AT_ONCE) {
    const count = Math.min(POSTS_AT_ONCE, request.events - start);
    await Promise.all(Array.from({ length: count }, (_, offset) => post(request.nastyPort, request.token, bookmarkRequestBody(next(start + offset), `storm${start + offset}`))));
  }

  const baselineRssBytes = rssBytes(request.nastyPid);
  let peakRssBytes = baselineRssBytes;
  const sampler = setInterval(() => (peakRssBytes = Math.max(peakRssBytes, rssBytes(request.nastyPid))), RSS_SAMPLE_MS);
  const nasty = counter(request.events);
  const caughtUp = (side: ReturnType<typeof counter>) => () => side.resyncs() + side.caughtUp() >= request.subscribers;
  const describe = (side: ReturnType<typeof counter>) => () => `${side.caughtUp()} of ${request.subscribers} caught up, ${side.resyncs()} resyncs`;
  const nastyStart = performance.now();
  const { result: resumed, cpuMs: nastyCpuMs } = await cpuMsOf(request.nastyPid, async () => {
    const opened = await openAll(request.nastyPort, `/ws?topics=${FIREHOSE}&since=${since}`, request.subscribers, nasty.onFrame, request.timeoutMs);
    try {
      await until(caughtUp(nasty), describe(nasty), request.timeoutMs);
    } finally {
      clearInterval(sampler);
    }
    return opened;
  });
  const nastyMs = performance.now() - nastyStart;
  peakRssBytes = Math.max(peakRssBytes, rssBytes(request.nastyPid));
  for (const subscriber of resumed) subscriber.close();

  const bytesPerSubscriber = Math.round(nasty.bytes() / Math.max(1, request.subscribers - nasty.resyncs()));
  const frameBytes = Math.max(1, Math.round(bytesPerSubscriber / request.events));
  const ceiling = counter(request.events);
  const ceilingStart = performance.now();
  const { result: delivered, cpuMs: ceilingCpuMs } = await cpuMsOf(request.ceilingPid, async () => {
    const opened = await openAll(request.ceilingPort, `/resume?frames=${request.events}&bytes=${frameBytes}`, request.subscribers, ceiling.onFrame, request.timeoutMs);
    await until(caughtUp(ceiling), describe(ceiling), request.timeoutMs);
    return opened;
  });
  const ceilingMs = performance.now() - ceilingStart;
  for (const subscriber of delivered) subscriber.close();
  return { nastyMs, ceilingMs, nastyCpuMs, ceilingCpuMs, baselineRssBytes, peakRssBytes, bytesPerSubscriber, resyncs: nasty.resyncs() };
}

if (process.send && process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  process.on("message", (request: ResumeRequest) => {
    storm(request).then(
      (answer) => process.send!(answer),
      (error: Error) => process.send!({ error: error.message }),
    );
  });
  process.once("disconnect", () => process.exit(0));
}
