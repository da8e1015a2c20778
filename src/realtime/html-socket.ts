// The pages' live websocket `/live?topic=…&since=SEQ`: admits a viewer to one topic they may see, subscribes it to that topic's HTML fragments and catches it up.
import type { HttpRequest, WebSocket } from "uWebSockets.js";
import type { TokenId } from "../events.ts";
import type { Config } from "../config.ts";
import type { Store } from "../store/store.ts";
import { admit, handshakeHeaders, parseSince, readHandshakeViewer, replayBytesMax, socketLimits, SINCE_PROBLEM, type Refused, type RegisterSocket } from "./admission.ts";
import type { Follow, LiveDelivery } from "./live.ts";
import { STATS_TOPIC, ownerWireTopic, readMarksTopic, wireTopic } from "./topics.ts";
import { NULL_JOIN_REF } from "./wire.ts";
import type { SiteConfig } from "../auth/site-origin.ts";
import { socketClosed } from "../metrics.ts";

/** Close codes the page sees; none of them is in hx-ws's reconnect list, so a refused page stays quiet. */
export const LIVE_CLOSE = { badRequest: 4400, forbidden: 4403, notFound: 4404, busy: 4429 } as const;

const CLOSE_OF: Record<Refused, number> = { bad: LIVE_CLOSE.badRequest, forbidden: LIVE_CLOSE.forbidden, missing: LIVE_CLOSE.notFound, busy: LIVE_CLOSE.busy };

/** Pages never send on this socket: anything longer than this closes it at once (uWS's own limit). */
const INCOMING_BYTES_MAX = 1024;

interface LiveData {
  topic: string | null;
  /** On the topic's owner channel: the owner following their own bookmark's discussion. */
  owner: boolean;
  tagSet: string[] | null;
  /** The session or token of a logged-in viewer: revoking it (log-out) closes a private topic, or stops the read marks. */
  tokenId: TokenId | null;
  /** Whose read marks (readMarksTopic) the socket follows: the viewer's, on any public topic of cards. */
  marksOf: string | null;
  /** `?since=`: the last seq the page saw; it is caught up from there on open. */
  since: number | null;
  refusal: { code: number; reason: string } | null;
}

export interface LiveSocketDeps {
  store: Store;
  live: LiveDelivery;
  config: Pick<Config, "wsMaxBackpressureBytes" | "wsIdleTimeoutS"> & SiteConfig;
}

/** Open live page sockets, their subscribers per topic (for /stats), and the logged-in ones by token. */
export class LiveSockets {
  connections = 0;
  readonly subscribers = new Map<string, number>();
  private readonly byToken = new Map<TokenId, Set<WebSocket<LiveData>>>();

  constructor(private readonly deps: LiveSocketDeps) {}

  /** Subscribers per topic the pages follow, the stats panel left out (the stats page's own view). */
  topics(): ReadonlyMap<string, number> {
    const counts = new Map(this.subscribers);
    counts.delete(STATS_TOPIC);
    return counts;
  }

  opened(ws: WebSocket<LiveData>, data: LiveData): void {
    this.connections += 1;
    count(this.subscribers, data.topic!, 1);
    this.deps.live.joined.add(data.topic!, 1);
    if (data.marksOf !== null) this.followMarks(ws, data.marksOf, 1);
    if (data.tokenId === null) return;
    let sockets = this.byToken.get(data.tokenId);
    if (!sockets) this.byToken.set(data.tokenId, (sockets = new Set()));
    sockets.add(ws);
  }

  closed(ws: WebSocket<LiveData>, data: LiveData): void {
    this.connections -= 1;
    count(this.subscribers, data.topic!, -1);
    this.deps.live.joined.add(data.topic!, -1);
    if (data.marksOf !== null) this.deps.live.joined.add(readMarksTopic(data.marksOf), -1);
    if (data.tokenId === null) return;
    const sockets = this.byToken.get(data.tokenId);
    sockets?.delete(ws);
    if (sockets?.size === 0) this.byToken.delete(data.tokenId);
  }

  /**
   * A revoked session or token (log-out) stops receiving what was its own at once: a socket on a
   * private topic or owner channel is closed; one on a public topic keeps it and loses the read marks.
   */
  tokenRevoked(id: TokenId): void {
    for (const ws of [...(this.byToken.get(id) ?? [])]) {
      const data = ws.getUserData();
      if (data.marksOf === null) {
        ws.end(LIVE_CLOSE.forbidden, "your session ended; log in again");
        continue;
      }
      this.followMarks(ws, data.marksOf, -1);
      data.marksOf = null;
      data.tokenId = null;
      this.byToken.get(id)?.delete(ws);
    }
    if (this.byToken.get(id)?.size === 0) this.byToken.delete(id);
  }

