// The fuzzer: a seeded, bounded run of generated cases against a real server in its own process, checking it never fails.
import fs from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { routeTable, type RouteEntry } from "../../src/http/router.ts";
import { csrfToken } from "../../src/auth/csrf.ts";
import { PINBOARD_METHOD_NAMES } from "../../src/interop/pinboard.ts";
import { deriveSeed, mulberry32 } from "../../src/simulator/random.ts";
import { parseFlags, UsageError, describeFlags } from "../../src/simulator/args.ts";
import { startChildServer, type ChildServer } from "./child-server.ts";
import { rawHttp, socketSession, type HttpOutcome, type SocketOutcome } from "./fuzz-client.ts";
import { describeCase, generateCase, type FuzzCase, type FuzzUser, type World } from "./fuzz-cases.ts";
import { createBookmark, request, signUp, startTestServer, tempDir } from "./server.ts";

export interface FuzzOptions {
  seed: number;
  cases: number;
  /** A request or websocket session not finished by then is a failure (a request left unanswered). */
  timeoutMs?: number;
  /** Cases in flight at once (lanes); 1 replays a failure in exactly the order it happened. */
  concurrency?: number;
  /** The server is probed (alive, /api/status answers, memory) every this many cases. */
  probeEvery?: number;
  /** Growth of the server's resident memory over the run, from its level after the warm-up. */
  rssGrowthBytesMax?: number;
  say?: (line: string) => void;
  /** Where cases are counted (by `target \t kind \t outcome`); pass one to read the counts of a run stopped early. */
  counts?: Map<string, number>;
}

export interface FuzzReport {
  seed: number;
  cases: number;
  /** Cases by `target \t kind \t outcome`. */
  counts: Map<string, number>;
  rss: { warmBytes: number; lastBytes: number; peakBytes: number };
  ms: number;
}

export class FuzzFailure extends Error {
  override name = "FuzzFailure";
}

const PASSWORD = "correct horse battery";

/** The routes of the table: registered by a real start (in this process, then closed), never a hand-kept list. */
export async function discoverRoutes(): Promise<RouteEntry[]> {
  const nasty = await startTestServer();
  try {
    return [...routeTable(nasty.app)];
  } finally {
    await nasty.close();
  }
}

/** Logs `username` in through the page form and returns the session secret and its form token. */
async function logIn(base: string, username: string): Promise<{ session: string; csrf: string }> {
  const seed = "fuzz-seed-" + username;
  const body = new URLSearchParams({ username, password: PASSWORD, _csrf: csrfToken(seed) }).toString();
  const reply = await request(base, "POST", "/login", { raw: body, headers: { "content-type": "application/x-www-form-urlencoded", cookie: `nasty_csrf=${seed}` } });
  const session = /nasty_session=([^;]+)/.exec(reply.headers.get("set-cookie") ?? "")?.[1];
  if (reply.status !== 303 || !session) throw new Error(`log-in of ${username} failed: ${reply.status} ${reply.text.slice(0, 200)}`);
  return { session, csrf: csrfToken(session) };
}

/** Users with tokens and sessions, public and private bookmarks with tags and comments. */
async function buildWorld(server: ChildServer, port: number): Promise<World> {
  const users: FuzzUser[] = [];
  // The first account is the admin: one the cases never use, so alice and bob are members and the
  // admin routes answer them 403 (an admin among them could suspend or erase the other mid-run).
  await signUp(server.url, "fuzzroot", PASSWORD);
  for (const username of ["alice", "bob"]) {
    const token = await signUp(server.url, username, PASSWORD);
    users.push({ username, password: PASSWORD, token, ...(await logIn(server.url, username)) });
  }
  const tags = ["fuzz", "news", "x", "🏷", "a-b"];
  const bookmarkIds: number[] = [];
  for (const [index, user] of users.entries()) {
    for (let count = 0; count < 4; count += 1) {
      const bookmark = await createBookmark(server.url, user.token, { url: `https://world.example/${index}/${count}`, title: `World ${index} ${count}`, tags: tags.slice(count, count + 2), public: count !== 3, unread: count === 2 });
      bookmarkIds.push(bookmark.id);
      await request(server.url, "POST", `/api/bookmarks/${bookmark.id}/comments`, { token: user.token, body: { body: `comment ${count}` } });
    }
  }
  const tagIds = ((await request(server.url, "GET", "/api/tags/", { token: users[0]!.token })).json?.results ?? []).map((tag: { id: number }) => tag.id);
  const home = await request(server.url, "GET", "/");
  const staticFiles = [...home.text.matchAll(/(?:href|src)="\/static\/([^"?]+)/g)].map((match) => match[1]!);
  return { port, users, bookmarkIds, tagIds, tags, pinboardMethods: PINBOARD_METHOD_NAMES, staticFiles };
}

