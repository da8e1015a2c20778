// The `nasty` CLI's commands: one table, run inside the running server (over its socket) or by the CLI on an unused data directory.
import path from "node:path";
import { randomBytes } from "node:crypto";
import { ConfigError, type Config } from "../config.ts";
import { DataDirLockedError } from "../log/lock.ts";
import type { SqliteLog } from "../log/sqlite.ts";
import type { Store } from "../store/store.ts";
import { invitePath, type Commands } from "../commands/commands.ts";
import type { Snapshotter } from "../log/snapshots.ts";
import { HttpError } from "../errors.ts";
import { importCommand } from "../interop/import-cli.ts";
import { BackupError, restoreBackup, stateSeq, writeBackup } from "../log/backup.ts";
import { SeedRefused, seedCluster } from "../log/cluster-seed.ts";
import { readSecret, UsageError } from "./terminal.ts";
import { PageFetcher } from "../fetch/page-fetcher.ts";
import { LinkChecker } from "../fetch/link-jobs.ts";
export { UsageError };

export const USAGE = `usage: npm run nasty -- <command>
  user add NAME [--password PASSWORD]   create a user (sign-up may be closed) and print an API token
  user password NAME                    set a new password, typed at a prompt (not shown) or read from stdin
  token add NAME                        print a new API token for an existing user
  user delete NAME                      erase an account: its bookmarks, comments, tokens and the user
                                        (gone from every file at the next snapshot; run compact for now)
  user admin NAME                       make a user an admin (the first account is one already)
  user suspend NAME                     suspend a user: no log-in, tokens refused, what they wrote hidden
  user unsuspend NAME                   lift a suspension: everything they wrote is shown again
  signup open|closed|invite             switch sign-up now (NASTY_SIGNUP is only the value at the start)
  invite                                print a single-use invitation link (NASTY_PUBLIC_URL is its origin)
  compact                               snapshot now, then drop the log and older snapshots behind it:
                                        what was deleted leaves every file of the data directory
  import FILE --user NAME [--no-folders] [--public]
                                        import a Netscape bookmark file (browsers, Pinboard, linkding);
                                        its entries are private unless --public (or their own PRIVATE="0")
  links check                           check every saved link now (HEAD, then GET): broken ones show to
                                        their owners; needs NASTY_FETCH=on
  backup FILE [--force]                 write a consistent copy of all data to FILE (also while the server runs)
  restore FILE                          fill an empty data directory from a backup FILE
  cluster init                          move this single node into cluster mode: seed the cluster's
                                        Postgres (DATABASE_URL) from this data directory; server stopped
Commands run inside the server when one uses the data directory (NASTY_DATA_DIR, default ./data),
and on the directory itself when none does.`;


/** Where a command's output goes: the terminal, or the socket back to the CLI. */
export interface Output {
  out(line: string): void;
  err(line: string): void;
}

/** What every command gets: where it was asked from, what the CLI gathered first, where to print. */
export interface BaseContext {
  config: Config;
  /** The CLI's working directory: FILE arguments are relative to it. */
  cwd: string;
  /** Values the CLI read from its own terminal before the command ran (gather). */
  input: Readonly<Record<string, string>>;
  io: Output;
}

/** The data directory's files, held (offline: the lock; in the server: compaction held off on demand). */
export interface FilesContext extends BaseContext {
  holdCompaction(): () => void;
}

/** The replayed store and the one write path: the live ones inside the server. */
export interface StateContext extends FilesContext {
  store: Store;
  log: SqliteLog;
  commands: Commands;
  /** Snapshots and compaction (the server's own while it runs). */
  snapshots: Snapshotter;
  /** A snapshot of everything committed, compacted behind: on the snapshot thread in a server, here offline. */
  snapshotNow(): Promise<void>;
  /** The server's own address when no NASTY_PUBLIC_URL is set (invitation links). */
  listenUrl?: string;
  /** The server's link checker (so a pass asked for now keeps its one-request-per-host rule); absent offline. */
  checker?: LinkChecker;
}

/**
 * A command: the words that select it, what it needs opened, and what it does with the rest of
 * the arguments. `gather` runs in the CLI's own process first (it may read the terminal); what it
 * returns is the command's `input`, sent along to the server.
 */
