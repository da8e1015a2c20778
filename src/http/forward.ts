// Cluster mode's write routing: a follower forwards a write to the leader and answers once it applied the result; the leader serves each request id once.
import { randomUUID, timingSafeEqual } from "node:crypto";
import http from "node:http";
import { isIP } from "node:net";
import type { TemplatedApp } from "uWebSockets.js";
import { HttpError } from "../errors.ts";
import { guarded } from "../guard.ts";
import { logger } from "../logger.ts";
import { forwardedRequest, NOT_LEADER_HEADER, type ClusterLog, type LeaderInfo } from "../log/cluster.ts";
import { COMMON_HEADERS, type Answer } from "./respond.ts";
import type { Exchange } from "./exchange.ts";
import { clientIp } from "../auth/password-attempts.ts";
import type { TokenId } from "../events.ts";
import type { CommentJson } from "../render/json.ts";

/** Answers the leader keeps by request id, so a forwarded write retried (a lost answer, a timeout) is served once. */
const FORWARDED_ANSWERS_MAX = 10_000;
/** Tries to reach a leader per forwarded write, and the pause between them. */
const FORWARD_ATTEMPTS_MAX = 60;
const FORWARD_RETRY_MS = 250;
/** How often a forward waiting on the leader checks whether this node saw the leader row change (then it gives up on that leader at once). */
const LEADER_WATCH_MS = 100;
/** Response headers the forwarding node writes itself (or that describe the leader's connection). */
const OWN_HEADERS = new Set(["content-type", "content-length", "connection", "keep-alive", "date", "transfer-encoding", "x-request-id", "x-nasty-seq", "uwebsockets", ...Object.keys(COMMON_HEADERS).map((name) => name.toLowerCase())]);
/** Request headers not passed on (the forward sets its own). */
const NOT_FORWARDED = new Set(["content-length", "x-nasty-request-id", "x-nasty-cluster-secret", "x-nasty-retry", "x-nasty-client-address"]);
/** The original client's address, as the forwarding node judged it; believed only beside the cluster secret. */
export const CLIENT_ADDRESS_HEADER = "x-nasty-client-address";
/** Where a follower sends a comment that came as a websocket frame (cluster mode only, only with the cluster secret). */
export const SOCKET_COMMENT_PATH = "/_cluster/socket-comments";
/** Marks the leader's refusal of a forward whose secret is not its own: the forwarding node's misconfiguration, not the client's. */
const SECRET_REFUSED_HEADER = "X-Nasty-Secret-Refused";
const REQUEST_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export interface ClusterRoutingOptions {
  log: ClusterLog;
  secret: string;
  /** Longest wait for one answer of the leader (a paused leader is given up on after it). */
  requestTimeoutMs: number;
  /** Longest a forwarded write may take in all, leader changes included. */
  forwardMsMax: number;
  /** NASTY_TRUST_PROXY: the client's address is the last X-Forwarded-For entry (password-attempts.ts clientAddress). */
  trustProxy: boolean;
}

/** A request as sent to the leader. */
interface Outgoing {
  method: string;
  /** Path and query. */
  target: string;
  headers: Record<string, string>;
  body: Buffer | null;
}

/** A comment a socket sent: its token (the leader checks it is still active), the bookmark, the frame's input. */
export interface SocketCommentWrite {
  tokenId: TokenId;
  bookmarkId: number;
  input: unknown;
}

interface LeaderReply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

/** Which routes write (and so go to the leader): every method but GET, unless a route says otherwise. */
export type WriteRoute = { body: boolean; bodyBytesMax: number; stream: boolean; clusterOnly?: boolean };

/**
 * One per app in cluster mode. On a follower, a write is sent to the leader (its address from the
 * epoch row) with a fresh request id and the cluster secret; a failed attempt (unreachable, timed
 * out, or answered "not the leader") is retried with the same id, marked as a retry, until a
 * leader answers or `forwardMsMax` passed (then 503). The answer is given only after this node
 * applied the seq the leader reports (read your writes on any node). On the leader, each request
 * id runs once: a repeat gets the kept answer, and a retry the leader does not know is first
 * looked up in the log (committed under an earlier leader: it is not run again).
 */
