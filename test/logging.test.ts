// The logger of a real server process: levels, JSON or text, the request id on every line a request causes, the access log on and off, bad settings refused.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { tempDir } from "./support/server.ts";
import { sleep } from "./support/realtime.ts";
import { START_MS_MAX } from "./support/child-server.ts";

const LINES_MAX = 10_000;
/** Longest wait for a log line a request causes (a bound, not a speed check: the machine may be loaded). */
const LINE_WAIT_MS_MAX = 30_000;
/** A test here starts a server (bounded by START_MS_MAX), sends a request or two and stops it. */
const TEST_MS_MAX = START_MS_MAX + 60_000;

/** `npm start` as a child process with `env`, its standard output kept line by line (bounded). */
class ServerProcess {
  readonly lines: string[] = [];
  readonly child: ChildProcess;
  url = "";
  /** Resolves once the process ended and everything it wrote was read. */
  private readonly closed: Promise<void>;

  constructor(env: Record<string, string>) {
    const clean = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith("NASTY_")));
    this.child = spawn(process.execPath, ["--import", "tsx", "src/main.ts"], {
      env: { ...clean, PORT: "0", HOST: "127.0.0.1", NASTY_DATA_DIR: tempDir(), NASTY_PASSWORD_COST_LOG2: "10", ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let partial = "";
    this.child.stdout!.on("data", (chunk: Buffer) => {
      const parts = (partial + chunk.toString("utf8")).split("\n");
      partial = parts.pop()!;
      if (this.lines.length < LINES_MAX) this.lines.push(...parts);
    });
    this.child.stderr!.on("data", () => {});
    this.closed = new Promise((resolve) => this.child.once("close", () => resolve()));
  }

  /** Waits for the "listening on" line (bounded) and reads the address from it. */
  async started(): Promise<void> {
    for (let waited = 0; waited < START_MS_MAX; waited += 50) {
      const line = this.lines.find((candidate) => candidate.includes("listening on http://"));
      if (line) {
        this.url = /http:\/\/127\.0\.0\.1:\d+/.exec(line)![0];
        return;
      }
      if (this.child.exitCode !== null) throw new Error(`the server exited (${this.child.exitCode}):\n${this.lines.join("\n")}`);
      await sleep(50);
    }
    throw new Error(`the server did not start:\n${this.lines.join("\n")}`);
  }

  /** Lines that mention `text`, waiting (bounded) until at least `count` are there. */
  async linesWith(text: string, count: number): Promise<string[]> {
    for (let waited = 0; waited < LINE_WAIT_MS_MAX; waited += 20) {
      const found = this.lines.filter((line) => line.includes(text));
      if (found.length >= count) return found;
      await sleep(20);
    }
    return this.lines.filter((line) => line.includes(text));
  }

  /** Stops the server (SIGTERM, if it still runs) and waits until every line it wrote was read: nothing is written after. */
  async stop(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill("SIGTERM");
    await this.closed;
  }
}

async function withServer(env: Record<string, string>, body: (server: ServerProcess) => Promise<void>): Promise<void> {
  const server = new ServerProcess(env);
  try {
    await server.started();
    await body(server);
  } finally {
    await server.stop();
  }
}

/** A request that causes a debug line (its 404) and an access line; returns its request id. */
async function missingPage(server: ServerProcess): Promise<string> {
  const response = await fetch(`${server.url}/no-such-page?token=secret-in-query`);
  await response.text();
  assert.equal(response.status, 404);
  return response.headers.get("x-request-id")!;
}

test("JSON format: every line is a JSON record; a request's lines (its 4xx at debug, its access record) carry its request id", { timeout: TEST_MS_MAX }, async () => {
  await withServer({ NASTY_LOG_FORMAT: "json", NASTY_LOG_LEVEL: "debug", NASTY_ACCESS_LOG: "on" }, async (server) => {
    const id = await missingPage(server);
    const lines = await server.linesWith(`"request_id":"${id}"`, 2);
    assert.equal(lines.length, 2, server.lines.join("\n"));
    const records = lines.map((line) => JSON.parse(line));
    const debug = records.find((record) => record.level === "debug")!;
    assert.equal(debug.status, 404);
    assert.match(debug.error, /no page at \/no-such-page/);
    const access = records.find((record) => record.msg === "access")!;
    assert.equal(access.level, "info");
    assert.equal(access.method, "GET");
    assert.equal(access.path, "/no-such-page", "the path without its query (which may hold a token)");
    assert.equal(access.status, 404);
    assert.equal(typeof access.bytes, "number");
    assert.ok(access.bytes > 100);
    assert.equal(typeof access.duration_ms, "number");
    assert.equal(access.client, "127.0.0.1");
    for (const line of server.lines.filter((candidate) => candidate !== "")) assert.doesNotThrow(() => JSON.parse(line), line);
    assert.ok(!server.lines.some((line) => line.includes("secret-in-query")), "no query string in the log");
  });
});

test("the access log is off by default: no access records, and a request at info level logs nothing", { timeout: TEST_MS_MAX * 2 }, async () => {
  // Each server is stopped before the check: every line it would ever write about the request has been read by then.
  await withServer({ NASTY_LOG_FORMAT: "json", NASTY_LOG_LEVEL: "debug" }, async (server) => {
    const id = await missingPage(server);
    const lines = await server.linesWith(id, 1);
    assert.equal(lines.length, 1, "the debug line is there (the capture works)");
    await server.stop();
    assert.ok(server.lines.some((line) => line.includes("SIGTERM: finishing pending writes")), "the lines up to the stop were read");
    assert.ok(!server.lines.some((line) => line.includes('"msg":"access"')), "no access record");
  });
  await withServer({ NASTY_LOG_FORMAT: "json" }, async (server) => {
    const id = await missingPage(server);
    await server.stop();
    assert.ok(server.lines.some((line) => line.includes("SIGTERM: finishing pending writes")), "the lines up to the stop were read (info level)");
    assert.ok(!server.lines.some((line) => line.includes(id)), "a 404 at info level writes nothing");
  });
});

test("text format: one readable line per record, with key=value pairs", { timeout: TEST_MS_MAX }, async () => {
  await withServer({ NASTY_LOG_FORMAT: "text", NASTY_ACCESS_LOG: "on" }, async (server) => {
    assert.match(server.lines[0]!, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z INFO  /, "time and level first");
    const id = await missingPage(server);
    const [line] = await server.linesWith(`request_id=${id}`, 1);
    assert.ok(line, server.lines.join("\n"));
    assert.match(line, /^\S+Z INFO  access /);
    assert.match(line, / method=GET path=\/no-such-page status=404 bytes=\d+ duration_ms=[\d.]+ client=127\.0\.0\.1$/);
    assert.throws(() => JSON.parse(line));
  });
});

test("a bad NASTY_LOG_LEVEL, NASTY_LOG_FORMAT or NASTY_ACCESS_LOG is refused at start with a message naming the variable", { timeout: START_MS_MAX * 3 }, () => {
  for (const [name, value] of [["NASTY_LOG_LEVEL", "loud"], ["NASTY_LOG_FORMAT", "xml"], ["NASTY_ACCESS_LOG", "yes"]] as const) {
    const result = spawnSync(process.execPath, ["--import", "tsx", "src/main.ts"], { env: { ...process.env, PORT: "0", NASTY_DATA_DIR: tempDir(), [name]: value }, encoding: "utf8", timeout: START_MS_MAX });
    assert.equal(result.status, 2, `${name}=${value}`);
    assert.match(result.stderr, new RegExp(`configuration error: ${name}="${value}" must be one of`), result.stderr);
  }
});