export type CliCommand = { words: string[]; gather?: (args: string[]) => Promise<Record<string, string>>; serverRefusal?: string } & (
  | { opens: "state"; run: (context: StateContext, args: string[]) => Promise<void> }
  | { opens: "files"; run: (context: FilesContext, args: string[]) => Promise<void> }
  | { opens: "nothing"; serverRefusal: string; run: (context: BaseContext, args: string[]) => Promise<void> }
);

/** `--name value` options after the positional words. */
export function option(args: readonly string[], name: string): string | undefined {
  const index = args.indexOf(`--${name}`);
  if (index < 0) return undefined;
  const value = args[index + 1];
  if (value === undefined || value.startsWith("--")) throw new UsageError(`--${name} needs a value`);
  return value;
}

function positional(args: readonly string[], what: string): string {
  const value = args[0];
  if (!value || value.startsWith("--")) throw new UsageError(`${what}`);
  return value;
}

function existingUser(context: StateContext, args: readonly string[], command: string) {
  const name = positional(args, `${command} needs a NAME`);
  const user = context.store.userByName(name.trim().toLowerCase());
  if (!user) throw new UsageError(`no user named ${name}`);
  return user;
}

async function userAdd(context: StateContext, args: string[]): Promise<void> {
  const name = positional(args, "user add needs a NAME");
  const given = option(args, "password");
  const password = given ?? randomBytes(12).toString("base64url");
  const { user, secret } = await context.commands.register({ username: name, password }, "local", { ignoreClosedSignup: true });
  context.io.out(`created user ${user.username}`);
  if (!given) context.io.out(`password: ${password}`);
  context.io.out(`token: ${secret}`);
}

async function userPassword(context: StateContext, args: string[]): Promise<void> {
  const user = existingUser(context, args, "user password");
  await context.commands.setPassword(user, { password: context.input.password });
  context.io.out(`password changed for ${user.username}`);
}

/** Erases an account: its bookmarks, comments, tokens and the user (from every file at the next snapshot, or at `compact`). */
async function userDelete(context: StateContext, args: string[]): Promise<void> {
  const user = existingUser(context, args, "user delete");
  await context.commands.deleteAccount(user);
  context.io.out(`deleted user ${user.username}; run compact to erase it from the data directory now`);
}

/**
 * A snapshot now, then the log and older snapshots behind it dropped: what was deleted leaves
 * every file of the data directory. Inside a running server the snapshot is written on the
 * snapshot thread, as the routine ones are, so writes go on meanwhile.
 */
async function compact(context: StateContext): Promise<void> {
  const before = context.log.stats();
  await context.log.drain();
  await context.snapshotNow();
  const status = context.snapshots.status();
  const after = context.log.stats();
  context.io.out(`snapshot ${status.last_file ?? "(none: the log is empty)"} at seq ${status.last_seq}; log rows ${before.events} -> ${after.events}, compacted through seq ${after.compactedThrough}`);
  if (context.config.cluster) context.io.out("cluster: run on the leader, this snapshot was shared through Postgres and the cluster's log cut behind it (GET /api/status: cluster.last_cut); on a follower it compacts this data directory only");
  else if (context.config.databaseUrl) context.io.out("Postgres: the flush removes the compacted events there once it has them");
}

async function userAdmin(context: StateContext, args: string[]): Promise<void> {
  const user = existingUser(context, args, "user admin");
  await context.commands.setRole(null, user, "admin");
  context.io.out(`${user.username} is an admin`);
}

async function userSuspend(context: StateContext, args: string[], suspended: boolean): Promise<void> {
  const user = existingUser(context, args, suspended ? "user suspend" : "user unsuspend");
  await context.commands.setSuspended(null, user, suspended);
  context.io.out(suspended ? `suspended ${user.username}: they cannot log in, and what they wrote is hidden` : `${user.username} is no longer suspended`);
}

async function signup(context: StateContext, args: string[]): Promise<void> {
  const mode = positional(args, "signup needs a mode: open, closed or invite");
  const before = context.commands.signupMode;
  const after = await context.commands.setSignup(null, { mode });
  context.io.out(before === after ? `sign-up is already ${after}` : `sign-up is now ${after} (was ${before})`);
}

