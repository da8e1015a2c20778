// The servers the load benches measure: a real Nasty (src/main.ts, real SQLite file in a temp dir) and the bare-uWS ceiling.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import type { CeilingConfig, CeilingMessage } from "./ceiling.ts";
import { Child } from "./children.ts";
import { bookmarkRequestBody, corpus } from "./corpus.ts";

const START_TIMEOUT_MS = 60_000;
const SEED_CONCURRENCY = 25;

export interface NastyServer {
  child: Child;
  port: number;
  base: string;
  uwsNative: boolean;
  /** Bearer token of the bench's user. */
  token: string;
  /** A real 201 answer to POST /api/bookmarks. */
  postAnswer: string;
  stop(): Promise<void>;
}

export interface CeilingServer {
  child: Child;
  port: number;
  base: string;
  stop(): Promise<void>;
}

async function fetchOk(url: string, init: RequestInit, status: number): Promise<string> {
  const response = await fetch(url, init);
  const text = await response.text();
  if (response.status !== status) throw new Error(`${init.method ?? "GET"} ${url} answered ${response.status}, expected ${status}: ${text.slice(0, 300)}`);
  return text;
}

/** Signs the bench user up and saves `bookmarks` public bookmarks through the API. */
async function seed(base: string, bookmarks: number): Promise<{ token: string; postAnswer: string }> {
  const signUp = await fetchOk(`${base}/api/users`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ user: { username: "bench", password: "bench-password" } }) }, 201);
  const token = (JSON.parse(signUp) as { token: string }).token;
  const next = corpus(3);
  let postAnswer = "";
  for (let start = 0; start < bookmarks; start += SEED_CONCURRENCY) {
    const count = Math.min(SEED_CONCURRENCY, bookmarks - start);
    const answers = await Promise.all(
      Array.from({ length: count }, (_, offset) =>
        fetchOk(`${base}/api/bookmarks`, { method: "POST", headers: { "content-type": "application/json", authorization: `Bearer ${token}` }, body: bookmarkRequestBody(next(start + offset), `seed${start + offset}`) }, 201),
      ),
    );
    postAnswer = answers[answers.length - 1]!;
  }
  return { token, postAnswer };
}

/** `npm start`'s own entry point as a child, on a free port, with NASTY_RATE_LIMIT=0 and nothing else of ours but `env`; `nodeFlags` e.g. to profile it. */
export async function startNasty(seedBookmarks: number, nodeFlags: string[] = [], env: Record<string, string> = {}): Promise<NastyServer> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "nasty-bench-"));
  const child = new Child("src/main.ts", [], {
    label: "nasty server",
    env: { PORT: "0", HOST: "127.0.0.1", NASTY_DATA_DIR: dataDir, NASTY_RATE_LIMIT: "0", ...env },
    dropEnv: /^(NASTY_|DATABASE_URL$|SIMULATE_TRAFFIC$|PORT$|HOST$)/,
    raiseOpenFiles: true,
    nodeFlags,
  });
  const stop = async () => {
    await child.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  };
  try {
    const listening = await child.waitForLine(/listening on http:\/\/127\.0\.0\.1:(\d+)/, START_TIMEOUT_MS);
    const port = Number(listening[1]);
    const base = `http://127.0.0.1:${port}`;
    const seeded = await seed(base, seedBookmarks);
    const uwsNative = /uWebSockets\.js native binary/.test(child.tail());
    return { child, port, base, uwsNative, ...seeded, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** A GET answer of Nasty's to copy into the ceiling, or null with the reason it is not there. */
export async function capture(base: string, pathAndQuery: string, contentType: RegExp): Promise<{ body: string; contentType: string } | { missing: string }> {
  const response = await fetch(base + pathAndQuery);
  const body = await response.text();
  const type = response.headers.get("content-type") ?? "";
  if (response.status !== 200 || !contentType.test(type)) return { missing: `GET ${pathAndQuery} answered ${response.status} ${type}` };
  return { body, contentType: type };
}

export async function startCeiling(config: CeilingConfig): Promise<CeilingServer> {
  const child = new Child("bench/ceiling.ts", [], { label: "ceiling server", ipc: true, raiseOpenFiles: true });
  try {
    const message = await child.request<CeilingMessage>(config, START_TIMEOUT_MS);
    if ("error" in message) throw new Error(message.error);
    return { child, port: message.listening, base: `http://127.0.0.1:${message.listening}`, stop: () => child.stop() };
  } catch (error) {
    await child.stop();
    throw error;
  }
}
