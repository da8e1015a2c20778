// One bounded outbound HTTP request chain: http(s) only, public addresses only (checked after DNS and at every redirect), a deadline, a size cap, a redirect cap.
import dns from "node:dns";
import http from "node:http";
import https from "node:https";
import net from "node:net";
import zlib from "node:zlib";
import type { Readable } from "node:stream";
import { guarded } from "../guard.ts";
import { addressRefusal } from "./address.ts";

/** The bounds of every fetch (issue 17): the whole chain, redirects included, within these. */
export const FETCH_LIMITS = {
  timeoutMs: 5000,
  bodyBytesMax: 2 * 1024 * 1024,
  redirectsMax: 5,
} as const;

export interface FetchOptions {
  method: "GET" | "HEAD";
  userAgent: string;
  /** NASTY_FETCH_ALLOW_PRIVATE: intranets and tests may reach non-public addresses. */
  allowPrivate: boolean;
  /** GET only: refuse an answer that is not HTML (text/html, application/xhtml+xml). */
  htmlOnly: boolean;
  /** GET only: read the body (else the answer is closed after its headers). */
  readBody: boolean;
  timeoutMs?: number;
  /** The address rule (tests narrow it to one loopback address); addressRefusal unless allowPrivate. */
  refusal?: (address: string) => string | null;
}

type Refusal = (address: string) => string | null;

const allowAll: Refusal = () => null;

function refusalOf(options: FetchOptions): Refusal {
  return options.allowPrivate ? allowAll : (options.refusal ?? addressRefusal);
}

/** Why a fetch ended without a usable answer: short, for the owner to read. */
export type FetchFailure =
  | "not an http(s) URL"
  | "refused address"
  | "name not found"
  | "connection failed"
  | "timed out"
  | "too many redirects"
  | "redirect loop"
  | "bad redirect"
  | "too big"
  | "not HTML"
  | "HTTP error"
  | "fetching is off";

export type FetchResult =
  | { ok: true; status: number; finalUrl: string; contentType: string; body: Buffer }
  | { ok: false; failure: FetchFailure; detail: string; status: number | null; finalUrl: string };

class FetchError extends Error {
  constructor(readonly failure: FetchFailure, readonly detail: string, readonly status: number | null = null) {
    super(detail);
  }
}

const HTML_TYPES = /^\s*(text\/html|application\/xhtml\+xml)\b/i;

/**
 * A dns.lookup replacement for one connection: resolves, keeps the first address the rule allows
 * (a public one, unless private ones are allowed), and hands exactly that address to the socket, so the address checked
 * is the address connected to (no second lookup a rebinding DNS could answer differently).
 */
function checkedLookup(refusal: Refusal): net.LookupFunction {
  return (hostname, options, callback) => {
    dns.lookup(hostname, { all: true, verbatim: true }, (error, addresses) => {
      if (error || addresses.length === 0) {
        callback(new FetchError("name not found", `no address for ${hostname}`), "", 4);
        return;
      }
      const chosen = addresses.find((candidate) => refusal(candidate.address) === null);
      if (!chosen) {
        const why = refusal(addresses[0]!.address);
        callback(new FetchError("refused address", `${hostname} resolves to ${addresses[0]!.address} (${why})`), "", 4);
        return;
      }
      if ((options as { all?: boolean }).all) (callback as unknown as (error: null, addresses: dns.LookupAddress[]) => void)(null, [chosen]);
      else callback(null, chosen.address, chosen.family);
    });
  };
}

/** The URL if it is one we may request: http(s), and not a refused IP literal. */
function checkTarget(raw: string, refusal: Refusal): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new FetchError("bad redirect", `not a URL: ${raw.slice(0, 200)}`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") throw new FetchError("not an http(s) URL", `${url.protocol} URLs are not fetched`);
  const host = url.hostname.replace(/^\[|\]$/g, "");
  if (net.isIP(host) !== 0) {
    const why = refusal(host);
    if (why !== null) throw new FetchError("refused address", `${host} is ${why}`);
  }
  return url;
}

interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  response: http.IncomingMessage;
}

function requestOnce(url: URL, options: FetchOptions, signal: AbortSignal): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const client = url.protocol === "https:" ? https : http;
    const request = client.request(url, {
      method: options.method,
      agent: false,
      lookup: checkedLookup(refusalOf(options)),
      signal,
      headers: { "User-Agent": options.userAgent, Accept: "text/html,application/xhtml+xml;q=0.9,*/*;q=0.1", "Accept-Encoding": "gzip, deflate, br" },
    });
    request.once("response", (response) => resolve({ status: response.statusCode ?? 0, headers: response.headers, response }));
    // Kept for the whole exchange: an error after the answer arrived (a reset mid-body) must not go unheard.
    request.on("error", (error) => reject(error));
    request.end();
  });
}

