// `npm run simulate`: the simulator as an external load generator against another server's HTTP API.
import { randomBytes } from "node:crypto";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { bundledCorpus } from "./corpus.ts";
import { describeFlags, parseFlags, UsageError, type FlagValues } from "./args.ts";
import { ACTIONS_PER_STEP_MAX, Runner, type Driver, type RunnerStats } from "./runner.ts";
import { SIMULATED_USERNAMES, SIMULATED_USERS_MAX, TrafficPlan, type BookmarkChanges, type BookmarkDraft, type Target } from "./traffic.ts";

const FLAGS = {
  url: { kind: "string", describe: "base URL of the Nasty server (http:// or https://)" },
  rate: { kind: "integer", min: 1, max: 100_000, describe: "bookmarks per second (each with its comments, edits, deletes)" },
  seconds: { kind: "integer", min: 1, max: 3600, describe: "how long to send traffic (default 10)" },
  token: { kind: "string", repeatable: true, describe: "API token to act as (repeat or comma-separate for several users); without one, fresh sim- users sign up" },
  users: { kind: "integer", min: 1, max: SIMULATED_USERS_MAX, describe: "users to sign up when no --token is given (default 8)" },
  seed: { kind: "integer", min: 0, max: 2 ** 31 - 1, describe: "seed of the traffic (default 1)" },
  concurrency: { kind: "integer", min: ACTIONS_PER_STEP_MAX, max: 10_000, describe: "requests in flight at most (default 64)" },
  json: { kind: "switch", describe: "print the summary as one JSON object" },
  help: { kind: "switch", describe: "show this help" },
} as const;

const REQUEST_TIMEOUT_MS = 10_000;
const RECENT_PUBLIC_MAX = 200;
const OWN_RECENT_MAX = 50;

export interface Account {
  username: string;
  token: string;
}

export interface Reply {
  status: number;
  json: any;
}

