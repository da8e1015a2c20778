// Child processes of the bench: servers under test, the ceiling, the clients; each on its own thread.
import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const OUTPUT_LINES_KEPT = 40;
const STOP_GRACE_MS = 5000;

export interface ChildOptions {
  label: string;
  env?: Record<string, string>;
  /** Inherited variables to leave out (the servers under test get only the settings the bench chose). */
  dropEnv?: RegExp;
  nodeFlags?: string[];
  /** An IPC channel for request/answer messages. */
  ipc?: boolean;
  /** Raise the soft open-files limit to the hard one first: 10,000 websockets need more than 1,024. */
  raiseOpenFiles?: boolean;
}

function inherited(drop: RegExp | undefined): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([name]) => !drop?.test(name)));
}

/** Linux's USER_HZ: the unit of utime and stime in /proc/<pid>/stat. */
const CLOCK_TICKS_PER_SECOND = 100;

/** CPU seconds in user and in system (kernel) mode a process has used so far, every thread or only thread `thread`; null off Linux. */
export function cpuTimes(pid: number, thread?: number): { user: number; system: number } | null {
  try {
    const stat = fs.readFileSync(thread === undefined ? `/proc/${pid}/stat` : `/proc/${pid}/task/${thread}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return { user: Number(fields[11]) / CLOCK_TICKS_PER_SECOND, system: Number(fields[12]) / CLOCK_TICKS_PER_SECOND };
  } catch {
    return null;
  }
}

/** CPU seconds in user and system mode of each thread of a process, by thread id; empty off Linux. */
export function threadCpuTimes(pid: number): Map<number, { user: number; system: number }> {
  const threads = new Map<number, { user: number; system: number }>();
  let ids: string[] = [];
  try {
    ids = fs.readdirSync(`/proc/${pid}/task`);
  } catch {
    return threads;
  }
  for (const id of ids) {
    const times = cpuTimes(pid, Number(id));
    if (times) threads.set(Number(id), times);
  }
  return threads;
}

/** CPU seconds (user + system, every thread) a process has used so far; null off Linux. */
export function cpuSeconds(pid: number): number | null {
  const times = cpuTimes(pid);
  return times === null ? null : times.user + times.system;
}

const running = new Set<Child>();
process.once("exit", () => {
  for (const child of running) child.process.kill("SIGKILL");
});

/**
 * A TypeScript script run by node with tsx. Output is drained (and the last lines kept for error
 * messages) so a chatty child never blocks on a full pipe. Messages answer requests in order.
 */
export class Child {
  readonly process: ChildProcess;
  readonly exited: Promise<number | null>;
  private readonly output: string[] = [];
  private readonly lineWaiters: { pattern: RegExp; resolve: (match: RegExpMatchArray) => void }[] = [];
  private readonly messages: unknown[] = [];
  private readonly messageWaiters: ((message: unknown) => void)[] = [];
  private exitCode: number | null | undefined;

  constructor(script: string, args: string[], private readonly options: ChildOptions) {
    const node = [process.execPath, ...(options.nodeFlags ?? []), "--import", "tsx", path.resolve(ROOT, script), ...args];
    const [command, ...commandArgs] = options.raiseOpenFiles ? ["/bin/sh", "-c", 'ulimit -n "$(ulimit -Hn)" 2>/dev/null; exec "$@"', "sh", ...node] : node;
    this.process = spawn(command!, commandArgs, {
      cwd: ROOT,
      env: { ...inherited(options.dropEnv), ...options.env },
      stdio: ["ignore", "pipe", "pipe", ...(options.ipc ? (["ipc"] as const) : [])],
    });
    running.add(this);
    for (const stream of [this.process.stdout!, this.process.stderr!]) {
      let partial = "";
      stream.setEncoding("utf8");
      stream.on("data", (text: string) => {
        const lines = (partial + text).split("\n");
        partial = lines.pop()!;
        for (const line of lines) this.onLine(line);
      });
    }
    this.process.on("message", (message) => {
      const waiter = this.messageWaiters.shift();
      if (waiter) waiter(message);
      else this.messages.push(message);
    });
    this.exited = new Promise((resolve) => {
      this.process.once("exit", (code) => {
        running.delete(this);
        this.exitCode = code;
        resolve(code);
      });
    });
  }

  private onLine(line: string): void {
    this.output.push(line);
    if (this.output.length > OUTPUT_LINES_KEPT) this.output.shift();
    for (const [index, waiter] of this.lineWaiters.entries()) {
      const match = waiter.pattern.exec(line);
      if (match) {
        this.lineWaiters.splice(index, 1);
        waiter.resolve(match);
        return;
      }
    }
  }

  /** Null while it runs; once it has exited, how and its last output. */
  death(): string | null {
    return this.exitCode === undefined ? null : `${this.options.label} exited with code ${this.exitCode}; its last output:\n${this.tail()}`;
  }

  /** The last lines the child printed, for error messages. */
  tail(): string {
    return this.output.join("\n");
  }

  private failure(what: string): Error {
    const state = this.exitCode === undefined ? "still running" : `exited with code ${this.exitCode}`;
    return new Error(`${this.options.label}: ${what} (${state}); its last output:\n${this.tail()}`);
  }

  private bounded<T>(promise: Promise<T>, timeoutMs: number, what: string): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(this.failure(`no ${what} within ${timeoutMs} ms`)), timeoutMs);
    });
    const died = this.exited.then((): never => {
      throw this.failure(`died before ${what}`);
    });
    return Promise.race([promise, timeout, died]).finally(() => clearTimeout(timer));
  }

  waitForLine(pattern: RegExp, timeoutMs: number): Promise<RegExpMatchArray> {
    return this.bounded(new Promise((resolve) => this.lineWaiters.push({ pattern, resolve })), timeoutMs, `line matching ${pattern}`);
  }

  nextMessage<T>(timeoutMs: number): Promise<T> {
    const queued = this.messages.shift();
    if (queued !== undefined) return Promise.resolve(queued as T);
    return this.bounded(new Promise<T>((resolve) => this.messageWaiters.push(resolve as (message: unknown) => void)), timeoutMs, "answer");
  }

  /** Sends a request and waits for the child's answer to it. */
  request<T>(message: unknown, timeoutMs: number): Promise<T> {
    this.process.send!(message as object);
    return this.nextMessage<T>(timeoutMs);
  }

  /** SIGTERM, then SIGKILL if it has not exited after a grace period. */
  async stop(): Promise<void> {
    if (this.exitCode !== undefined) return;
    this.process.kill("SIGTERM");
    const timer = setTimeout(() => this.process.kill("SIGKILL"), STOP_GRACE_MS);
    await this.exited;
    clearTimeout(timer);
  }
}
