// Test support: a Nasty server in its own process (crashes show as its death), started as `npm start` or node would.
import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { START_MS_MAX, TEST_FETCH_SETTINGS, TEST_PASSWORD_SETTINGS } from "./server.ts";

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

export { START_MS_MAX };

export interface ChildServer {
  child: ChildProcess;
  url: string;
  /** Everything the process wrote so far, stdout and stderr interleaved. */
  output(): string;
  /** Resolves with the exit code (or signal) once the process has ended. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export interface ChildOptions {
  /** `npm start` (the README's command) or node on src/main.ts (the default). */
  via?: "npm" | "node";
  env?: Record<string, string>;
  /** Extra node flags before the script (node only), e.g. ["--require", preload]. */
  nodeFlags?: string[];
  startMsMax?: number;
}

/** The environment of a test server: loopback, ephemeral port, test password cost, no rate limit. */
export function childEnv(dataDir: string, env: Record<string, string> = {}): NodeJS.ProcessEnv {
  return { ...process.env, PORT: "0", HOST: "127.0.0.1", NASTY_DATA_DIR: dataDir, NASTY_RATE_LIMIT: "0", ...TEST_PASSWORD_SETTINGS, ...TEST_FETCH_SETTINGS, ...env };
}

/** Longest wait, once the process exited, for what it wrote last to be read from its pipes (a process it left behind may hold them open). */
const OUTPUT_DRAIN_MS_MAX = 5_000;

/**
 * Resolves with the exit code (or signal) once the process exited and its output was read: at
 * 'exit' its last lines (a refusal's message) may still be in the pipes, on a loaded machine too.
 */
function endedWithOutput(child: ChildProcess): ChildServer["exited"] {
  const closed = new Promise<void>((resolve) => child.once("close", () => resolve()));
  return new Promise((resolve) => {
    child.once("exit", (code, signal) => {
      let timer: NodeJS.Timeout | undefined;
      const drained = new Promise<void>((done) => (timer = setTimeout(done, OUTPUT_DRAIN_MS_MAX)));
      void Promise.race([closed, drained]).then(() => {
        clearTimeout(timer);
        resolve({ code, signal });
      });
    });
  });
}

/** Spawns a server and waits for its "listening on" line; rejects with its output if it exits first. */
export function spawnServer(dataDir: string, options: ChildOptions = {}): { child: ChildProcess; exited: ChildServer["exited"]; output(): string; listening: Promise<ChildServer> } {
  const env = childEnv(dataDir, options.env);
  const child = options.via === "npm"
    ? spawn("npm", ["start", "--silent"], { cwd: ROOT, env, stdio: ["ignore", "pipe", "pipe"] })
    : spawn(process.execPath, [...(options.nodeFlags ?? []), "--import", "tsx", "src/main.ts"], { cwd: ROOT, env, stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  child.stdout!.on("data", (chunk) => (output += chunk));
  child.stderr!.on("data", (chunk) => (output += chunk));
  const exited = endedWithOutput(child);
  const listening = new Promise<ChildServer>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL"); // never left behind
      reject(new Error(`server did not listen within ${options.startMsMax ?? START_MS_MAX} ms: ${output}`));
    }, options.startMsMax ?? START_MS_MAX);
    child.stdout!.on("data", () => {
      const match = /listening on (http:\/\/\S+)/.exec(output);
      if (!match) return;
      clearTimeout(timer);
      resolve({ child, url: match[1]!, output: () => output, exited });
    });
    void exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`server exited (${code ?? signal}) before listening: ${output}`));
    });
  });
  listening.catch(() => {});
  return { child, exited, output: () => output, listening };
}

export async function startChildServer(dataDir: string, options: ChildOptions = {}): Promise<ChildServer> {
  return spawnServer(dataDir, options).listening;
}

/** Pids of live processes whose environment names `dataDir` as theirs: the server and anything it left behind. */
export function processesOnDataDir(dataDir: string): number[] {
  const marker = `NASTY_DATA_DIR=${dataDir}`;
  const found: number[] = [];
  for (const entry of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const environ = fs.readFileSync(`/proc/${entry}/environ`, "latin1");
      const state = fs.readFileSync(`/proc/${entry}/stat`, "latin1");
      if (environ.split("\0").includes(marker) && !/\) Z /.test(state)) found.push(Number(entry));
    } catch {
      // gone meanwhile, or not ours to read
    }
  }
  return found;
}