/** The base URL, or a UsageError saying why it is not one. */
export function parseBaseUrl(raw: string | undefined): URL {
  if (raw === undefined) throw new UsageError("--url is required: the Nasty server to send traffic to, e.g. --url http://127.0.0.1:4000");
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new UsageError(`--url '${raw.slice(0, 80)}' is not a URL; expected e.g. http://127.0.0.1:4000`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") throw new UsageError(`--url must be an http:// or https:// URL, got ${url.protocol}// ('${raw.slice(0, 80)}')`);
  return url;
}

/** A small JSON client over fetch (keep-alive is fetch's default); every request has a deadline. */
export class ApiClient {
  /** Origin and path prefix, without a trailing slash: request paths are appended as they are. */
  private readonly root: string;

  constructor(base: URL) {
    this.root = base.origin + base.pathname.replace(/\/+$/, "");
  }

  async send(method: string, pathname: string, token: string | null, body?: unknown): Promise<Reply> {
    const headers: Record<string, string> = {};
    if (token) headers.authorization = `Bearer ${token}`;
    if (body !== undefined) headers["content-type"] = "application/json";
    const response = await fetch(this.root + pathname, {
      method, headers, body: body === undefined ? undefined : JSON.stringify(body), signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });
    const text = await response.text();
    let json: unknown = null;
    try {
      json = text === "" ? null : JSON.parse(text);
    } catch {
      json = null;
    }
    return { status: response.status, json };
  }
}

function pushBounded<T>(list: T[], item: T, max: number): void {
  list.push(item);
  if (list.length > max) list.shift();
}

interface Remembered extends Target {
  user: number;
  public: boolean;
}

/** Actions as HTTP requests; what it created is remembered (bounded) so later actions can aim at it. */
export class HttpDriver implements Driver {
  private readonly publicRecent: Remembered[] = [];
  private readonly own: Remembered[][];

  constructor(
    private readonly client: ApiClient,
    private readonly accounts: readonly Account[],
  ) {
    this.own = accounts.map(() => []);
  }

  private token(user: number): string {
    const account = this.accounts[user];
    if (!account) throw new RangeError(`no account ${user}`);
    return account.token;
  }

  async create(user: number, draft: BookmarkDraft): Promise<number> {
    const { title, url, description, notes, tags } = draft;
    const reply = await this.client.send("POST", "/api/bookmarks", this.token(user), { bookmark: { title, url, description, notes, public: draft.public, tags } });
    const data = reply.json?.bookmark?.data;
    if (reply.status === 201 && typeof data?.id === "number") this.remember({ id: data.id, title: data.title, tags: data.tags ?? [], public: data.public === true, user });
    return reply.status;
  }

  async comment(user: number, target: Target, body: string): Promise<number> {
    return (await this.client.send("POST", `/api/bookmarks/${target.id}/comments`, this.token(user), { comment: { body } })).status;
  }

  async edit(user: number, target: Target, changes: BookmarkChanges): Promise<number> {
    const reply = await this.client.send("PATCH", `/api/bookmarks/${target.id}`, this.token(user), { bookmark: changes });
    const data = reply.json?.bookmark?.data;
    if (reply.status === 200 && data) this.update(target.id, { title: data.title, tags: data.tags ?? [] });
    return reply.status;
  }

  async delete(user: number, target: Target): Promise<number> {
    const reply = await this.client.send("DELETE", `/api/bookmarks/${target.id}`, this.token(user));
    if (reply.status === 204 || reply.status === 404) this.forget(target.id);
    return reply.status;
  }

  recentPublic(): readonly Target[] {
    return this.publicRecent;
  }

  ownRecent(user: number): readonly Target[] {
    return this.own[user] ?? [];
  }

  private remember(bookmark: Remembered): void {
    if (bookmark.public) pushBounded(this.publicRecent, bookmark, RECENT_PUBLIC_MAX);
    const own = this.own[bookmark.user];
    if (own) pushBounded(own, bookmark, OWN_RECENT_MAX);
  }

  private update(id: number, fields: Pick<Remembered, "title" | "tags">): void {
    for (const list of [this.publicRecent, ...this.own]) {
      const index = list.findIndex((bookmark) => bookmark.id === id);
      if (index >= 0) list[index] = { ...list[index]!, ...fields };
    }
  }

  private forget(id: number): void {
    for (const list of [this.publicRecent, ...this.own]) {
      const index = list.findIndex((bookmark) => bookmark.id === id);
      if (index >= 0) list.splice(index, 1);
    }
  }
}

class RunError extends Error {
  override name = "RunError";
}

function describeReply(reply: Reply): string {
  const message = reply.json?.error ?? reply.json?.message;
  return `${reply.status}${typeof message === "string" ? `: ${message}` : ""}`;
}

async function reach<T>(base: URL, attempt: () => Promise<T>): Promise<T> {
  try {
    return await attempt();
  } catch (error) {
    const cause = error instanceof Error && error.cause instanceof Error ? error.cause.message : error instanceof Error ? error.message : String(error);
    throw new RunError(`cannot reach ${base.href}: ${cause}`);
  }
}

/** The accounts to act as: the tokens given (checked with GET /api/me), or fresh sim- users signed up. */
async function accountsFor(client: ApiClient, base: URL, tokens: readonly string[], users: number): Promise<Account[]> {
  if (tokens.length > SIMULATED_USERS_MAX) throw new UsageError(`at most ${SIMULATED_USERS_MAX} tokens, got ${tokens.length}`);
  if (tokens.length > 0) {
    return Promise.all(tokens.map(async (token, index) => {
      const reply = await reach(base, () => client.send("GET", "/api/me", token));
      if (reply.status !== 200) throw new RunError(`token ${index + 1} was refused (${describeReply(reply)})`);
      return { username: String(reply.json.user.username), token };
    }));
  }
  const run = randomBytes(3).toString("hex");
  return Promise.all(SIMULATED_USERNAMES.slice(0, users).map(async (name) => {
    const username = `${name}-${run}`;
    const reply = await reach(base, () => client.send("POST", "/api/users", null, { user: { username, password: randomBytes(18).toString("base64url") } }));
    if (reply.status !== 201) throw new RunError(`could not sign up ${username} (${describeReply(reply)}); pass --token to act as existing users`);
    return { username, token: String(reply.json.token) };
  }));
}

export interface Summary extends RunnerStats {
  url: string;
  seconds: number;
  requests: number;
  requests_per_s: number;
  users: string[];
}

function summaryLine(summary: Summary): string {
  const statuses = Object.entries(summary.statuses).map(([status, count]) => `${status} ×${count}`).join(", ");
  return [
    `[simulate] ${summary.requests} requests in ${summary.seconds.toFixed(1)} s to ${summary.url}: ${summary.requests_per_s.toFixed(1)} requests/s`,
    `  statuses: ${statuses || "none"}`,
    `  bookmarks created ${summary.created}, comments ${summary.commented}, edits ${summary.edited}, deletes ${summary.deleted}; refused ${summary.refused} (4xx), failed ${summary.failed} (5xx or no answer), steps skipped ${summary.skipped}`,
    ...(summary.last_error ? [`  last error: ${summary.last_error}`] : []),
  ].join("\n");
}

function summarize(base: URL, accounts: readonly Account[], stats: RunnerStats, seconds: number): Summary {
  const requests = Object.values(stats.statuses).reduce((sum, count) => sum + count, 0);
  return { ...stats, url: base.href, seconds, requests, requests_per_s: requests / Math.max(seconds, 1e-3), users: accounts.map((account) => account.username) };
}

/** Runs the whole load generation; returns the process exit code. */
export async function runCli(argv: readonly string[]): Promise<number> {
  let flags: FlagValues;
  let base: URL;
  try {
    flags = parseFlags(argv, FLAGS);
    if (flags.help) {
      console.log(`npm run simulate -- --url http://host:4000 [flags]\n${describeFlags(FLAGS)}`);
      return 0;
    }
    base = parseBaseUrl(flags.url as string | undefined);
  } catch (error) {
    if (error instanceof UsageError) {
      console.error(`[simulate] ${error.message}`);
      return 2;
    }
    throw error;
  }
  const tokens = ((flags.token as string[] | undefined) ?? []).flatMap((value) => value.split(",")).map((token) => token.trim()).filter((token) => token !== "");
  const client = new ApiClient(base);
  let accounts: Account[];
  try {
    accounts = await accountsFor(client, base, tokens, (flags.users as number | undefined) ?? 8);
  } catch (error) {
    if (error instanceof RunError || error instanceof UsageError) {
      console.error(`[simulate] ${error.message}`);
      return error instanceof UsageError ? 2 : 1;
    }
    throw error;
  }
  const rate = (flags.rate as number | undefined) ?? 50;
  const seconds = (flags.seconds as number | undefined) ?? 10;
  const seed = (flags.seed as number | undefined) ?? 1;
  const plan = new TrafficPlan(bundledCorpus(), seed, accounts.length);
  const runner = new Runner(plan, new HttpDriver(client, accounts), {
    rate, inFlightMax: (flags.concurrency as number | undefined) ?? 64, durationMs: seconds * 1000,
    say: (line) => console.error(`[simulate] ${line}`),
  });
  console.error(`[simulate] ${rate} bookmarks/s for ${seconds} s to ${base.href} as ${accounts.map((account) => account.username).join(", ")} (seed ${seed})`);
  const startedMs = performance.now();
  const stop = () => void runner.stop();
  process.once("SIGINT", stop);
  runner.start();
  await runner.finished;
  process.off("SIGINT", stop);
  const summary = summarize(base, accounts, runner.stats(), (performance.now() - startedMs) / 1000);
  console.log(flags.json ? JSON.stringify(summary) : summaryLine(summary));
  return summary.created > 0 ? 0 : 1;
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  process.exitCode = await runCli(process.argv.slice(2));
}
