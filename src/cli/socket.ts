// The CLI socket: a Unix socket in the data directory, owner-only, through which the CLI runs commands inside the server.
import fs from "node:fs";
import net from "node:net";
import path from "node:path";
import type { Output } from "./commands.ts";
import { guarded } from "../guard.ts";

/**
 * The protocol, newline-delimited JSON, one request per connection:
 *   CLI → server: {"argv":["user","add","alice"],"cwd":"/home/me","input":{}}\n
 *   server → CLI: {"out":"a line for stdout"}\n | {"err":"a line for stderr"}\n … then {"exit":N}\n and the end.
 * A request that is not one such line within REQUEST_BYTES_MAX bytes and REQUEST_WAIT_MS is answered
 * {"err":"error: bad request: …"} and {"exit":2}; nothing a client sends stops the server.
 */
export const SOCKET_FILE = "nasty.sock";
export const REQUEST_BYTES_MAX = 64 * 1024;
const REQUEST_WAIT_MS = 10_000;
const ARGS_MAX = 64;
const CONNECTIONS_MAX = 16;
/** The longest answer line the CLI accepts (an import's problem list is long but bounded). */
const ANSWER_LINE_BYTES_MAX = 16 * 1024 * 1024;

export interface CliRequest {
  argv: string[];
  cwd: string;
  input: Record<string, string>;
}

export function socketPath(dataDir: string): string {
  return path.join(dataDir, SOCKET_FILE);
}

/** Why `value` is not a CliRequest, or null. */
function requestProblem(value: unknown): string | null {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return "the request is not a JSON object";
  const { argv, cwd, input } = value as Record<string, unknown>;
  if (!Array.isArray(argv) || argv.length === 0 || argv.length > ARGS_MAX || !argv.every((word) => typeof word === "string")) return `argv must be a list of 1 to ${ARGS_MAX} strings`;
  if (typeof cwd !== "string" || !path.isAbsolute(cwd)) return "cwd must be an absolute path";
  if (typeof input !== "object" || input === null || Array.isArray(input) || !Object.values(input).every((entry) => typeof entry === "string")) return "input must be an object of strings";
  return null;
}

export interface CliSocket {
  close(): Promise<void>;
}

/**
 * Listens on the data directory's socket, readable and writable by this user alone (bound under
 * umask 0177, then chmod 0600). The caller holds the data directory's lock, so a socket file
 * already there is stale and is removed. Each request runs `run` with the request's output.
 */
export function listenCliSocket(dataDir: string, run: (request: CliRequest, io: Output) => Promise<number>, warn: (line: string) => void): CliSocket {
  const file = socketPath(dataDir);
  fs.rmSync(file, { force: true });
  const connections = new Set<net.Socket>();
  // Half-open: a CLI may end its side after the request; the answer still goes back.
  const server = net.createServer({ allowHalfOpen: true }, (socket) => serve(socket, run, connections));
  server.maxConnections = CONNECTIONS_MAX;
  server.on("error", (error) => warn(`the CLI socket ${file} failed (${error.message}); the CLI cannot reach this server`));
  const umask = process.umask(0o177);
  try {
    server.listen(file);
  } finally {
    process.umask(umask);
  }
  try {
    fs.chmodSync(file, 0o600);
  } catch {
    // not bound (a path too long, say): the error event above says so
  }
  let closing: Promise<void> | null = null;
  return {
    close() {
      closing ??= new Promise<void>((resolve) => {
        for (const socket of connections) socket.destroy();
        server.close(() => resolve());
        fs.rmSync(file, { force: true });
      });
      return closing;
    },
  };
}

function serve(socket: net.Socket, run: (request: CliRequest, io: Output) => Promise<number>, connections: Set<net.Socket>): void {
  connections.add(socket);
  let buffered = "";
  let started = false;
  const send = (message: Record<string, unknown>) => {
    if (!socket.destroyed && socket.writable) socket.write(`${JSON.stringify(message)}\n`);
  };
  const io: Output = { out: (line) => send({ out: line }), err: (line) => send({ err: line }) };
  const refuse = (problem: string) => {
    started = true;
    io.err(`error: bad request: ${problem}`);
    send({ exit: 2 });
    socket.end();
  };
  const timer = setTimeout(guarded("cli request wait", () => refuse(`no complete request line within ${REQUEST_WAIT_MS} ms`)), REQUEST_WAIT_MS);
  socket.setEncoding("utf8");
  socket.on("error", () => socket.destroy());
  socket.on("end", () => {
    if (started) return;
    clearTimeout(timer);
    started = true;
    socket.end();
  });
  socket.on("close", () => {
    clearTimeout(timer);
    connections.delete(socket);
  });
  socket.on("data", (chunk: string) => {
    if (started) return;
    buffered += chunk;
    const end = buffered.indexOf("\n");
    if (end < 0) {
      if (buffered.length > REQUEST_BYTES_MAX) {
        clearTimeout(timer);
        refuse(`the request line is longer than ${REQUEST_BYTES_MAX} bytes`);
      }
      return;
    }
    clearTimeout(timer);
    started = true;
    let request: unknown;
    try {
      request = JSON.parse(buffered.slice(0, end));
    } catch {
      return refuse("the request line is not JSON");
    }
    const problem = requestProblem(request);
    if (problem) return refuse(problem);
    run(request as CliRequest, io).then(
      (code) => send({ exit: code }),
      (error: unknown) => {
        io.err(`error: ${error instanceof Error ? error.message : String(error)}`);
        send({ exit: 1 });
      },
    ).finally(() => socket.end());
  });
}

/**
 * Sends `request` to the server listening on `dataDir`'s socket and prints its answer. Resolves
 * with the exit code, or null when no server listens there (no socket file, or nobody accepts).
 */
export function sendToServer(dataDir: string, request: CliRequest, io: Output): Promise<number | null> {
  return new Promise((resolve, reject) => {
    const socket = net.createConnection(socketPath(dataDir));
    let connected = false;
    let exit: number | null = null;
    let buffered = "";
    socket.setEncoding("utf8");
    socket.on("connect", () => {
      connected = true;
      socket.write(`${JSON.stringify(request)}\n`);
    });
    socket.on("data", (chunk: string) => {
      buffered += chunk;
      for (let end = buffered.indexOf("\n"); end >= 0; end = buffered.indexOf("\n")) {
        const line = buffered.slice(0, end);
        buffered = buffered.slice(end + 1);
        let message: { out?: string; err?: string; exit?: number };
        try {
          message = JSON.parse(line) as typeof message;
        } catch {
          socket.destroy(new Error("the server answered a line that is not JSON"));
          return;
        }
        if (typeof message.out === "string") io.out(message.out);
        if (typeof message.err === "string") io.err(message.err);
        if (typeof message.exit === "number") exit = message.exit;
      }
      if (buffered.length > ANSWER_LINE_BYTES_MAX) socket.destroy(new Error(`the server sent a line longer than ${ANSWER_LINE_BYTES_MAX} bytes`));
    });
    socket.on("error", (error: NodeJS.ErrnoException) => {
      if (!connected && (error.code === "ENOENT" || error.code === "ECONNREFUSED" || error.code === "ENOTDIR")) resolve(null);
      else reject(new Error(`the server's CLI socket failed: ${error.message}`));
    });
    socket.on("close", () => {
      if (!connected) return;
      if (exit === null) reject(new Error("the server closed the CLI socket before the command finished"));
      else resolve(exit);
    });
  });
}
