// Test support: a real Nasty server on a loopback port with its own SQLite file, and a small HTTP client.
import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { loadConfig, type Config } from "../../src/config.ts";
import { startNasty, type Nasty, type StartOptions } from "../../src/main.ts";
import { isNativeApiPath, openApiChecker } from "./openapi.ts";

/**
 * How long a server process may take to start (or to refuse to): a bound on a wait, not a speed
 * check. Loading the TypeScript sources through tsx took 13-21 s at load 20-30 on the 2-core
 * test machine, so 30 s was too tight while other suites run.
 */
export const START_MS_MAX = 120_000;

/**
 * A real server in its own process on `dataDir` (for kill -9), resolved once it listens; `output`
 * holds what it printed so far. Rejected with that output if it exits first, or (killed) if it
 * has not listened within START_MS_MAX.
 */
export function startServerProcess(dataDir: string, env: Record<string, string> = {}): Promise<{ child: ChildProcess; url: string; output: () => string }> {
  const child = spawn(process.execPath, ["--import", "tsx", "src/main.ts"], {
    env: { ...process.env, ...TEST_PASSWORD_SETTINGS, PORT: "0", HOST: "127.0.0.1", NASTY_DATA_DIR: dataDir, NASTY_RATE_LIMIT: "0", ...TEST_FETCH_SETTINGS, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL"); // never left behind
      reject(new Error(`server did not listen within ${START_MS_MAX} ms: ${output}`));
    }, START_MS_MAX);
    child.stdout!.on("data", (chunk) => {
      output += chunk;
      const match = /listening on (http:\/\/\S+)/.exec(output);
      if (!match) return;
      clearTimeout(timer);
      resolve({ child, url: match[1]!, output: () => output });
    });
    child.stderr!.on("data", (chunk) => (output += chunk));
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`server exited with ${code}: ${output}`));
    });
  });
}

export function tempDir(prefix = "nasty-test-"): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

/**
 * The suite signs up hundreds of users from 127.0.0.1: hashes at N=2^10 (not the default 2^17,
 * about 128 MiB and a few hundred ms each) and no per-address limit, unless a test sets its own.
 * test/passwords.test.ts checks the defaults themselves.
 */
export const TEST_PASSWORD_SETTINGS = { NASTY_PASSWORD_COST_LOG2: "10", NASTY_PASSWORD_ATTEMPTS_PER_ADDRESS: "0" };

/**
 * Nothing in the suite reaches the internet: a bookmark saved without a title would look its
 * example host up, so fetching is off unless a test turns it on (test/fetch.test.ts, against
 * its own server on loopback).
 */
export const TEST_FETCH_SETTINGS = { NASTY_FETCH: "off" };

export function testConfig(overrides: Record<string, string> = {}): Config {
  return loadConfig({ PORT: "0", HOST: "127.0.0.1", NASTY_DATA_DIR: tempDir(), NASTY_RATE_LIMIT: "0", ...TEST_PASSWORD_SETTINGS, ...TEST_FETCH_SETTINGS, ...overrides });
}

export async function startTestServer(overrides: Record<string, string> = {}, options: StartOptions = {}): Promise<Nasty> {
  return startNasty(testConfig(overrides), { quiet: true, ...options });
}

/** Log records written in-process, parsed (start the server with NASTY_LOG_FORMAT=json and `destination`). */
export class LogCapture {
  readonly records: Record<string, any>[] = [];
  readonly destination = { write: (line: string) => void this.records.push(JSON.parse(line)) };

  /** Records carrying this request id. */
  of(requestId: string): Record<string, any>[] {
    return this.records.filter((record) => record.request_id === requestId);
  }
}

export interface Reply {
  status: number;
  headers: Headers;
  json: any;
  text: string;
}

export interface RequestOptions {
  token?: string;
  body?: unknown;
  /** Sent as is, without JSON encoding. */
  raw?: string | Uint8Array;
  headers?: Record<string, string>;
  /** Gives up on the request (a server that stopped answering). */
  signal?: AbortSignal;
}

export async function request(base: string, method: string, pathname: string, options: RequestOptions = {}): Promise<Reply> {
  const headers: Record<string, string> = { ...options.headers };
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  let body: string | Uint8Array | undefined;
  if (options.body !== undefined) {
    body = JSON.stringify(options.body);
    headers["content-type"] ??= "application/json";
  }
  if (options.raw !== undefined) body = options.raw;
  const response = await fetch(base + pathname, { method, headers, body: body as BodyInit | undefined, redirect: "manual", ...(options.signal ? { signal: options.signal } : {}) });
  const text = await response.text();
  const path = pathname.split("?")[0]!;
  if (isNativeApiPath(path)) {
    // Every answer of the native JSON API must be one docs/openapi.yaml describes, so the description cannot drift.
    const problem = openApiChecker().check({ method, path, status: response.status, contentType: response.headers.get("content-type") ?? "", text });
    if (problem !== null) throw new Error(`OpenAPI: ${problem}`);
  }
  let json: unknown = null;
  try {
    json = text === "" ? null : JSON.parse(text);
  } catch {
    json = null;
  }
  return { status: response.status, headers: response.headers, json, text };
}

/** Registers a user through the API and returns their token. */
export async function signUp(base: string, username: string, password = "correct horse"): Promise<string> {
  const reply = await request(base, "POST", "/api/users", { body: { user: { username, password } } });
  if (reply.status !== 201) throw new Error(`sign-up of ${username} failed: ${reply.status} ${reply.text}`);
  return reply.json.token as string;
}

export async function createBookmark(base: string, token: string, bookmark: Record<string, unknown>): Promise<any> {
  const reply = await request(base, "POST", "/api/bookmarks", { token, body: { bookmark } });
  if (reply.status !== 201) throw new Error(`create failed: ${reply.status} ${reply.text}`);
  return reply.json.bookmark.data;
}

/** A bookmark as the API and public topics show it to anyone but its owner: without the owner's read-later flag. */
export function othersView(bookmark: Record<string, unknown>): Record<string, unknown> {
  const { unread: _ownersAlone, ...shown } = bookmark;
  return shown;
}
