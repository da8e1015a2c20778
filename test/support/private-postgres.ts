// Test support: a Postgres server of the test's own (initdb in a temp folder, its own port), which a test may restart, crash and start again without touching the shared one.
import fs from "node:fs";
import path from "node:path";
import { execFile, spawnSync } from "node:child_process";
import postgres from "postgres";
import { freePort } from "./cluster.ts";
import { tempDir } from "./server.ts";

/** Where Debian's postgresql packages put each major version's programs. */
const POSTGRES_LIB = "/usr/lib/postgresql";
/** pg_ctl's own bound on a start or stop (-t), and this process's on any one program (a little longer). */
const PG_CTL_WAIT_S = 60;
const PROGRAM_MS_MAX = (PG_CTL_WAIT_S + 30) * 1000;
/** The OS user Postgres runs as when the tests run as root (Postgres refuses to run as root). */
const POSTGRES_OS_USER = "postgres";

/** The newest installed version's bin folder holding initdb and pg_ctl, or null. */
function postgresBin(): string | null {
  const versions = fs.existsSync(POSTGRES_LIB) ? fs.readdirSync(POSTGRES_LIB).filter((name) => /^\d+(\.\d+)?$/.test(name)) : [];
  versions.sort((a, b) => Number(b) - Number(a));
  for (const version of versions) {
    const bin = path.join(POSTGRES_LIB, version, "bin");
    if (fs.existsSync(path.join(bin, "initdb")) && fs.existsSync(path.join(bin, "pg_ctl"))) return bin;
  }
  return null;
}

function isRoot(): boolean {
  return process.getuid?.() === 0;
}

/** The uid and gid of the postgres OS user, or null. */
function postgresUser(): { uid: number; gid: number } | null {
  const ids = ["-u", "-g"].map((flag) => spawnSync("id", [flag, POSTGRES_OS_USER], { encoding: "utf8" }));
  if (ids.some((id) => id.status !== 0)) return null;
  return { uid: Number(ids[0]!.stdout.trim()), gid: Number(ids[1]!.stdout.trim()) };
}

/**
 * Why a suite needing a private Postgres cannot run here, for `describe(…, { skip })`, or false
 * when it can. Under CI=true missing programs are an error, never a skip; elsewhere the reason is printed.
 */
export function privatePostgresSkip(suite: string): string | false {
  const missing = postgresBin() === null ? `initdb and pg_ctl are not under ${POSTGRES_LIB}/<version>/bin (apt-get install postgresql)` : isRoot() && postgresUser() === null ? `the tests run as root and there is no ${POSTGRES_OS_USER} OS user to run Postgres as (apt-get install postgresql)` : null;
  if (missing === null) return false;
  if (process.env.CI === "true") throw new Error(`${missing}; CI must run the ${suite}`);
  console.log(`# ${suite} skipped: ${missing}`);
  return missing;
}

export type ShutdownMode = "smart" | "fast" | "immediate";

/**
 * One Postgres server in a temp folder, on 127.0.0.1 and a port of its own, trust auth, fsync and
 * synchronous commit on (a crash must keep what was committed, as a real server's would). Its
 * programs run as the postgres OS user when the tests run as root. `destroy()` stops it and
 * deletes the folder; a test process that ends without it still stops the server on exit.
 */
export class PrivatePostgres {
  port = 0;
  private readonly root: string;
  private readonly dataDir: string;
  /** The socket and the server's log: a folder the server's user may write. */
  private readonly runDir: string;
  private running = false;
  private readonly stopOnExit = () => {
    if (this.running) spawnSync(...this.command("pg_ctl", ["stop", "-D", this.dataDir, "-m", "immediate", "-w", "-t", String(PG_CTL_WAIT_S)]));
  };

  private constructor(private readonly bin: string, private readonly owner: { uid: number; gid: number } | null) {
    this.root = tempDir("nasty-private-postgres-");
    this.dataDir = path.join(this.root, "data");
    this.runDir = path.join(this.root, "run");
    // mkdtemp makes the folder 0700: the server's user must be able to enter it.
    fs.chmodSync(this.root, 0o755);
    for (const dir of [this.dataDir, this.runDir]) {
      fs.mkdirSync(dir, { mode: 0o700 });
      if (owner) fs.chownSync(dir, owner.uid, owner.gid);
    }
  }