function decoded(answer: Answer): Readable {
  const encoding = String(answer.headers["content-encoding"] ?? "identity").trim().toLowerCase();
  switch (encoding) {
    case "gzip":
    case "x-gzip":
      return answer.response.pipe(zlib.createGunzip());
    case "deflate":
      return answer.response.pipe(zlib.createInflate());
    case "br":
      return answer.response.pipe(zlib.createBrotliDecompress());
    default:
      return answer.response;
  }
}

/** Reads at most FETCH_LIMITS.bodyBytesMax decoded bytes; more is "too big". */
async function readBody(answer: Answer): Promise<Buffer> {
  const declared = Number(answer.headers["content-length"]);
  if (Number.isFinite(declared) && declared > FETCH_LIMITS.bodyBytesMax) throw new FetchError("too big", `${declared} bytes (at most ${FETCH_LIMITS.bodyBytesMax})`, answer.status);
  const chunks: Buffer[] = [];
  let bytes = 0;
  for await (const chunk of decoded(answer)) {
    bytes += (chunk as Buffer).length;
    if (bytes > FETCH_LIMITS.bodyBytesMax) throw new FetchError("too big", `more than ${FETCH_LIMITS.bodyBytesMax} bytes`, answer.status);
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

function describeNetworkError(error: unknown, signal: AbortSignal): FetchError {
  if (error instanceof FetchError) return error;
  if (signal.aborted) return new FetchError("timed out", `no complete answer within the time limit`);
  const cause = (error as { cause?: unknown }).cause;
  if (cause instanceof FetchError) return cause;
  const code = (error as { code?: string }).code;
  return new FetchError("connection failed", code ?? (error instanceof Error ? error.message : String(error)));
}

/**
 * Requests `raw`, following up to FETCH_LIMITS.redirectsMax redirects (each target checked like
 * the first), within one deadline for the whole chain. Never throws: every way it can fail is a
 * FetchResult with a short reason. A status of 400 or more is a failure ("HTTP error") carrying it.
 */
export async function fetchBounded(raw: string, options: FetchOptions): Promise<FetchResult> {
  const controller = new AbortController();
  const timer = setTimeout(guarded("fetch deadline", () => controller.abort()), options.timeoutMs ?? FETCH_LIMITS.timeoutMs);
  let current = raw;
  const seen = new Set<string>();
  try {
    for (let redirects = 0; ; redirects += 1) {
      const url = checkTarget(current, refusalOf(options));
      current = url.href;
      if (seen.has(current)) throw new FetchError("redirect loop", `${current} redirects back to itself`);
      seen.add(current);
      const answer = await requestOnce(url, options, controller.signal);
      const location = answer.headers.location;
      if (answer.status >= 300 && answer.status < 400 && location !== undefined) {
        answer.response.destroy();
        if (redirects >= FETCH_LIMITS.redirectsMax) throw new FetchError("too many redirects", `more than ${FETCH_LIMITS.redirectsMax} redirects`, answer.status);
        current = new URL(location, url).href;
        continue;
      }
      if (answer.status >= 400) {
        answer.response.destroy();
        return { ok: false, failure: "HTTP error", detail: `HTTP ${answer.status}`, status: answer.status, finalUrl: current };
      }
      const contentType = String(answer.headers["content-type"] ?? "");
      if (options.method === "HEAD" || !options.readBody) {
        answer.response.destroy();
        return { ok: true, status: answer.status, finalUrl: current, contentType, body: Buffer.alloc(0) };
      }
      if (options.htmlOnly && !HTML_TYPES.test(contentType)) {
        answer.response.destroy();
        return { ok: false, failure: "not HTML", detail: `content type ${contentType.slice(0, 100) || "(none)"}`, status: answer.status, finalUrl: current };
      }
      try {
        return { ok: true, status: answer.status, finalUrl: current, contentType, body: await readBody(answer) };
      } finally {
        answer.response.destroy();
      }
    }
  } catch (error) {
    const failure = describeNetworkError(error, controller.signal);
    return { ok: false, failure: failure.failure, detail: failure.detail, status: failure.status, finalUrl: current };
  } finally {
    clearTimeout(timer);
  }
}
