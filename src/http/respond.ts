// Writing answers to uWS responses: status lines, headers, cork after await, and HttpError → answer in one place.
import type { HttpResponse } from "uWebSockets.js";
import { HttpError } from "../errors.ts";
import { requestAnswered, type RequestTiming } from "../metrics.ts";

export interface Answer {
  status: number;
  /** Serialized as JSON unless `body` is given. */
  json?: unknown;
  body?: string | Uint8Array;
  contentType?: string;
  headers?: Record<string, string>;
}

const STATUS_TEXT: Record<number, string> = {
  200: "200 OK", 201: "201 Created", 204: "204 No Content", 301: "301 Moved Permanently", 302: "302 Found", 303: "303 See Other",
  304: "304 Not Modified", 400: "400 Bad Request", 401: "401 Unauthorized", 403: "403 Forbidden", 404: "404 Not Found",
  405: "405 Method Not Allowed", 409: "409 Conflict", 413: "413 Payload Too Large", 415: "415 Unsupported Media Type",
  422: "422 Unprocessable Entity", 429: "429 Too Many Requests", 500: "500 Internal Server Error", 503: "503 Service Unavailable",
};

export function statusLine(status: number): string {
  return STATUS_TEXT[status] ?? String(status);
}

export const JSON_TYPE = "application/json; charset=utf-8";

/** Headers sent with every answer. */
export const COMMON_HEADERS: Record<string, string> = {
  "X-Content-Type-Options": "nosniff",
  "Referrer-Policy": "same-origin",
};

export interface ResponseState {
  aborted: boolean;
  answered: boolean;
  /** Set when metrics are on (metrics.ts). */
  timing: RequestTiming | null;
}

/** Writes `answer` unless the client went away or it was already answered. Callers after an await must cork. */
export function writeAnswer(res: HttpResponse, state: ResponseState, answer: Answer): void {
  if (state.aborted || state.answered) return;
  state.answered = true;
  if (state.timing) requestAnswered(state.timing, answer.status);
  res.writeStatus(statusLine(answer.status));
  for (const name in COMMON_HEADERS) res.writeHeader(name, COMMON_HEADERS[name]!);
  if (answer.headers) for (const name in answer.headers) res.writeHeader(name, answer.headers[name]!);
  if (answer.status === 204 || answer.status === 304) {
    res.endWithoutBody();
    return;
  }
  const body = answer.body ?? JSON.stringify(answer.json ?? null);
  res.writeHeader("Content-Type", answer.contentType ?? JSON_TYPE);
  // uWS writes a lone surrogate as bytes that are not UTF-8; escaping (render/escape.ts) already keeps them out, this is the backstop.
  res.end(typeof body === "string" && !body.isWellFormed() ? body.toWellFormed() : body);
}

/** Every operating error becomes a JSON answer naming the problem; anything else is a bug, logged, 500. */
export function errorAnswer(error: unknown, where: string): Answer {
  if (error instanceof HttpError) {
    return { status: error.status, json: { error: error.message, ...error.extra }, headers: error.headers };
  }
  console.error(`[http] internal error in ${where}:`, error);
  return { status: 500, json: { error: "internal error; it has been logged" } };
}