/** Cases may revoke tokens, log out sessions and delete bookmarks: put the world back so later cases still reach handlers. */
async function restoreWorld(server: ChildServer, world: World): Promise<void> {
  for (const user of world.users) {
    if ((await request(server.url, "GET", "/api/me", { token: user.token })).status !== 200) {
      const issued = await request(server.url, "POST", "/api/tokens", { body: { username: user.username, password: PASSWORD } });
      if (issued.status !== 201) throw new FuzzFailure(`could not issue a new token for ${user.username}: ${issued.status} ${issued.text.slice(0, 200)}`);
      user.token = issued.json.token;
    }
    if ((await request(server.url, "GET", "/settings", { headers: { cookie: `nasty_session=${user.session}` } })).status !== 200) Object.assign(user, await logIn(server.url, user.username));
  }
  const alive = [];
  for (const user of world.users) {
    const listed = await request(server.url, "GET", `/api/bookmarks?user=${user.username}&limit=20`, { token: user.token });
    alive.push(...((listed.json?.data ?? []) as { id: number }[]).map((bookmark) => bookmark.id));
  }
  if (alive.length > 0) world.bookmarkIds = alive;
}

/** Resident memory of `pid`, from the kernel's own accounting. */
function rssBytes(pid: number): number {
  const match = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, "utf8"));
  return match ? Number(match[1]) * 1024 : 0;
}

/** Why this outcome is a failure, or null. */
export function httpProblem(fuzzCase: FuzzCase & { type: "http" }, outcome: HttpOutcome): string | null {
  if (outcome.kind === "timeout") return `no answer within the deadline (${outcome.received} bytes received)`;
  if (outcome.kind === "closed") return fuzzCase.strict ? `the server closed the connection without a response to a well-formed request (${outcome.received} bytes received)` : null;
  if (outcome.status >= 500) return `answered ${outcome.status}: ${outcome.body.subarray(0, 400).toString("utf8")}`;
  if (fuzzCase.strict && outcome.status === 0) return "the response has no HTTP status line";
  if (fuzzCase.strict && outcome.trailing > 0) return `${outcome.trailing} bytes followed the response${fuzzCase.head ? " to HEAD (a body)" : ""}`;
  return null;
}

export function socketProblem(outcome: SocketOutcome): string | null {
  switch (outcome.kind) {
    case "timeout": return `the session was neither answered nor closed within the deadline (${outcome.frames} frames received)`;
    case "refused": return outcome.status >= 500 || outcome.status === 0 ? `the handshake was answered ${outcome.status}` : null;
    case "closed": return outcome.code === 1011 ? "closed with 1011 (internal error)" : null;
    case "error": return outcome.opened ? null : `the handshake got no answer: ${outcome.message}`;
    case "answered": return null;
  }
}

function outcomeLabel(outcome: HttpOutcome | SocketOutcome): string {
  switch (outcome.kind) {
    case "response": return String(outcome.status);
    case "refused": return `refused ${outcome.status}`;
    case "closed": return "code" in outcome ? `closed ${outcome.code}` : "closed";
    case "error": return "error";
    default: return outcome.kind;
  }
}