  /** A new server, initialised and started, with an empty database `nasty`. */
  static async create(): Promise<PrivatePostgres> {
    const bin = postgresBin();
    if (bin === null) throw new Error(`initdb is not under ${POSTGRES_LIB}/<version>/bin (apt-get install postgresql)`);
    const owner = isRoot() ? postgresUser() : null;
    if (isRoot() && owner === null) throw new Error(`the tests run as root and there is no ${POSTGRES_OS_USER} OS user to run Postgres as`);
    const server = new PrivatePostgres(bin, owner);
    try {
      // --no-sync: initdb's own files need no fsync (nothing here survives a power cut); the server runs with fsync on.
      await server.run("initdb", ["-D", server.dataDir, "-U", "postgres", "--auth=trust", "--encoding=UTF8", "--locale=C", "--no-sync"]);
      server.port = await freePort();
      fs.appendFileSync(path.join(server.dataDir, "postgresql.conf"), [
        "",
        "# A test's private server (test/support/private-postgres.ts).",
        "listen_addresses = '127.0.0.1'",
        `port = ${server.port}`,
        `unix_socket_directories = '${server.runDir}'`,
        "max_connections = 100",
        "shared_buffers = 16MB",
        "fsync = on",
        "synchronous_commit = on",
        "full_page_writes = on",
        "logging_collector = off",
        "",
      ].join("\n"));
      await server.start();
      const admin = postgres(server.url("postgres"), { max: 1, onnotice: () => {} });
      try {
        await admin.unsafe("CREATE DATABASE nasty");
      } finally {
        await admin.end({ timeout: 1 });
      }
      return server;
    } catch (error) {
      await server.destroy().catch(() => {});
      throw error;
    }
  }

  /** The URL of a database on this server (trust auth, user postgres). */
  url(database = "nasty"): string {
    return `postgres://postgres@127.0.0.1:${this.port}/${database}`;
  }

  /** The server's own log (what it said at each start, stop and crash recovery). */
  log(): string {
    try {
      return fs.readFileSync(path.join(this.runDir, "server.log"), "utf8");
    } catch {
      return "";
    }
  }

  async start(): Promise<void> {
    await this.run("pg_ctl", ["start", "-D", this.dataDir, "-l", path.join(this.runDir, "server.log"), "-w", "-t", String(PG_CTL_WAIT_S)]);
    this.running = true;
    process.on("exit", this.stopOnExit);
  }

  /** pg_ctl restart: stops with `mode` (fast: sessions ended, a checkpoint; immediate: no checkpoint, crash recovery at start) and starts again. */
  async restart(mode: ShutdownMode): Promise<void> {
    await this.run("pg_ctl", ["restart", "-D", this.dataDir, "-m", mode, "-l", path.join(this.runDir, "server.log"), "-w", "-t", String(PG_CTL_WAIT_S)]);
  }

  /** pg_ctl stop: the server is gone when this resolves (immediate: every process of it quit at once, as in a crash). */
  async stop(mode: ShutdownMode): Promise<void> {
    await this.run("pg_ctl", ["stop", "-D", this.dataDir, "-m", mode, "-w", "-t", String(PG_CTL_WAIT_S)]);
    this.running = false;
    process.off("exit", this.stopOnExit);
  }

  /** Stops the server (immediate: nothing of it is kept) and deletes its folder. */
  async destroy(): Promise<void> {
    if (this.running) await this.stop("immediate").catch(() => {});
    fs.rmSync(this.root, { recursive: true, force: true });
  }

  /** The command line that runs one of the server's programs, as the server's user. */
  private command(program: string, args: readonly string[]): [string, string[]] {
    const file = path.join(this.bin, program);
    return this.owner ? ["runuser", ["-u", POSTGRES_OS_USER, "--", file, ...args]] : [file, [...args]];
  }

  /** Runs one program (bounded), rejecting with what it printed when it fails. Asynchronous: the test's own writers keep going meanwhile. */
  private run(program: string, args: readonly string[]): Promise<void> {
    const [file, argv] = this.command(program, args);
    return new Promise((resolve, reject) => {
      // cwd: the server's user may not be able to enter this process's working directory.
      execFile(file, argv, { cwd: this.root, timeout: PROGRAM_MS_MAX, killSignal: "SIGKILL" }, (error, stdout, stderr) => {
        if (error) reject(new Error(`${program} ${args.join(" ")} failed (${error.message}):\n${stdout}${stderr}\n${this.log().split("\n").slice(-20).join("\n")}`));
        else resolve();
      });
    });
  }
}
