// The `nasty` command line: administration through the same command path, on the data directory's log.
import path from "node:path";
import { randomBytes } from "node:crypto";
import { loadConfig, ConfigError, type Config } from "./config.ts";
import { lockDataDir, DataDirLockedError } from "./log/lock.ts";
import { SqliteLog } from "./log/sqlite.ts";
import type { Store } from "./store/store.ts";
import { DataDirError, restoreState, Snapshotter, type Restored } from "./log/snapshots.ts";
import { Commands } from "./commands/commands.ts";
import { HttpError } from "./errors.ts";
import { EventVersionError } from "./event-upgrade.ts";
import { importCommand } from "./interop/import-cli.ts";

const USAGE = `usage: npm run nasty -- <command>
  user add NAME [--password PASSWORD]   create a user (sign-up may be closed) and print an API token
  token add NAME                        print a new API token for an existing user
  user delete NAME                      erase an account: its bookmarks, comments, tokens and the user
                                        (gone from every file at the next snapshot; run compact for now)
  compact                               snapshot now, then drop the log and older snapshots behind it:
                                        what was deleted leaves every file of the data directory
  import FILE --user NAME [--no-folders] [--public]
                                        import a Netscape bookmark file (browsers, Pinboard, linkding);
                                        its entries are private unless --public (or their own PRIVATE="0")
The server must not be running on the same data directory (NASTY_DATA_DIR, default ./data).`;

export class UsageError extends Error {
  override name = "UsageError";
}

export interface Offline {
  config: Config;
  store: Store;
  log: SqliteLog;
  commands: Commands;
  snapshots: Snapshotter;
  close(): Promise<void>;
}

/** Opens the data directory's log without a server: lock, replay, commands. */
export async function openOffline(config: Config): Promise<Offline> {
  const release = lockDataDir(config.dataDir);
  let store: Store;
  let log: SqliteLog;
  let restored: Restored;
  try {
    log = new SqliteLog({
      file: path.join(config.dataDir, "events.sqlite3"),
      nodeId: config.nodeId,
      onCommitted: (events) => events.forEach((event) => store.apply(event)),
      queueEventsMax: config.logQueueEventsMax,
    });
  } catch (error) {
    release();
    throw error;
  }
  try {
    restored = await restoreState({ dataDir: config.dataDir, log, nodeId: config.nodeId, warn: (line) => console.error(`warning: ${line}`) });
  } catch (error) {
    void log.close().finally(release);
    throw error;
  }
  store = restored.store;
  const commands = new Commands(store, log, config);
  const quiet = () => {};
  // Without a server, Postgres is not followed here: the log keeps what it may not have (the server's flush sends it).
  const snapshots = new Snapshotter(
    { dataDir: config.dataDir, log, nodeId: config.nodeId, everyEvents: config.snapshotEveryEvents, intervalS: config.snapshotIntervalS, keepAfter: () => (config.databaseUrl ? 0 : null), say: quiet, warn: quiet },
    restored,
  );
  return {
    config, store, log, commands, snapshots,
    async close() {
      await log.close();
      release();
    },
  };
}

/** `--name value` options after the positional words. */
export function option(args: readonly string[], name: string): string | undefined {
  const index = args.indexOf(`--${name}`);
  if (index < 0) return undefined;
  const value = args[index + 1];
  if (value === undefined || value.startsWith("--")) throw new UsageError(`--${name} needs a value`);
  return value;
}

async function userAdd(offline: Offline, args: string[]): Promise<void> {
  const name = args[0];
  if (!name || name.startsWith("--")) throw new UsageError("user add needs a NAME");
  const given = option(args, "password");
  const password = given ?? randomBytes(12).toString("base64url");
  const { user, secret } = await offline.commands.register({ username: name, password }, "local", { ignoreClosedSignup: true });
  console.log(`created user ${user.username}`);
  if (!given) console.log(`password: ${password}`);
  console.log(`token: ${secret}`);
}

async function userDelete(offline: Offline, args: string[]): Promise<void> {
  const name = args[0];
  const user = name ? offline.store.userByName(name) : undefined;
  if (!user) throw new UsageError(name ? `no user named ${name}` : "user delete needs a NAME");
  await offline.commands.deleteAccount(user);
  console.log(`deleted user ${user.username}; run compact to erase it from the data directory now`);
}

async function compact(offline: Offline): Promise<void> {
  const before = offline.log.stats();
  await offline.log.drain();
  await offline.snapshots.takeNow(offline.store);
  const status = offline.snapshots.status();
  const after = offline.log.stats();
  console.log(`snapshot ${status.last_file ?? "(none: the log is empty)"} at seq ${status.last_seq}; log rows ${before.events} -> ${after.events}, compacted through seq ${after.compactedThrough}`);
  if (offline.config.databaseUrl) console.log("Postgres: the server's flush removes the compacted events there once it has them (start the server)");
}

async function tokenAdd(offline: Offline, args: string[]): Promise<void> {
  const name = args[0];
  const user = name ? offline.store.userByName(name) : undefined;
  if (!user) throw new UsageError(name ? `no user named ${name}` : "token add needs a NAME");
  const { secret } = await offline.commands.issueToken(user, "api", { name: "cli" });
  console.log(`token: ${secret}`);
}

/** Each command: the words that select it and what it does with the rest of the arguments. */
export const COMMANDS: { words: string[]; run: (offline: Offline, args: string[]) => Promise<void> }[] = [
  { words: ["user", "add"], run: userAdd },
  { words: ["user", "delete"], run: userDelete },
  { words: ["token", "add"], run: tokenAdd },
  { words: ["compact"], run: (offline) => compact(offline) },
  { words: ["import"], run: (offline, args) => importCommand(offline, args, (message) => new UsageError(message), option) },
];

export async function runCli(argv: string[]): Promise<number> {
  const command = COMMANDS.find((candidate) => candidate.words.every((word, index) => argv[index] === word));
  if (!command) {
    console.error(argv.length === 0 || argv[0] === "help" || argv[0] === "--help" ? USAGE : `unknown command '${argv.join(" ")}'\n${USAGE}`);
    return argv.length === 0 || argv[0] === "help" || argv[0] === "--help" ? 0 : 2;
  }
  let offline: Offline | null = null;
  try {
    offline = await openOffline(loadConfig());
    await command.run(offline, argv.slice(command.words.length));
    return 0;
  } catch (error) {
    if (error instanceof HttpError) {
      const fields = (error.extra.errors ?? {}) as Record<string, string[]>;
      const detail = Object.entries(fields).map(([field, messages]) => `${field} ${messages.join(", ")}`).join("; ");
      console.error(`error: ${detail || error.message}`);
      return 2;
    }
    if (error instanceof UsageError || error instanceof ConfigError || error instanceof DataDirLockedError || error instanceof DataDirError || error instanceof EventVersionError) {
      console.error(`error: ${error.message}`);
      return 2;
    }
    throw error;
  } finally {
    await offline?.close();
  }
}

process.exitCode = await runCli(process.argv.slice(2));