export class ClusterRouting {
  private readonly answers = new Map<string, Promise<Answer>>();
  private readonly agent = new http.Agent({ keepAlive: true, maxSockets: 64 });

  constructor(private readonly options: ClusterRoutingOptions) {}

  serve(exchange: Exchange, route: WriteRoute, runHere: () => void | Promise<void>): void | Promise<void> {
    exchange.checkRequest();
    const requestId = exchange.headers["x-nasty-request-id"];
    if (requestId !== "") return this.serveForwarded(exchange, requestId, route, runHere);
    if (route.clusterOnly === true) throw new HttpError(403, "this route serves only writes forwarded by a node of this cluster");
    if (this.options.log.isLeader) return runHere();
    return this.forward(exchange, route).then((answer) => exchange.answer(answer));
  }

  close(): void {
    this.agent.destroy();
  }

  private serveForwarded(exchange: Exchange, requestId: string, route: WriteRoute, runHere: () => void | Promise<void>): void | Promise<void> {
    if (!secretMatches(exchange.headers["x-nasty-cluster-secret"], this.options.secret)) throw new HttpError(403, "a forwarded write needs this cluster's NASTY_CLUSTER_SECRET", {}, { [SECRET_REFUSED_HEADER]: "1" });
    if (!REQUEST_ID.test(requestId)) throw new HttpError(400, "X-Nasty-Request-Id must be a UUID");
    const client = exchange.headers[CLIENT_ADDRESS_HEADER];
    if (isIP(client) !== 0) exchange.vouchedClient = client;
    const known = this.answers.get(requestId);
    if (known) return known.then((answer) => exchange.answer(answer));
    if (!this.options.log.isLeader) throw new HttpError(503, "this node does not lead the cluster right now; try again shortly", {}, { "Retry-After": "1", [NOT_LEADER_HEADER]: "1" });
    let settle: (answer: Answer) => void = () => {};
    this.remember(requestId, new Promise<Answer>((resolve) => (settle = resolve)));
    exchange.onAnswer = (answer) => {
      // The seq this node had applied when it answered: the write's events, if any, are at or before it.
      const stamped = { ...answer, headers: { ...answer.headers, "X-Nasty-Seq": String(this.options.log.lastSeq) } };
      if (answer.headers?.[NOT_LEADER_HEADER] !== undefined) this.answers.delete(requestId);
      settle(stamped);
      return stamped;
    };
    if (exchange.headers["x-nasty-retry"] !== "1") return forwardedRequest.run(requestId, runHere);
    // uWS hands the body over only to a reader registered now, before the lookup's await (the route reads the same promise later).
    if (route.body && !route.stream) exchange.receiveBody(route.bodyBytesMax).catch(() => {});
    return this.options.log.requestCommitted(requestId).then((seq) => {
      if (seq === null) return forwardedRequest.run(requestId, runHere);
      exchange.answer({ status: 409, json: { error: `this write was already committed (seq ${seq}) by an earlier leader, whose answer was lost with it; read it back`, request_id: requestId, seq } });
    });
  }

  private remember(requestId: string, answer: Promise<Answer>): void {
    this.answers.set(requestId, answer);
    if (this.answers.size > FORWARDED_ANSWERS_MAX) this.answers.delete(this.answers.keys().next().value!);
  }

