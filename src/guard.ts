// The one guard: every HTTP route, websocket callback and timer runs inside it; an unexpected exception is logged with its stack under an id, answered (500, close 1011) or dropped, and the process keeps serving.
import { randomBytes } from "node:crypto";
import type { WebSocket, WebSocketBehavior } from "uWebSockets.js";
import { logger } from "./logger.ts";

/** Four random characters per process run, so ids of two runs (and two nodes) do not collide. */
const ID_PREFIX = randomBytes(3).toString("base64url");
let idCounter = 0;

/** A short id for a request (or a socket's or timer's failure): the run's prefix and a counter, e.g. `Xk3f-1a2`. */
export function newRequestId(): string {
  idCounter += 1;
  return `${ID_PREFIX}-${idCounter.toString(36)}`;
}

/** Work that answers someone: an HTTP exchange or a websocket handshake. */
export interface Guarded {
  readonly requestId: string;
  /** Answers `error`: an operating error as the route answers it, anything else logged and 500. */
  fail(error: unknown): void;
  /** Gives up on the answer when even `fail` failed (closes the connection unless it is gone). */
  abandon(): void;
}

function failSafely(target: Guarded, error: unknown): void {
  try {
    target.fail(error);
  } catch (second) {
    logger.error({ request_id: target.requestId, err: second, first: String(error) }, "the error answer failed; closing the connection");
    try {
      target.abandon();
    } catch (third) {
      logger.error({ request_id: target.requestId, err: third }, "closing the connection failed");
    }
  }
}

/** The one catch: what `work` throws, or the promise it returns rejects with, goes to `onError`. */
function runGuarded(work: () => unknown, onError: (error: unknown) => void): void {
  try {
    const result = work();
    if (result instanceof Promise) result.catch(onError);
  } catch (error) {
    onError(error);
  }
}

/**
 * Runs `work` for `target`: whatever it throws, or the promise it returns rejects with, goes to
 * `target.fail`, and if that throws too the connection is abandoned. Nothing reaches uWS (an
 * exception there ends the process) or becomes an unhandled rejection.
 */
export function guard(target: Guarded, work: () => unknown): void {
  runGuarded(work, (error) => failSafely(target, error));
}

/** Close code of a socket whose callback failed: 1011, the server met an unexpected condition. */
export const CLOSE_INTERNAL_ERROR = 1011;

function socketFailed(pattern: string, callback: string, ws: WebSocket<unknown>, error: unknown): void {
  const requestId = newRequestId();
  logger.error({ request_id: requestId, socket: pattern, callback, err: error }, "unexpected error in a websocket callback; closing that socket");
  if (callback === "close") return;
  try {
    ws.end(CLOSE_INTERNAL_ERROR, `internal error ${requestId}`);
  } catch {
    // Already closed: uWS refuses access to a closed socket, and there is nothing left to end.
  }
}

type SocketCallback = (ws: WebSocket<unknown>, ...rest: unknown[]) => unknown;

const SOCKET_CALLBACKS = ["open", "message", "drain", "close", "ping", "pong", "subscription"] as const;

/** The socket's callbacks (all but `upgrade`, which the router guards as a request) each behind the guard: a failure is logged and closes that socket with 1011. */
export function guardSocketCallbacks<UserData>(pattern: string, behavior: WebSocketBehavior<UserData>): WebSocketBehavior<UserData> {
  const guardedBehavior: Record<string, unknown> = { ...behavior };
  for (const name of SOCKET_CALLBACKS) {
    const fn = behavior[name] as SocketCallback | undefined;
    if (fn) guardedBehavior[name] = (ws: WebSocket<unknown>, ...rest: unknown[]) => runGuarded(() => fn(ws, ...rest), (error) => socketFailed(pattern, name, ws, error));
  }
  return guardedBehavior as WebSocketBehavior<UserData>;
}

/** `fn` behind the guard, for a timer: a failure is logged under `name` and the timer goes on. */
export function guarded(name: string, fn: () => unknown): () => void {
  const failed = (error: unknown) => logger.error({ request_id: newRequestId(), timer: name, err: error }, "unexpected error in a timer");
  return () => runGuarded(fn, failed);
}