async function invite(context: StateContext): Promise<void> {
  const secret = await context.commands.createInvite(null);
  const origin = context.config.publicUrl || context.listenUrl || `http://${context.config.host.includes(":") ? `[${context.config.host}]` : context.config.host}:${context.config.port}`;
  context.io.out(`invitation (single use): ${origin}${invitePath(secret)}`);
  if (context.commands.signupMode !== "invite") context.io.out(`note: sign-up is ${context.commands.signupMode}; the invitation counts only while it is invite (npm run nasty -- signup invite)`);
}

async function tokenAdd(context: StateContext, args: string[]): Promise<void> {
  const user = existingUser(context, args, "token add");
  const { secret } = await context.commands.issueToken(user, "api", { name: "cli" });
  context.io.out(`token: ${secret}`);
}

/** One pass of the link checker now, with the server's settings (politeness included), recorded like the background's. */
async function linksCheck(context: StateContext): Promise<void> {
  const fetcher = new PageFetcher(context.config);
  if (!fetcher.enabled) throw new UsageError("fetching is off (NASTY_FETCH=off): no link is requested");
  const checker = context.checker ?? new LinkChecker({ store: context.store, commands: context.commands, fetcher, intervalS: 0 });
  const { checked, broken } = await checker.runPass();
  await context.log.drain();
  context.io.out(`checked ${checked} link${checked === 1 ? "" : "s"}: ${broken} broken`);
}

async function backup(context: FilesContext, args: string[]): Promise<void> {
  const file = path.resolve(context.cwd, positional(args, "backup needs a FILE to write"));
  const result = await writeBackup({ dataDir: context.config.dataDir, holdCompaction: context.holdCompaction }, file, { force: args.includes("--force") });
  context.io.out(`backup written to ${result.file}: ${result.files.length} files, ${result.bytes} bytes, up to seq ${stateSeq(result.lastSeq, result.files)}`);
}

async function restore(context: BaseContext, args: string[]): Promise<void> {
  const file = path.resolve(context.cwd, positional(args, "restore needs a backup FILE"));
  const result = await restoreBackup(file, context.config.dataDir);
  context.io.out(`restored ${result.files.length} files into ${context.config.dataDir}, up to seq ${stateSeq(result.lastSeq, result.files)}`);
}

/**
 * Moves this single node into cluster mode (run with its server stopped and DATABASE_URL set):
 * seeds the cluster's Postgres from this data directory (log/cluster-seed.ts). The cluster's log
 * starts with one event appended here, at the snapshot's seq: sign-up set to the mode in force
 * (NASTY_SIGNUP, or as switched), which keeps it and from then on pins it in the cluster's log.
 */
async function clusterInit(context: StateContext, args: string[]): Promise<void> {
  if (args.length > 0) throw new UsageError(`cluster init takes no arguments (got ${args.join(" ")}); the database is DATABASE_URL`);
  const { config } = context;
  if (config.databaseUrl === "") throw new UsageError("cluster init needs DATABASE_URL: the cluster's Postgres database (the one this node flushed into, or an empty one)");
  try {
    const seeded = await seedCluster({
      url: config.databaseUrl, nodeId: config.nodeId, dataDir: config.dataDir, log: context.log, store: context.store, batchEvents: config.flushBatchEvents,
      appendFirstEvent: async () => {
        await context.log.append([{ type: "signup.changed", payload: { mode: context.commands.signupMode } }]);
      },
      snapshotNow: context.snapshotNow,
      say: (line) => context.io.out(line),
    });
    context.io.out(`cluster seeded at seq ${seeded.seq}: the shared snapshot (${(seeded.bytes / 1048576).toFixed(1)} MiB) is current and the cluster's log starts at seq ${seeded.seq}`);
    const { filled } = seeded;
    context.io.out(filled !== null
      ? `the relational tables were filled from this node's state at seq ${seeded.seq}: ${filled.users} users, ${filled.bookmarks} bookmarks, ${filled.comments} comments`
      : `the relational tables were flushed through seq ${seeded.flushedBefore} by the single node; cluster init flushed the rest (${seeded.flushed} events) up to seq ${seeded.seq}`);
    context.io.out("next: start the nodes with NASTY_CLUSTER=on and this DATABASE_URL (this data directory may be the first node's, or use empty ones); do not start this single node on this database again");
  } catch (error) {
    if (error instanceof SeedRefused) throw new UsageError(error.message);
    throw error;
  }
}

