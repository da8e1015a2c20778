// The site's own origin, the one rule behind Origin checks (pages, forms, the live sockets' cookies), Secure cookies and every absolute link.
import type { Config } from "../config.ts";

export type SiteConfig = Pick<Config, "publicUrl" | "trustProxy">;

/** The request headers the rule reads, "" when absent. */
export interface SiteHeaders {
  host: string;
  "x-forwarded-host": string;
  "x-forwarded-proto": string;
}

export interface SiteOrigin {
  /** `https://links.example.org`: scheme, host and port as the visitor's browser sees them. */
  origin: string;
  /** `links.example.org` (with a port when it is not the scheme's default). */
  host: string;
  /** The visitor talks https to us (a Secure cookie will come back). */
  secure: boolean;
  /** Set by NASTY_PUBLIC_URL: an Origin must match it whole, scheme and port too. */
  exact: boolean;
}

/** The site of a websocket handshake, read from uWS's request in `upgrade` (synchronously, while it is valid). */
export function handshakeSite(req: { getHeader(name: string): string }, config: SiteConfig): SiteOrigin {
  return siteOrigin({ host: req.getHeader("host"), "x-forwarded-host": req.getHeader("x-forwarded-host"), "x-forwarded-proto": req.getHeader("x-forwarded-proto") }, config);
}

/** The first entry of a header a chain of proxies may have appended to, trimmed. */
function firstEntry(value: string): string {
  const comma = value.indexOf(",");
  return (comma < 0 ? value : value.slice(0, comma)).trim();
}

/** A Host header reduced to the characters a host and port can hold (a forged header never reaches a link). */
function cleanHost(host: string): string {
  return host.replace(/[^A-Za-z0-9.:[\]-]/g, "").toLowerCase();
}

/** A host as URL writes it (lower case, the scheme's default port dropped), "localhost" when absent or unparsable. */
function normalHost(scheme: string, host: string): string {
  if (host === "") return "localhost";
  try {
    return new URL(`${scheme}://${host}`).host || "localhost";
  } catch {
    return "localhost";
  }
}

/**
 * Where the visitor reached this site. NASTY_PUBLIC_URL, when set, is the answer whatever the
 * request says: a reverse proxy's default `proxy_pass` rewrites Host to the upstream's address,
 * which is not the site. Otherwise the request's Host, over http; only with NASTY_TRUST_PROXY do
 * X-Forwarded-Host and X-Forwarded-Proto count (a client reaching us directly could send anything).
 */
export function siteOrigin(headers: SiteHeaders, config: SiteConfig): SiteOrigin {
  if (config.publicUrl !== "") {
    const url = new URL(config.publicUrl);
    return { origin: url.origin, host: url.host, secure: url.protocol === "https:", exact: true };
  }
  let host = cleanHost(headers.host);
  let secure = false;
  if (config.trustProxy) {
    const forwardedHost = cleanHost(firstEntry(headers["x-forwarded-host"]));
    if (forwardedHost !== "") host = forwardedHost;
    secure = firstEntry(headers["x-forwarded-proto"]).toLowerCase() === "https";
  }
  const scheme = secure ? "https" : "http";
  host = normalHost(scheme, host);
  return { origin: `${scheme}://${host}`, host, secure, exact: false };
}

/**
 * Whether a browser's Origin header names this site. With NASTY_PUBLIC_URL the whole origin must
 * match it (scheme, host and port); without, the host must match the one the request came to, as
 * a browser sends both for a same-site request. An Origin that does not parse ("null") never matches.
 */
export function isSiteOrigin(origin: string, site: SiteOrigin): boolean {
  let parsed: URL;
  try {
    parsed = new URL(origin);
  } catch {
    return false;
  }
  return site.exact ? parsed.origin === site.origin : parsed.host === site.host;
}