  private async forward(exchange: Exchange, route: WriteRoute): Promise<Answer> {
    const body = route.body ? await exchange.receiveBody(route.bodyBytesMax) : null;
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(exchange.headers)) if (value !== "" && !NOT_FORWARDED.has(name)) headers[name] = value;
    // Who sent it, as this node judged it (its own trusted proxy included): the leader limits and logs by this, not by this node's address.
    headers[CLIENT_ADDRESS_HEADER] = clientIp(exchange, this.options.trustProxy);
    const outgoing = { method: exchange.method.toUpperCase(), target: exchange.path + (exchange.rawQuery === "" ? "" : `?${exchange.rawQuery}`), headers, body };
    return answerOf(await this.forwardToLeader(outgoing, () => exchange.open));
  }

  /**
   * Sends `outgoing` to the leader with a fresh request id until a leader answers (or `forwardMsMax`
   * passed, or `wanted` turned false: 503), then waits until this node applied the seq the leader
   * reported, so the answer comes after the write is readable here.
   */
  private async forwardToLeader(outgoing: Outgoing, wanted: () => boolean): Promise<LeaderReply> {
    const requestId = randomUUID();
    const deadline = Date.now() + this.options.forwardMsMax;
    let lastProblem = "no node leads the cluster right now";
    /** An attempt may have reached a leader that ran the write (its answer lost): a 503 must not say nothing was saved. */
    let sent = false;
    for (let attempt = 0; attempt < FORWARD_ATTEMPTS_MAX && wanted(); attempt += 1) {
      const refusal = this.options.log.writeRefusal();
      if (refusal !== null) {
        lastProblem = refusal;
        break;
      }
      const leader = this.options.log.currentLeader();
      if (leader?.url) {
        let reply: LeaderReply | null = null;
        try {
          // No attempt outlasts the forward's own bound (but each gets a second at least).
          const timeoutMs = Math.max(1000, Math.min(this.options.requestTimeoutMs, deadline - Date.now()));
          reply = await this.send({ ...leader, url: leader.url }, outgoing, requestId, attempt > 0, timeoutMs);
        } catch (error) {
          lastProblem = `the leader (node ${leader.node}) did not answer: ${(error as Error).message}`;
          if ((error as NodeJS.ErrnoException).code !== "ECONNREFUSED") sent = true;
          // Another node took the lead while this one waited: ask it now (same request id, as a retry), no pause.
          if (error instanceof LeaderChanged && Date.now() < deadline) continue;
        }
        if (reply !== null) {
          if (reply.headers[SECRET_REFUSED_HEADER.toLowerCase()] !== undefined) throw secretRefused(leader.node);
          if (reply.headers[NOT_LEADER_HEADER.toLowerCase()] === undefined) {
            // The leader's answer is final; not applied here in time, it is a 503 that says the write was saved (seq N).
            const seq = Number(reply.headers["x-nasty-seq"]);
            if (Number.isSafeInteger(seq)) await this.options.log.untilApplied(seq, Math.max(1000, deadline - Date.now()));
            return reply;
          }
          lastProblem = `node ${leader.node} no longer leads`;
        }
      }
      // Postgres down (or this node cut off from it): no leader can acknowledge anything; say so now rather than wait.
      if (!this.options.log.reachable) {
        lastProblem = "Postgres cannot be reached, so no write can be saved right now";
        break;
      }
      if (Date.now() >= deadline) break;
      await new Promise((resolve) => setTimeout(guarded("forward retry", () => resolve(undefined)), FORWARD_RETRY_MS));
      await this.options.log.refreshLeader();
    }
    // After a first attempt, the write may have been committed by a leader whose answer never came: say so (docs/api.md).
    const outcome = sent ? "the write was not acknowledged and may or may not have been saved; read before you retry it" : "the write was not acknowledged, try again shortly";
    throw new HttpError(503, `${lastProblem}; ${outcome}`, {}, { "Retry-After": "2" });
  }

  /**
   * A comment sent as a websocket frame (raw /ws or a Phoenix channel): run here on the leader (or a
   * single node), else sent to the leader's SOCKET_COMMENT_PATH as a forwarded write and answered
   * once applied here; the leader's refusal comes back as the HttpError it threw.
   */
  async socketComment(write: SocketCommentWrite, runHere: () => Promise<CommentJson>, wanted: () => boolean): Promise<CommentJson> {
    const refusal = this.options.log.writeRefusal();
    if (refusal !== null) throw new HttpError(503, `${refusal}; the write was not acknowledged`, {}, { "Retry-After": "2" });
    if (this.options.log.isLeader) return runHere();
    const body = Buffer.from(JSON.stringify({ token_id: write.tokenId, bookmark_id: write.bookmarkId, comment: write.input }));
    const reply = await this.forwardToLeader({ method: "POST", target: SOCKET_COMMENT_PATH, headers: { "content-type": "application/json" }, body }, wanted);
    const json = parseJson(reply.body);
    if (reply.status === 201 && json !== null && typeof json.comment === "object" && json.comment !== null) return json.comment as CommentJson;
    const message = json !== null && typeof json.error === "string" ? json.error : `the cluster's leader answered ${reply.status}`;
    throw new HttpError(reply.status >= 400 ? reply.status : 502, message);
  }

  /**
   * One attempt at `leader`. It fails with LeaderChanged as soon as this node reads another leader
   * (epoch or address) from the epoch row: a paused leader is not waited on for `requestTimeoutMs`
   * once another node leads (the new leader answers the retry: run, or "already committed").
   */
  private send(leader: LeaderInfo & { url: string }, outgoing: Outgoing, requestId: string, retry: boolean, timeoutMs: number): Promise<LeaderReply> {
    const headers: Record<string, string> = { ...outgoing.headers };
    headers["x-nasty-request-id"] = requestId;
    headers["x-nasty-cluster-secret"] = this.options.secret;
    if (retry) headers["x-nasty-retry"] = "1";
    headers["content-length"] = String(outgoing.body?.byteLength ?? 0);
    const target = new URL(outgoing.target, leader.url);
    let watch: NodeJS.Timeout | undefined;
    return new Promise<LeaderReply>((resolve, reject) => {
      const request = http.request(target, { method: outgoing.method, headers, agent: this.agent, timeout: timeoutMs }, (response) => {
        const chunks: Buffer[] = [];
        response.on("data", (chunk: Buffer) => chunks.push(chunk));
        response.on("end", () => resolve({ status: response.statusCode ?? 502, headers: response.headers, body: Buffer.concat(chunks) }));
        response.on("error", reject);
      });
      request.on("timeout", () => request.destroy(new Error(`no answer within ${timeoutMs} ms`)));
      request.on("error", reject);
      watch = setInterval(guarded("forward leader watch", () => {
        const now = this.options.log.currentLeader();
        if (now === null || (now.epoch === leader.epoch && now.url === leader.url)) return;
        request.destroy(new LeaderChanged(`node ${now.node ?? "?"} took the lead at epoch ${now.epoch} while node ${leader.node} had the write`));
      }), LEADER_WATCH_MS);
      request.end(outgoing.body ?? undefined);
    }).finally(() => clearInterval(watch));
  }
}

