// Test support: the nasty CLI and the server as real child processes (never spawnSync: a server in this process must keep answering).
import { spawn, type ChildProcess } from "node:child_process";
import { TEST_FETCH_SETTINGS, TEST_PASSWORD_SETTINGS } from "./server.ts";
import { START_MS_MAX } from "./child-server.ts";

export interface CliRun {
  status: number | null;
  stdout: string;
  stderr: string;
}

const CLI_TIMEOUT_MS = 120_000;

/** Runs `npm run nasty -- …args` (src/cli.ts) on `dataDir`, writing `stdin` to it, and waits for it to end. */
export function runCli(dataDir: string, args: string[], options: { env?: Record<string, string>; stdin?: string; cwd?: string } = {}): Promise<CliRun> {
  const child = spawn(process.execPath, ["--import", import.meta.resolve("tsx"), `${process.cwd()}/src/cli.ts`, ...args], {
    env: { ...process.env, ...TEST_PASSWORD_SETTINGS, ...TEST_FETCH_SETTINGS, NASTY_DATA_DIR: dataDir, ...options.env },
    cwd: options.cwd ?? process.cwd(),
    stdio: ["pipe", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
  child.stdin.end(options.stdin ?? "");
  const timer = setTimeout(() => child.kill("SIGKILL"), CLI_TIMEOUT_MS);
  return new Promise((resolve, reject) => {
    child.on("error", reject);
    child.on("close", (status) => {
      clearTimeout(timer);
      resolve({ status, stdout, stderr });
    });
  });
}

export interface ServerProcess {
  url: string;
  child: ChildProcess;
  output(): string;
  stop(): Promise<void>;
}

/** Starts `npm start` (src/main.ts) on `dataDir` on a loopback port; resolves once it listens. */
export function startServerProcess(dataDir: string, env: Record<string, string> = {}): Promise<ServerProcess> {
  const child = spawn(process.execPath, ["--import", "tsx", "src/main.ts"], {
    env: { ...process.env, ...TEST_PASSWORD_SETTINGS, ...TEST_FETCH_SETTINGS, PORT: "0", HOST: "127.0.0.1", NASTY_RATE_LIMIT: "0", NASTY_DATA_DIR: dataDir, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  const exited = new Promise<void>((resolve) => child.on("exit", () => resolve()));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`the server did not start within ${START_MS_MAX} ms:\n${output}`));
    }, START_MS_MAX);
    const onOutput = (chunk: string) => {
      output += chunk;
      const listening = /listening on (http:\/\/\S+)/.exec(output);
      if (!listening) return;
      child.stdout!.off("data", onOutput);
      child.stdout!.on("data", (more: string) => (output += more));
      clearTimeout(timer);
      resolve({
        url: listening[1]!,
        child,
        output: () => output,
        stop: async () => {
          if (child.exitCode === null) child.kill("SIGTERM");
          await exited;
        },
      });
    };
    child.stdout!.setEncoding("utf8").on("data", onOutput);
    child.stderr!.setEncoding("utf8").on("data", (chunk: string) => (output += chunk));
    child.on("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`the server exited with ${code} before listening:\n${output}`));
    });
  });
}
