// The `nasty` command line: administration through the same command path, on the data directory's log.
import path from "node:path";
import { randomBytes } from "node:crypto";
import { loadConfig, ConfigError, type Config } from "./config.ts";
import { lockDataDir, DataDirLockedError } from "./log/lock.ts";
import { SqliteLog } from "./log/sqlite.ts";
import { Store } from "./store/store.ts";
import { Commands } from "./commands/commands.ts";
import { HttpError } from "./errors.ts";
import { importCommand } from "./interop/import-cli.ts";

const USAGE = `usage: npm run nasty -- <command>
  user add NAME [--password PASSWORD]   create a user (sign-up may be closed) and print an API token
  token add NAME                        print a new API token for an existing user
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
  close(): Promise<void>;
}

/** Opens the data directory's log without a server: lock, replay, commands. */
export function openOffline(config: Config): Offline {
  const release = lockDataDir(config.dataDir);
  const store = new Store(config.nodeId);
  let log: SqliteLog;
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
  log.replay((event) => store.apply(event));
  const commands = new Commands(store, log, config);
  return {
    config, store, log, commands,
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
  { words: ["token", "add"], run: tokenAdd },
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
    offline = openOffline(loadConfig());
    await command.run(offline, argv.slice(command.words.length));
    return 0;
  } catch (error) {
    if (error instanceof HttpError) {
      const fields = (error.extra.errors ?? {}) as Record<string, string[]>;
      const detail = Object.entries(fields).map(([field, messages]) => `${field} ${messages.join(", ")}`).join("; ");
      console.error(`error: ${detail || error.message}`);
      return 2;
    }
    if (error instanceof UsageError || error instanceof ConfigError || error instanceof DataDirLockedError) {
      console.error(`error: ${error.message}`);
      return 2;
    }
    throw error;
  } finally {
    await offline?.close();
  }
}

process.exitCode = await runCli(process.argv.slice(2));