/** A forward gave up on a leader because another took the lead meanwhile. */
class LeaderChanged extends Error {}

/** The leader refused this node's NASTY_CLUSTER_SECRET: nothing was run; the operator, not the client, has to act. */
function secretRefused(leaderNode: number | null): HttpError {
  const message = `the leader (node ${leaderNode}) refused this node's NASTY_CLUSTER_SECRET: the two differ; set the same NASTY_CLUSTER_SECRET on every node and restart the one that differs`;
  logger.error(`cluster mode: a forwarded write was refused: ${message}`);
  return new HttpError(503, `${message}; the write was not acknowledged`);
}

function parseJson(body: Buffer): Record<string, unknown> | null {
  try {
    const value = JSON.parse(body.toString("utf8")) as unknown;
    return typeof value === "object" && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

function secretMatches(given: string, secret: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(secret);
  return a.length === b.length && timingSafeEqual(a, b);
}

/** The leader's answer as this node's, without the headers this node writes itself. */
function answerOf(reply: LeaderReply): Answer {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(reply.headers)) {
    if (value === undefined || OWN_HEADERS.has(name)) continue;
    headers[name] = Array.isArray(value) ? value[0] ?? "" : value;
  }
  const contentType = reply.headers["content-type"];
  return { status: reply.status, body: reply.body, headers, ...(contentType === undefined ? {} : { contentType }) };
}

const routings = new WeakMap<TemplatedApp, ClusterRouting>();

/** Cluster mode: the app's write routes go through `routing` (set before any request is served). */
export function routeWritesThrough(app: TemplatedApp, routing: ClusterRouting): void {
  routings.set(app, routing);
}

export function clusterRoutingOf(app: TemplatedApp): ClusterRouting | undefined {
  return routings.get(app);
}
