// The `nasty` command line: each command runs inside the server that uses the data directory, or here on the directory itself.
import fs from "node:fs";
import path from "node:path";
import { loadConfig, type Config } from "./config.ts";
import { lockDataDir } from "./log/lock.ts";
import { SqliteLog } from "./log/sqlite.ts";
import type { Store } from "./store/store.ts";
import { restoreState, Snapshotter } from "./log/snapshots.ts";
import { freshSearchSections, SNAPSHOT_JOB } from "./search/snapshot-section.ts";
import { Commands } from "./commands/commands.ts";
import { answer, findCommand, UsageError, USAGE, type BaseContext, type CliCommand, type Output, type StateContext } from "./cli/commands.ts";
import { sendToServer } from "./cli/socket.ts";

const terminal: Output = {
  out: (line) => console.log(line),
  err: (line) => console.error(line),
};

/**
 * Opens the data directory's log without a server (lock, replay, commands) and runs `body` on it.
 * Nobody else compacts the log while this process holds the lock.
 */
async function withOpenDataDir(base: BaseContext, body: (context: StateContext) => Promise<void>): Promise<void> {
  const { config } = base;
  const release = lockDataDir(config.dataDir);
  let log: SqliteLog | null = null;
  try {
    // Assigned when the state is restored (newest valid snapshot, then the log after it), before anything commits.
    let store: Store | null = null;
    log = new SqliteLog({
      file: path.join(config.dataDir, "events.sqlite3"),
      nodeId: config.nodeId,
      onCommitted: (events) => events.forEach((event) => store!.apply(event)),
      queueEventsMax: config.logQueueEventsMax,
    });
    const restored = await restoreState({ dataDir: config.dataDir, log, nodeId: config.nodeId, warn: (line) => base.io.err(`warning: ${line}`) });
    store = restored.store;
    const commands = new Commands(store, log, config);
    const quiet = () => {};
    // Without a server, Postgres is not followed here: the log keeps what it may not have yet (the server's flush sends it).
    const snapshots = new Snapshotter(
      { dataDir: config.dataDir, log, nodeId: config.nodeId, everyEvents: config.snapshotEveryEvents, intervalS: config.snapshotIntervalS, keepAfter: () => (config.databaseUrl ? 0 : null),
        job: SNAPSHOT_JOB, sections: () => freshSearchSections(store!), say: quiet, warn: quiet },
      restored,
    );
    await body({ ...base, store, log, commands, snapshots, snapshotNow: () => snapshots.takeNow(store!), holdCompaction: () => () => {} });
  } finally {
    await log?.close();
    release();
  }
}

/** Runs `command` in this process, opening what it needs of the data directory. */
async function runHere(command: CliCommand, args: string[], base: BaseContext): Promise<void> {
  switch (command.opens) {
    case "nothing":
      return command.run(base, args);
    case "files": {
      if (!fs.existsSync(base.config.dataDir)) throw new UsageError(`there is no data directory ${base.config.dataDir}`);
      const release = lockDataDir(base.config.dataDir);
      try {
        return await command.run({ ...base, holdCompaction: () => () => {} }, args);
      } finally {
        release();
      }
    }
    case "state":
      return withOpenDataDir(base, (context) => command.run(context, args));
  }
}

export async function runCli(argv: string[]): Promise<number> {
  const found = findCommand(argv);
  if (!found) {
    const help = argv.length === 0 || argv[0] === "help" || argv[0] === "--help";
    console.error(help ? USAGE : `unknown command '${argv.join(" ")}'\n${USAGE}`);
    return help ? 0 : 2;
  }
  const { command, args } = found;
  let config: Config | null = null;
  let input: Record<string, string> = {};
  const prepared = await answer(terminal, async () => {
    config = loadConfig();
    input = (await command.gather?.(args)) ?? {};
  });
  if (prepared !== 0 || config === null) return prepared;
  const base: BaseContext = { config, cwd: process.cwd(), input, io: terminal };
  let remote: number | null = null;
  const reached = await answer(terminal, async () => {
    remote = await sendToServer(base.config.dataDir, { argv, cwd: base.cwd, input }, terminal);
  });
  if (reached !== 0) return reached;
  if (remote !== null) return remote;
  return answer(terminal, () => runHere(command, args, base));
}

process.exitCode = await runCli(process.argv.slice(2));