  private followMarks(ws: WebSocket<LiveData>, username: string, delta: 1 | -1): void {
    const name = readMarksTopic(username);
    if (delta === 1) ws.subscribe(wireTopic("html", name));
    else ws.unsubscribe(wireTopic("html", name));
    this.deps.live.joined.add(name, delta);
  }
}

function count(counts: Map<string, number>, name: string, delta: 1 | -1): void {
  const next = (counts.get(name) ?? 0) + delta;
  if (next <= 0) counts.delete(name);
  else counts.set(name, next);
}

function refuse(code: number, reason: string): LiveData {
  return { topic: null, owner: false, tagSet: null, tokenId: null, marksOf: null, since: null, refusal: { code, reason: reason.slice(0, 120) } };
}

/**
 * What the socket of a page asking for `?topic=` gets, by the one admission rule. A logged-in
 * viewer of a public topic of cards also follows their own read marks there (the shared cards
 * carry an empty one); their private topic and owner channel carry their own cards already.
 */
function admitted(deps: LiveSocketDeps, req: HttpRequest): LiveData {
  const headers = handshakeHeaders(req, deps.config);
  const name = headers.query.get("topic");
  if (!name) return refuse(LIVE_CLOSE.badRequest, "missing ?topic=");
  const since = parseSince(headers.query.get("since"));
  if (since === "bad") return refuse(LIVE_CLOSE.badRequest, `?since=: ${SINCE_PROBLEM}`);
  const who = readHandshakeViewer(deps.store, headers);
  if ("refused" in who) return refuse(LIVE_CLOSE.forbidden, who.message);
  const admission = admit(deps.store, "live", name, who.viewer, deps.live.tagSets, who.cookieNote);
  if (!admission.ok) return refuse(CLOSE_OF[admission.refused], admission.reason);
  const personal = admission.owner || name === STATS_TOPIC || name.endsWith(":private");
  return {
    topic: name, owner: admission.owner, tagSet: admission.tagSet, tokenId: who.tokenId, since, refusal: null,
    marksOf: personal ? null : who.viewer?.username ?? null,
  };
}

/**
 * Registers `/live`. Headers are read synchronously in `upgrade`; a refused topic still upgrades
 * and is closed at once with a 44xx code and a reason, which a browser (unlike an HTTP status)
 * can see. On open the socket joins its topics and, with `?since=`, is caught up in the same
 * tick (or told to resync). Slow readers are cut off at the backpressure bound; their page
 * reconnects and resumes (static/app.js).
 */
export function registerLiveSocket(register: RegisterSocket, deps: LiveSocketDeps): LiveSockets {
  const live = new LiveSockets(deps);
  deps.live.tokenRevokedListeners.push((id) => live.tokenRevoked(id));
  register<LiveData>("/live", {
    ...socketLimits(deps.config, INCOMING_BYTES_MAX),
    upgrade(req: HttpRequest) {
      return { data: admitted(deps, req), protocol: req.getHeader("sec-websocket-protocol") };
    },
    open(ws: WebSocket<LiveData>) {
      const data = ws.getUserData();
      if (data.refusal || !data.topic) {
        ws.end(data.refusal?.code ?? LIVE_CLOSE.badRequest, data.refusal?.reason ?? "refused");
        return;
      }
      ws.subscribe(data.owner ? ownerWireTopic("html", data.topic) : wireTopic("html", data.topic));
      if (data.tagSet) deps.live.tagSets.join(data.tagSet);
      live.opened(ws, data);
      if (data.since === null || data.topic === STATS_TOPIC) return;
      const follows: Follow[] = [{ name: data.topic, owner: data.owner, wire: "html", joinRef: NULL_JOIN_REF, tagSet: data.tagSet }];
      if (data.marksOf !== null) follows.push({ name: readMarksTopic(data.marksOf), owner: false, wire: "html", joinRef: NULL_JOIN_REF, tagSet: null });
      ws.cork(() => deps.live.catchUp(follows, data.since!, replayBytesMax(deps.config), (text) => ws.send(text, false)));
    },
    message(ws: WebSocket<LiveData>) {
      ws.end(LIVE_CLOSE.badRequest, "this socket only sends; post forms over HTTP");
    },
    close(ws: WebSocket<LiveData>, code: number) {
      socketClosed("live", code);
      const data = ws.getUserData();
      if (data.refusal || !data.topic) return;
      if (data.tagSet) deps.live.tagSets.leave(data.tagSet);
      live.closed(ws, data);
    },
  });
  return live;
}