/** Malformed requests in flight at once, beside the sequential ones. */
const DETACHED_MAX = 256;
/** A close this late is uWS's idle timeout (10 s) ending a request its parser held. */
const IDLE_CLOSE_MS = 9000;

async function runCase(port: number, fuzzCase: FuzzCase, timeoutMs: number): Promise<{ label: string; problem: string | null; ms: number }> {
  const started = performance.now();
  if (fuzzCase.type === "http") {
    const outcome = await rawHttp(port, fuzzCase.parts, { head: fuzzCase.head, timeoutMs });
    return { label: outcomeLabel(outcome), problem: httpProblem(fuzzCase, outcome), ms: performance.now() - started };
  }
  const outcome = await socketSession({ ...fuzzCase.plan, timeoutMs });
  return { label: outcomeLabel(outcome), problem: socketProblem(outcome), ms: performance.now() - started };
}

/**
 * Runs `cases` generated cases in order against a fresh server (its own process and data
 * directory), probing it every `probeEvery` cases. Case `index` is generated from
 * (seed, index) alone, so a failure is replayed by the same seed and count. Throws FuzzFailure
 * naming the seed, the case and the server's last output.
 */
export async function runFuzz(options: FuzzOptions): Promise<FuzzReport> {
  const timeoutMs = options.timeoutMs ?? 15_000;
  const probeEvery = options.probeEvery ?? 100;
  const concurrency = options.concurrency ?? 4;
  const rssGrowthBytesMax = options.rssGrowthBytesMax ?? 384 * 1024 * 1024;
  const say = options.say ?? (() => {});
  const started = performance.now();
  const routes = await discoverRoutes();
  const dataDir = tempDir("nasty-fuzz-");
  const server = await startChildServer(dataDir, { env: { NASTY_PASSWORD_ATTEMPTS_PER_ADDRESS: "0", NASTY_RATE_LIMIT: "0" }, startMsMax: 120_000 });
  const pid = server.child.pid!;
  const port = Number(new URL(server.url).port);
  const counts = options.counts ?? new Map<string, number>();
  const rss = { warmBytes: 0, lastBytes: 0, peakBytes: 0 };
  const warmAfter = Math.min(options.cases, Math.max(probeEvery, Math.floor(options.cases / 10)));
  const fail = (index: number | null, fuzzCase: FuzzCase | null, problem: string): never => {
    const where = index === null ? "after the last case" : `case ${index} (${fuzzCase?.type === "http" ? fuzzCase.target : fuzzCase?.target} ${fuzzCase?.kind})`;
    throw new FuzzFailure([
      `fuzz failure, seed ${options.seed}, ${where}: ${problem}`,
      fuzzCase ? describeCase(fuzzCase) : "",
      `reproduce: npm run fuzz -- --seed ${options.seed} --cases ${(index ?? options.cases - 1) + 1} --concurrency ${concurrency} (or --concurrency 1 for the exact order)`,
      `server output (last 3000 characters):\n${server.output().slice(-3000)}`,
    ].filter((line) => line !== "").join("\n"));
  };
  const probe = async (index: number | null, fuzzCase: FuzzCase | null) => {
    if (server.child.exitCode !== null || server.child.signalCode !== null) fail(index, fuzzCase, `the server process died (${server.child.exitCode ?? server.child.signalCode})`);
    const status = await rawHttp(port, [Buffer.from(`GET /api/status HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nConnection: close\r\n\r\n`)], { head: false, timeoutMs });
    if (status.kind !== "response" || status.status !== 200) fail(index, fuzzCase, `GET /api/status did not answer 200 (${outcomeLabel(status)})`);
    rss.lastBytes = rssBytes(pid);
    rss.peakBytes = Math.max(rss.peakBytes, rss.lastBytes);
    if (rss.warmBytes > 0 && rss.lastBytes - rss.warmBytes > rssGrowthBytesMax) {
      fail(index, fuzzCase, `server memory grew from ${mib(rss.warmBytes)} to ${mib(rss.lastBytes)} MiB, over the bound of ${mib(rssGrowthBytesMax)} MiB`);
    }
  };
  try {
    say(`fuzz: seed ${options.seed}, ${options.cases} cases, ${routes.length} routes + 3 websocket endpoints, server pid ${pid} on ${server.url}`);
    const world = await buildWorld(server, port);
    // Malformed requests run beside the others (bounded): uWS holds many of them until its 10 s idle timeout.
    const detached = new Set<Promise<void>>();
    let detachedFailure: { index: number; fuzzCase: FuzzCase; problem: string } | null = null;
    const record = (index: number, fuzzCase: FuzzCase, result: { label: string; problem: string | null; ms: number }) => {
      if (process.env.FUZZ_SLOW_MS && result.ms > Number(process.env.FUZZ_SLOW_MS)) say(`slow case ${index}: ${result.ms.toFixed(0)} ms ${fuzzCase.target} ${fuzzCase.kind} -> ${result.label}`);
      const label = result.label === "closed" && result.ms >= IDLE_CLOSE_MS ? "closed after idle timeout" : result.label;
      const key = `${fuzzCase.target}\t${fuzzCase.kind}\t${label}`;
      counts.set(key, (counts.get(key) ?? 0) + 1);
    };
    const failAfterProbe = async (index: number, fuzzCase: FuzzCase, problem: string) => {
      await probe(index, fuzzCase).catch((error: unknown) => {
        if (error instanceof FuzzFailure) throw new FuzzFailure(`${error.message.split("\n")[0]} — after: ${problem}\n${error.message.split("\n").slice(1).join("\n")}`);
        throw error;
      });
      fail(index, fuzzCase, problem);
    };
    // Lanes run cases side by side (the server commits their writes in one group); case `index` is still generated from (seed, index).
    let next = 0;
    let done = 0;
    const lane = async () => {
      while (next < options.cases) {
        const index = next++;
        const fuzzCase = generateCase(mulberry32(deriveSeed(options.seed, 1, index)), routes, world, index);
        if (fuzzCase.type === "http" && !fuzzCase.strict) {
          const task: Promise<void> = runCase(port, fuzzCase, timeoutMs).then((result) => {
            detached.delete(task);
            record(index, fuzzCase, result);
            if (result.problem !== null) detachedFailure ??= { index, fuzzCase, problem: result.problem };
          });
          detached.add(task);
          if (detached.size >= DETACHED_MAX) await Promise.race(detached);
        } else {
          const result = await runCase(port, fuzzCase, timeoutMs);
          record(index, fuzzCase, result);
          if (result.problem !== null) await failAfterProbe(index, fuzzCase, result.problem);
        }
        const failed = detachedFailure as { index: number; fuzzCase: FuzzCase; problem: string } | null;
        if (failed) await failAfterProbe(failed.index, failed.fuzzCase, failed.problem);
        const count = (done += 1); // other lanes count on while this one awaits its probe
        if (count % probeEvery === 0) {
          await probe(index, fuzzCase);
          if (count >= warmAfter && rss.warmBytes === 0) rss.warmBytes = rss.lastBytes;
          if (count % (probeEvery * 5) === 0) await restoreWorld(server, world);
        }
        if (count % 5000 === 0) say(`fuzz: ${count} cases, server RSS ${mib(rss.lastBytes)} MiB, ${((performance.now() - started) / 1000).toFixed(0)} s`);
      }
    };
    await Promise.all(Array.from({ length: concurrency }, lane));
    await Promise.all(detached);
    const failed = detachedFailure as { index: number; fuzzCase: FuzzCase; problem: string } | null;
    if (failed) await failAfterProbe(failed.index, failed.fuzzCase, failed.problem);
    await probe(null, null);
  } finally {
    if (server.child.exitCode === null && server.child.signalCode === null) server.child.kill("SIGTERM");
    await server.exited;
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
  return { seed: options.seed, cases: options.cases, counts, rss, ms: performance.now() - started };
}

function mib(bytes: number): string {
  return (bytes / 1024 / 1024).toFixed(1);
}

/** Counts by route, by kind and by outcome, as tables. */
export function summarize(report: FuzzReport): string {
  const by = (column: number) => {
    const totals = new Map<string, number>();
    for (const [key, count] of report.counts) {
      const names = column === 1 ? new Set(key.split("\t")[1]!.split("+")) : [key.split("\t")[column]!];
      for (const name of names) totals.set(name, (totals.get(name) ?? 0) + count);
    }
    return [...totals].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
  };
  const table = (title: string, rows: [string, number][]) => [`${title}`, ...rows.map(([name, count]) => `  ${String(count).padStart(8)}  ${name}`)].join("\n");
  const statusRows = by(2);
  return [
    `fuzz: seed ${report.seed}, ${report.cases} cases in ${(report.ms / 1000).toFixed(0)} s; server RSS after warm-up ${mib(report.rss.warmBytes)} MiB, at the end ${mib(report.rss.lastBytes)} MiB, peak ${mib(report.rss.peakBytes)} MiB`,
    table("by outcome (HTTP status, websocket result):", statusRows),
    table("by kind (a case has several: method, path, auth, body, framing; malformed and websocket kinds):", by(1)),
    table("by route:", by(0)),
  ].join("\n");
}

const FLAGS = {
  cases: { kind: "integer", min: 1, max: 100_000_000, describe: "cases to run (default 2000)" },
  seed: { kind: "integer", min: 0, max: 2 ** 31 - 1, describe: "seed (default: from the clock, printed)" },
  "timeout-ms": { kind: "integer", min: 100, max: 600_000, describe: "deadline of one request or websocket session (default 15000)" },
  concurrency: { kind: "integer", min: 1, max: 64, describe: "cases in flight at once (default 4)" },
  "probe-every": { kind: "integer", min: 1, max: 1_000_000, describe: "cases between liveness and memory probes (default 100)" },
  "rss-growth-mb": { kind: "integer", min: 1, max: 100_000, describe: "bound on the server's memory growth after warm-up, MiB (default 384)" },
} as const;

async function main(): Promise<void> {
  let flags;
  try {
    flags = parseFlags(process.argv.slice(2), FLAGS);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    console.error(`npm run fuzz -- [flags]: ${error.message}\n${describeFlags(FLAGS)}`);
    process.exit(2);
  }
  const seed = (flags.seed as number | undefined) ?? Date.now() % 2 ** 31;
  const counts = new Map<string, number>();
  const started = performance.now();
  process.once("SIGINT", () => {
    const ran = [...counts.values()].reduce((sum, count) => sum + count, 0);
    console.log(summarize({ seed, cases: ran, counts, rss: { warmBytes: 0, lastBytes: 0, peakBytes: 0 }, ms: performance.now() - started }));
    console.error(`fuzz: interrupted after ${ran} cases with seed ${seed}; no failure until then`);
    process.exit(130);
  });
  try {
    const report = await runFuzz({
      counts, seed, cases: (flags.cases as number | undefined) ?? 2000, timeoutMs: flags["timeout-ms"] as number | undefined, concurrency: flags.concurrency as number | undefined, probeEvery: flags["probe-every"] as number | undefined,
      rssGrowthBytesMax: flags["rss-growth-mb"] === undefined ? undefined : (flags["rss-growth-mb"] as number) * 1024 * 1024, say: (line) => console.log(line),
    });
    console.log(summarize(report));
  } catch (error) {
    const ran = [...counts.values()].reduce((sum, count) => sum + count, 0);
    console.log(summarize({ seed, cases: ran, counts, rss: { warmBytes: 0, lastBytes: 0, peakBytes: 0 }, ms: performance.now() - started }));
    console.error(error instanceof FuzzFailure ? error.message : error);
    console.error(`fuzz: FAILED with seed ${seed}`);
    process.exit(1);
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  await main();
}