export const COMMANDS: CliCommand[] = [
  { words: ["user", "add"], opens: "state", run: userAdd },
  {
    words: ["user", "password"], opens: "state", run: userPassword,
    gather: async (args) => {
      const name = positional(args, "user password needs a NAME");
      return { password: await readSecret(`new password for ${name}: `) };
    },
  },
  { words: ["token", "add"], opens: "state", run: tokenAdd },
  { words: ["user", "delete"], opens: "state", run: userDelete },
  { words: ["user", "admin"], opens: "state", run: userAdmin },
  { words: ["user", "suspend"], opens: "state", run: (context, args) => userSuspend(context, args, true) },
  { words: ["user", "unsuspend"], opens: "state", run: (context, args) => userSuspend(context, args, false) },
  { words: ["signup"], opens: "state", run: signup },
  { words: ["invite"], opens: "state", run: invite },
  { words: ["compact"], opens: "state", run: compact },
  { words: ["import"], opens: "state", run: (context, args) => importCommand(context, args, (message) => new UsageError(message), option) },
  { words: ["links", "check"], opens: "state", run: linksCheck },
  { words: ["backup"], opens: "files", run: backup },
  {
    words: ["cluster", "init"], opens: "state", run: clusterInit,
    serverRefusal: "cluster init moves a stopped single node into a cluster, and a running server is using this data directory; stop it first (its flush to Postgres finishes as it stops)",
  },
  { words: ["restore"], opens: "nothing", run: restore, serverRefusal: "restore fills an empty data directory, and a running server is using this one; stop it, or point NASTY_DATA_DIR at an empty folder" },
];

/** The command `argv` selects and the arguments after its words, or null. */
export function findCommand(argv: readonly string[]): { command: CliCommand; args: string[] } | null {
  const command = COMMANDS.find((candidate) => candidate.words.every((word, index) => argv[index] === word));
  return command ? { command, args: argv.slice(command.words.length) } : null;
}

/**
 * Runs `body` and turns what it throws into the CLI's answer: 0, 2 with `error: …` for every
 * operating error (bad input, a busy directory, a damaged backup), 1 with `error: …` otherwise.
 * The same on both paths, so a command answers alike with and without a server.
 */
export async function answer(io: Output, body: () => Promise<void>): Promise<number> {
  try {
    await body();
    return 0;
  } catch (error) {
    if (error instanceof HttpError) {
      const fields = (error.extra.errors ?? {}) as Record<string, string[]>;
      const detail = Object.entries(fields).map(([field, messages]) => `${field} ${messages.join(", ")}`).join("; ");
      io.err(`error: ${detail || error.message}`);
      return 2;
    }
    if (error instanceof UsageError || error instanceof ConfigError || error instanceof DataDirLockedError || error instanceof BackupError) {
      io.err(`error: ${error.message}`);
      return 2;
    }
    io.err(`error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    return 1;
  }
}

/** The server's live parts a command runs against when it arrives over the CLI socket. */
export type LiveParts = Omit<StateContext, "cwd" | "input" | "io">;

/** Runs one command inside the running server, with the CLI's working directory, input and output. */
export function runInServer(live: LiveParts, request: { argv: string[]; cwd: string; input: Record<string, string> }, io: Output): Promise<number> {
  const found = findCommand(request.argv);
  const context: StateContext = { ...live, cwd: request.cwd, input: request.input, io };
  return answer(io, async () => {
    if (!found) throw new UsageError(`unknown command '${request.argv.join(" ")}'`);
    const { command, args } = found;
    // A command that needs the data directory to itself (restore, cluster init) refuses a running server.
    if (command.serverRefusal !== undefined) throw new UsageError(command.serverRefusal);
    await command.run(context, args);
  });
}
