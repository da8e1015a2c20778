// Who may try a password how often: per client address (every log-in and sign-up, on every path) and per username (failures).
import { isIP } from "node:net";
import { assert } from "../assert.ts";
import { HttpError } from "../errors.ts";
import { RateLimiter } from "./rate-limit.ts";

/** Failed log-ins allowed per username per minute, on every path that checks a password. */
export const LOGIN_FAILURES_PER_MINUTE = 10;

/** A client's address as a rate-limit key, made only by clientAddress: an IPv4 address, or an IPv6 /64. */
export type ClientAddress = string & { readonly __brand: "ClientAddress" };

/** Where a password attempt comes from: a client, or this server's own process (the CLI, the simulator), which is not limited. */
export type AttemptSource = ClientAddress | "local";

/** What a request tells about its sender: the peer's address (the route must ask the router for it) and its headers. */
export interface RequestOrigin {
  remoteAddress: string;
  headers: { "x-forwarded-for": string };
  /** Cluster mode: the client's address as the node that forwarded this request judged it (only ever set for a request carrying the cluster secret). */
  vouchedClient?: string | null;
}

/**
 * The address a request comes from, the one rule every password path uses. Without
 * NASTY_TRUST_PROXY it is the peer's, whatever the headers say. With it, Nasty sits behind exactly
 * one reverse proxy that appends the address it saw to X-Forwarded-For (nginx's
 * `$proxy_add_x_forwarded_for`): the LAST entry is that address. Entries before it came from the
 * client and may be forged, so they are never used; a last entry that is not an IP address falls
 * back to the peer (the proxy itself, which only limits more).
 */
export function clientAddress(request: RequestOrigin, trustProxy: boolean): ClientAddress {
  return addressKey(clientIp(request, trustProxy));
}

/**
 * The client's bare IP address by clientAddress's rule. A request another node of the cluster
 * forwarded (http/forward.ts) carries the address that node judged by this same rule, vouched for
 * by the cluster secret: it stands for the client, not the forwarding node's own address.
 */
export function clientIp(request: RequestOrigin, trustProxy: boolean): string {
  if (request.vouchedClient) return request.vouchedClient;
  assert(request.remoteAddress !== "", "a password path must read the peer's address (route option remoteAddress)");
  if (trustProxy) {
    const forwarded = lastHop(request.headers["x-forwarded-for"]);
    if (forwarded !== null) return forwarded;
  }
  return request.remoteAddress;
}

/** The last X-Forwarded-For entry as a bare IP (without brackets or port), or null. */
function lastHop(header: string): string | null {
  const entries = header.split(",").map((entry) => entry.trim()).filter((entry) => entry !== "");
  let hop = entries[entries.length - 1] ?? "";
  const bracketed = /^\[([^\]]+)\](?::\d+)?$/.exec(hop);
  if (bracketed) hop = bracketed[1]!;
  else if (/^\d+\.\d+\.\d+\.\d+:\d+$/.test(hop)) hop = hop.slice(0, hop.indexOf(":"));
  return isIP(hop) === 0 ? null : hop;
}

/**
 * The key an address is limited under: an IPv4 address as it is (also when IPv4-mapped in IPv6),
 * an IPv6 address by its /64, since one subscriber usually holds a whole /64.
 */
export function addressKey(address: string): ClientAddress {
  const bare = address.replace(/%.*$/, "");
  if (isIP(bare) !== 6) return bare as ClientAddress;
  const groups = ipv6Groups(bare);
  if (groups[0] === 0 && groups[1] === 0 && groups[2] === 0 && groups[3] === 0 && groups[4] === 0 && groups[5] === 0xffff) {
    return [groups[6]! >> 8, groups[6]! & 0xff, groups[7]! >> 8, groups[7]! & 0xff].join(".") as ClientAddress;
  }
  return `${groups.slice(0, 4).map((group) => group.toString(16)).join(":")}::/64` as ClientAddress;
}

/** The eight 16-bit groups of a valid IPv6 address (`::` expanded, a dotted IPv4 tail converted). */
function ipv6Groups(address: string): number[] {
  let text = address;
  const dotted = /^(.*:)(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (dotted) {
    const [a, b, c, d] = dotted.slice(2).map(Number) as [number, number, number, number];
    text = `${dotted[1]}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head = "", tail] = text.split("::");
  const headGroups = head === "" ? [] : head.split(":");
  const tailGroups = tail === undefined || tail === "" ? [] : tail.split(":");
  const zeros = tail === undefined ? [] : new Array<string>(8 - headGroups.length - tailGroups.length).fill("0");
  return [...headGroups, ...zeros, ...tailGroups].map((group) => parseInt(group, 16));
}

/**
 * The limits on trying passwords. Every attempt from one client address counts, log-in or
 * sign-up, right or wrong, on every path (page forms, the JSON API, Pinboard's HTTP Basic): at
 * most `perAddressPerMinute`. Failures count per username too: after LOGIN_FAILURES_PER_MINUTE,
 * that username waits, even with the right password. Both answer 429 with Retry-After.
 */
export class PasswordAttempts {
  private readonly byAddress: RateLimiter;
  private readonly failuresByUsername = new RateLimiter(LOGIN_FAILURES_PER_MINUTE);

  constructor(perAddressPerMinute: number) {
    this.byAddress = new RateLimiter(perAddressPerMinute);
  }

  /** Counts one attempt from `source`; 429 once the address is over its budget for this minute. */
  attempt(source: AttemptSource, kind: "log-in" | "sign-up"): void {
    if (source === "local") return;
    const waitSeconds = this.byAddress.take(source);
    if (waitSeconds > 0) throw new HttpError(429, `too many ${kind} attempts from your address; retry in ${waitSeconds} s`, {}, { "Retry-After": String(waitSeconds) });
  }

  /** 429 while `username` is over its failures for this minute. */
  checkUsername(username: string): void {
    const waitSeconds = this.failuresByUsername.retryAfter(username);
    if (waitSeconds > 0) throw new HttpError(429, `too many failed log-ins for ${username}; retry in ${waitSeconds} s`, {}, { "Retry-After": String(waitSeconds) });
  }

  failed(username: string): void {
    this.failuresByUsername.take(username);
  }
}
