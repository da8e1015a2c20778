// `npm run firehose` as a child process against a real server: readable lines, filters, --json, restart recovery.
import { after, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import path from "node:path";
import readline from "node:readline";
import { createBookmark, request, signUp, startTestServer, tempDir } from "./support/server.ts";
import type { Nasty } from "../src/main.ts";
import { formatPush } from "../src/simulator/firehose.ts";
import { START_MS_MAX } from "./support/child-server.ts";

const ROOT = path.resolve(import.meta.dirname, "..");

type Stream = "stdout" | "stderr";

/** Hang guards of the tests below: each process started through tsx may take START_MS_MAX on a loaded machine. */
const ONE_CLIENT_MS_MAX = START_MS_MAX + 60_000;
const TWO_SERVERS_AND_A_CLIENT_MS_MAX = START_MS_MAX * 3 + 60_000;

/** A child process (the firehose client, or a server) whose output lines can be awaited in order. */
class Child {
  readonly lines: Record<Stream, string[]> = { stdout: [], stderr: [] };
  private readonly cursor: Record<Stream, number> = { stdout: 0, stderr: 0 };
  private readonly waiters = new Set<() => void>();
  private readonly child: ChildProcess;
  /** Resolves once the process ended and every line it wrote was read ('close', not 'exit': at 'exit' its last lines may still be in the pipes). */
  readonly exited: Promise<number | null>;
  private ended = false;

  constructor(private readonly script: string, args: string[], env: Record<string, string> = {}) {
    this.child = spawn(process.execPath, ["--import", "tsx", script, ...args], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, ...env } });
    for (const stream of ["stdout", "stderr"] as const) {
      readline.createInterface({ input: this.child[stream]! }).on("line", (line) => {
        this.lines[stream].push(line);
        for (const wake of this.waiters) wake();
      });
    }
    this.exited = new Promise((resolve) => this.child.on("close", (code) => {
      this.ended = true;
      resolve(code);
      for (const wake of this.waiters) wake();
    }));
  }

  /** The next line on `stream` (after the last one awaited) that matches; fails if the client exits first. */
  next(stream: Stream, pattern: RegExp): Promise<string> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const lines = this.lines[stream];
        for (let index = this.cursor[stream]; index < lines.length; index += 1) {
          if (!pattern.test(lines[index]!)) continue;
          this.cursor[stream] = index + 1;
          this.waiters.delete(check);
          resolve(lines[index]!);
          return;
        }
        if (this.ended) {
          this.waiters.delete(check);
          reject(new Error(`${path.basename(this.script)} exited before printing ${pattern} on ${stream}:\n${this.lines.stderr.join("\n")}\n${this.lines.stdout.join("\n")}`));
        }
      };
      this.waiters.add(check);
      check();
    });
  }

  stop(): Promise<number | null> {
    if (!this.ended) this.child.kill("SIGTERM");
    return this.exited;
  }
}

const running: Child[] = [];
function firehose(args: string[]): Child {
  const client = new Child("src/simulator/firehose.ts", args);
  running.push(client);
  return client;
}

/**
 * `npm start` as a child process: a restart is a new process on the same port and data dir, as in
 * production. The port is a fixed one below the kernel's ephemeral range: a port handed out for
 * PORT=0 cannot be bound again while the connections it served linger in TIME_WAIT.
 */
async function serverProcess(dataDir: string, port: number): Promise<{ child: Child; url: string }> {
  const child = new Child("src/main.ts", [], { PORT: String(port), HOST: "127.0.0.1", NASTY_DATA_DIR: dataDir, NASTY_RATE_LIMIT: "0" });
  running.push(child);
  await child.next("stdout", /listening on http:\/\/127\.0\.0\.1:\d+/);
  return { child, url: `http://127.0.0.1:${port}` };
}

/** The first server that gets a port from a small fixed set (another test run may hold one). */
async function serverOnFixedPort(dataDir: string): Promise<{ child: Child; url: string; port: number }> {
  const first = 20_000 + ((process.pid * 7919) % 9000);
  for (let attempt = 0; attempt < 20; attempt += 1) {
    const port = first + attempt * 37;
    try {
      return { ...(await serverProcess(dataDir, port)), port };
    } catch (error) {
      if (!/cannot listen/.test(String(error))) throw error;
    }
  }
  throw new Error("no free port for the restart test");
}

