// HTTP load for a bounded time against 127.0.0.1: wrk when installed, a keep-alive Node client otherwise.
import { execFile } from "node:child_process";
import fs from "node:fs";
import http from "node:http";
import path from "node:path";
import { ROOT } from "./children.ts";

export type LoadClient = "wrk" | "node";

export interface LoadSpec {
  /** http://127.0.0.1:port/path?query */
  url: string;
  method: "GET" | "POST";
  seconds: number;
  connections: number;
  /** Bearer token for POSTs. */
  token?: string;
  /** Makes this run's POSTed URLs distinct from every other run's. */
  prefix?: string;
}

export interface LoadResult {
  client: LoadClient;
  requests: number;
  seconds: number;
  requestsPerSecond: number;
  /** Answers outside 2xx/3xx plus socket errors and timeouts. */
  errors: number;
  latencyP50Ms: number | null;
  latencyP99Ms: number | null;
}

const WRK_SLACK_MS = 15_000;

export function findWrk(): string | null {
  for (const dir of (process.env.PATH ?? "").split(path.delimiter)) {
    const candidate = path.join(dir, "wrk");
    try {
      fs.accessSync(candidate, fs.constants.X_OK);
      return candidate;
    } catch {
      // not in this folder
    }
  }
  return null;
}

export function httpLoad(client: LoadClient, spec: LoadSpec): Promise<LoadResult> {
  if (!/^http:\/\/127\.0\.0\.1:\d+\//.test(spec.url)) throw new Error(`load goes to 127.0.0.1 only, not ${spec.url}`);
  return client === "wrk" ? wrkLoad(spec) : nodeLoad(spec);
}

const UNIT_MS: Record<string, number> = { us: 0.001, ms: 1, s: 1000, m: 60_000 };

function durationMs(text: string | undefined): number | null {
  const match = text ? /^([\d.]+)(us|ms|s|m)$/.exec(text) : null;
  return match ? Number(match[1]) * UNIT_MS[match[2]!]! : null;
}

/** Reads wrk's report: requests, duration, non-2xx answers, socket errors, latency percentiles. */
export function parseWrk(output: string): Omit<LoadResult, "client"> {
  const done = /(\d+) requests in ([\d.]+)(us|ms|s|m)/.exec(output);
  if (!done) throw new Error(`cannot read wrk's report:\n${output}`);
  const requests = Number(done[1]);
  const seconds = (Number(done[2]) * UNIT_MS[done[3]!]!) / 1000;
  const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(output)?.[1] ?? 0);
  const socket = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(output);
  const socketErrors = socket ? socket.slice(1).reduce((sum, count) => sum + Number(count), 0) : 0;
  return {
    requests,
    seconds,
    requestsPerSecond: requests / seconds,
    errors: non2xx + socketErrors,
    latencyP50Ms: durationMs(/\n\s+50%\s+(\S+)/.exec(output)?.[1]),
    latencyP99Ms: durationMs(/\n\s+99%\s+(\S+)/.exec(output)?.[1]),
  };
}

function wrkLoad(spec: LoadSpec): Promise<LoadResult> {
  const wrk = findWrk();
  if (!wrk) throw new Error("wrk is not installed");
  // wrk takes whole seconds only.
  const args = ["-t1", `-c${spec.connections}`, `-d${Math.max(1, Math.round(spec.seconds))}s`, "--latency", "--timeout", "10s"];
  if (spec.method === "POST") args.push("-s", path.join(ROOT, "bench/wrk/post.lua"));
  args.push(spec.url);
  if (spec.method === "POST") args.push("--", spec.token ?? "", spec.prefix ?? "run");
  return new Promise((resolve, reject) => {
    execFile(wrk, args, { timeout: Math.max(1, spec.seconds) * 1000 + WRK_SLACK_MS }, (error, stdout, stderr) => {
      if (error) reject(new Error(`wrk failed: ${error.message}\n${stderr}`));
      else resolve({ client: "wrk", ...parseWrk(stdout) });
    });
  });
}

const WORDS = ["rust", "web", "servers", "latency", "sqlite", "durable", "logs", "realtime", "bookmarks", "science"];

/** The same body wrk/post.lua sends. */
export function postBody(prefix: string, worker: number, counter: number): string {
  const word = WORDS[counter % WORDS.length]!;
  return JSON.stringify({ bookmark: { title: `A bookmark about ${word} and more ${prefix} ${worker}-${counter}`, url: `https://example.com/${word}/${prefix}/${worker}/${counter}`, description: "", tags: `bench, ${word}, web` } });
}

export function percentile(sorted: ArrayLike<number>, fraction: number): number | null {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.floor(fraction * sorted.length))]!;
}

const SAMPLES_MAX = 200_000;

/** `connections` keep-alive loops, each one request at a time, until the time is up. */
async function nodeLoad(spec: LoadSpec): Promise<LoadResult> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: spec.connections });
  const url = new URL(spec.url);
  const headers: Record<string, string> = spec.method === "POST" ? { "content-type": "application/json", ...(spec.token ? { authorization: `Bearer ${spec.token}` } : {}) } : {};
  const samples: number[] = [];
  let requests = 0;
  let errors = 0;
  const started = performance.now();
  const deadline = started + spec.seconds * 1000;
  const one = (body: string | null) =>
    new Promise<void>((resolve) => {
      const sent = performance.now();
      const request = http.request({ agent, host: url.hostname, port: url.port, path: url.pathname + url.search, method: spec.method, headers }, (response) => {
        response.resume();
        response.on("end", () => {
          requests += 1;
          if ((response.statusCode ?? 500) >= 400) errors += 1;
          if (samples.length < SAMPLES_MAX) samples.push(performance.now() - sent);
          resolve();
        });
      });
      request.on("error", () => {
        errors += 1;
        resolve();
      });
      request.end(body ?? undefined);
    });
  const loop = async (worker: number) => {
    for (let counter = 1; performance.now() < deadline; counter += 1) await one(spec.method === "POST" ? postBody(spec.prefix ?? "run", worker, counter) : null);
  };
  await Promise.all(Array.from({ length: spec.connections }, (_, worker) => loop(worker + 1)));
  const seconds = (performance.now() - started) / 1000;
  agent.destroy();
  samples.sort((a, b) => a - b);
  return { client: "node", requests, seconds, requestsPerSecond: requests / seconds, errors, latencyP50Ms: percentile(samples, 0.5), latencyP99Ms: percentile(samples, 0.99) };
}
