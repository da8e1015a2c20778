// What an answer is: status lines, headers every answer carries, and HttpError → answer in one place (http/exchange.ts writes them).
import { HttpError } from "../errors.ts";

export interface Answer {
  status: number;
  /** Serialized as JSON unless `body` is given. */
  json?: unknown;
  body?: string | Uint8Array;
  contentType?: string;
  headers?: Record<string, string>;
  /** Close the connection after this answer (uWS then sends `Connection: close`). */
  close?: boolean;
}

const STATUS_TEXT: Record<number, string> = {
  200: "200 OK", 201: "201 Created", 204: "204 No Content", 301: "301 Moved Permanently", 302: "302 Found", 303: "303 See Other",
  304: "304 Not Modified", 400: "400 Bad Request", 401: "401 Unauthorized", 403: "403 Forbidden", 404: "404 Not Found",
  405: "405 Method Not Allowed", 409: "409 Conflict", 413: "413 Payload Too Large", 415: "415 Unsupported Media Type",
  422: "422 Unprocessable Entity", 426: "426 Upgrade Required", 429: "429 Too Many Requests", 500: "500 Internal Server Error", 503: "503 Service Unavailable",
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

/** Every operating error becomes a JSON answer naming the problem; anything else (already logged by the guard) is a 500 carrying the request id. */
export function errorAnswer(error: unknown, requestId: string): Answer {
  if (error instanceof HttpError) {
    return { status: error.status, json: { error: error.message, ...error.extra }, headers: error.headers };
  }
  return { status: 500, json: { error: `internal error; it has been logged as ${requestId}`, request_id: requestId } };
}