describe("npm run firehose", () => {
  const servers: Nasty[] = [];
  after(async () => {
    for (const client of running) await client.stop();
    for (const server of servers) await server.close();
  });

  test("prints each event of its topic as one readable line and recovers from a server restart", { timeout: TWO_SERVERS_AND_A_CLIENT_MS_MAX }, async () => {
    const dataDir = tempDir();
    const first = await serverOnFixedPort(dataDir);
    const alice = await signUp(first.url, "alice");
    const client = firehose(["--url", `ws://127.0.0.1:${first.port}`, "--tag", "Rust"]);
    await client.next("stderr", /^\[firehose\] connected to ws:\/\/127\.0\.0\.1:\d+\/ws$/);
    await client.next("stderr", /^\[firehose\] listening on bookmarks:tag:rust$/);

    await createBookmark(first.url, alice, { title: "Not about it", url: "https://www.python.org/", tags: ["python"] });
    const refused = await request(first.url, "POST", "/api/bookmarks", { token: alice, body: { bookmark: { title: "The Rust \u001b[31mBook", url: "https://doc.rust-lang.org/book/", tags: ["rust"] } } });
    assert.equal(refused.status, 422, "the server refuses control characters in a title");
    // Logs written before that check may still hold them: the client never prints one.
    const pushed = formatPush({ topic: "bookmarks:tag:rust", event: "bookmark_created", payload: { user: "alice", tags: ["rust"], title: "The Rust \u001b[31mBook\u009b", url: "https://doc.rust-lang.org/book/", inserted_at: new Date().toISOString() } });
    assert.match(pushed ?? "", / {2}The Rust  ?\[31mBook  ? {2}https:/);
    assert.ok(!/[\u0000-\u001f\u007f-\u009f]/.test(pushed ?? "\u0000"), "control characters from a title never reach the terminal");
    await createBookmark(first.url, alice, { title: "The Rust Book", url: "https://doc.rust-lang.org/book/", tags: ["rust", "books"] });
    const line = await client.next("stdout", /The Rust/);
    assert.match(line, /^\d\d:\d\d:\d\d {2}saved {4}alice {2}\[rust, books\] {2}The Rust Book {2}https:\/\/doc\.rust-lang\.org\/book\/$/);
    assert.deepEqual(client.lines.stdout, [line], "a bookmark without the tag was not printed");

    const [id] = (await request(first.url, "GET", "/api/bookmarks?tag=rust")).json.data.map((bookmark: { id: number }) => bookmark.id);
    await request(first.url, "PATCH", `/api/bookmarks/${id}`, { token: alice, body: { bookmark: { title: "The Rust Programming Language" } } });
    assert.match(await client.next("stdout", /updated/), /updated {2}alice {2}\[rust, books\] {2}The Rust Programming Language {2}https:\/\/doc\.rust-lang\.org\/book\/$/);

    assert.equal(await first.child.stop(), 0);
    await client.next("stderr", /^\[firehose\] connection closed \(1001\b.*\); reconnecting in \d+\.\d s \(attempt 1\)$/);
    const second = await serverProcess(dataDir, first.port);
    // Saved before or while the client reconnects: it resumes after the last seq it saw, so either way the line comes.
    await createBookmark(second.url, alice, { title: "Rustlings", url: "https://github.com/rust-lang/rustlings", tags: ["rust"] });
    await client.next("stderr", /^\[firehose\] reconnected to ws:\/\/127\.0\.0\.1:\d+\/ws$/);
    await client.next("stderr", /^\[firehose\] listening on bookmarks:tag:rust$/);
    await createBookmark(second.url, alice, { title: "Rust by Example", url: "https://doc.rust-lang.org/rust-by-example/", tags: ["rust"] });
    assert.match(await client.next("stdout", /Rustlings/), /saved {4}alice {2}\[rust\] {2}Rustlings {2}https:\/\/github\.com\/rust-lang\/rustlings$/);
    assert.match(await client.next("stdout", /Rust by Example/), /saved {4}alice {2}\[rust\] {2}Rust by Example {2}https:\/\/doc\.rust-lang\.org\/rust-by-example\/$/);
    assert.equal(await client.stop(), 0);
  });

  test("--user with --json prints the raw frames of that person's topic", { timeout: ONE_CLIENT_MS_MAX }, async () => {
    const nasty = await startTestServer();
    servers.push(nasty);
    const [bob, carol] = [await signUp(nasty.url, "bob"), await signUp(nasty.url, "carol")];
    const client = firehose(["--url", nasty.url, "--user", "bob", "--json"]);
    await client.next("stderr", /listening on bookmarks:user:bob$/);
    await createBookmark(nasty.url, carol, { title: "Carol's", url: "https://carol.example.org/", tags: [] });
    await createBookmark(nasty.url, bob, { title: "Bob's", url: "https://www.gutenberg.org/", tags: ["books"] });
    const frame = JSON.parse(await client.next("stdout", /Bob's/));
    assert.equal(frame.topic, "bookmarks:user:bob");
    assert.equal(frame.event, "bookmark_created");
    assert.equal(frame.payload.user, "bob");
    assert.equal(frame.payload.url, "https://www.gutenberg.org/");
    assert.equal(client.lines.stdout.length, 1, "carol's bookmark is not on bob's topic");
  });

  test("refuses a URL it cannot use, and stops when the server refuses every topic", { timeout: ONE_CLIENT_MS_MAX * 2 }, async () => {
    const ftp = firehose(["--url", "ftp://127.0.0.1:4000"]);
    assert.equal(await ftp.exited, 2);
    assert.match(ftp.lines.stderr.join("\n"), /--url must be a ws:\/\/, wss:\/\/, http:\/\/ or https:\/\/ URL, got ftp:/);
    const nasty = await startTestServer();
    servers.push(nasty);
    const unknown = firehose(["--url", nasty.url, "--topic", "nonsense"]);
    assert.equal(await unknown.exited, 2);
    assert.match(unknown.lines.stderr.join("\n"), /the server refused subscribe nonsense: unknown topic 'nonsense'/);
  });
});
