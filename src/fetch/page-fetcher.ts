// Nasty's outbound fetches: page metadata for bookmarks saved without a title, and link checks, with the settings, the User-Agent and the concurrency bounds in one place.
import { readFileSync } from "node:fs";
import type { Config } from "../config.ts";
import { HttpError } from "../errors.ts";
import { fetchBounded, type FetchFailure, type FetchResult } from "./http-fetch.ts";
import { HostLimiter } from "./host-limiter.ts";
import { decodeBody, extractMetadata, type PageMetadata } from "./metadata.ts";

/** Metadata fetches at once per host and in total; fetches waiting beyond the limit get a 503. */
const METADATA_PER_HOST_MAX = 2;
const METADATA_TOTAL_MAX = 8;
const METADATA_WAITING_MAX = 1000;

const VERSION = (JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version: string }).version;

/** `Nasty/<version> (+<public url>)`: who is asking, and where to read about it. */
export function userAgent(publicUrl: string): string {
  return publicUrl === "" ? `Nasty/${VERSION}` : `Nasty/${VERSION} (+${publicUrl})`;
}

export type MetadataOutcome =
  | { ok: true; status: number; finalUrl: string; metadata: PageMetadata }
  | { ok: false; failure: FetchFailure | "busy"; detail: string; status: number | null; finalUrl: string };

/** A health check's outcome: whether the link is dead, and what was seen. */
export interface HealthOutcome {
  broken: boolean;
  status: number | null;
  finalUrl: string;
  error: string | null;
}

/** Failures where no answer came: the link is dead. The others (refused address, not http, not HTML, too big) say nothing about it. */
const NO_ANSWER: ReadonlySet<FetchFailure> = new Set(["name not found", "connection failed", "timed out", "too many redirects", "redirect loop", "bad redirect"]);

/**
 * Whether a failed fetch says the link is broken: no answer (DNS, refused, timeout, TLS, a
 * redirect chain that goes nowhere), or an answer that the page is gone (404, 410) or the server
 * is failing (5xx). Any other 4xx (401, 403, 429, …) is a site refusing bots or rate-limiting:
 * the page may well be there, so the check is recorded with its status and is not broken.
 */
export function isBrokenLink(failure: { failure: FetchFailure | "busy"; status: number | null }): boolean {
  if (failure.failure === "busy") return false;
  if (failure.failure !== "HTTP error") return NO_ANSWER.has(failure.failure);
  const status = failure.status ?? 0;
  return status === 404 || status === 410 || status >= 500;
}

export class PageFetcher {
  /** Off (NASTY_FETCH=off), or closing: fetches waiting their turn are dropped instead of made. */
  enabled: boolean;
  private readonly metadataLimiter = new HostLimiter(METADATA_PER_HOST_MAX, METADATA_TOTAL_MAX, METADATA_WAITING_MAX);
  private readonly agent: string;

  constructor(private readonly config: Pick<Config, "fetch" | "fetchAllowPrivate" | "publicUrl">) {
    this.enabled = config.fetch;
    this.agent = userAgent(config.publicUrl);
  }

  private get(url: string, method: "GET" | "HEAD", readBody: boolean): Promise<FetchResult> {
    return fetchBounded(url, { method, userAgent: this.agent, allowPrivate: this.config.fetchAllowPrivate, htmlOnly: readBody, readBody });
  }

  /** The page's title, description, site name and canonical URL, or why they could not be had. */
  async metadata(url: string): Promise<MetadataOutcome> {
    if (!this.enabled) return off(url);
    let result: FetchResult;
    try {
      result = await this.metadataLimiter.run(hostOf(url), () => (this.enabled ? this.get(url, "GET", true) : Promise.resolve(off(url))));
    } catch (error) {
      if (error instanceof HttpError) return { ok: false, failure: "busy", detail: error.message, status: null, finalUrl: url };
      throw error;
    }
    if (!result.ok) return result;
    return { ok: true, status: result.status, finalUrl: result.finalUrl, metadata: extractMetadata(decodeBody(result.body, result.contentType), result.finalUrl) };
  }

  /** Stops new fetches (shutdown): those waiting for their turn end at once as "fetching is off". */
  close(): void {
    this.enabled = false;
  }

  /** HEAD, then GET when HEAD fails (many servers answer HEAD wrongly); the caller bounds concurrency per host. */
  async health(url: string): Promise<HealthOutcome> {
    let result = await this.get(url, "HEAD", false);
    if (!result.ok && result.failure !== "refused address" && result.failure !== "not an http(s) URL") result = await this.get(url, "GET", false);
    if (result.ok) return { broken: false, status: result.status, finalUrl: result.finalUrl, error: null };
    return { broken: isBrokenLink(result), status: result.status, finalUrl: result.finalUrl, error: describeFailure(result) };
  }
}

function off(url: string): Extract<FetchResult, { ok: false }> {
  return { ok: false, failure: "fetching is off", detail: "NASTY_FETCH=off or the server is stopping", status: null, finalUrl: url };
}

export function describeFailure(result: { failure: string; detail: string }): string {
  return result.detail === "" || result.failure === "HTTP error" ? result.detail || result.failure : `${result.failure}: ${result.detail}`;
}

/** The host a URL's fetches are counted under ("" when it is no URL: those fail at once anyway). */
export function hostOf(url: string): string {
  try {
    return new URL(url).host.toLowerCase();
  } catch {
    return "";
  }
}
