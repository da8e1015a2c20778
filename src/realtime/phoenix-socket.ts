// Phoenix Channels at `/socket/websocket`: phx_join, phx_leave, heartbeat and new_comment, for Phoenix's own client and the original app's clients.
import type { WebSocket } from "uWebSockets.js";
import { FRAME_BYTES_MAX, reasonOf, type SocketData, type SocketHub } from "./socket-hub.ts";
import { SINCE_PROBLEM, parseSince, type SocketLimits, type RegisterSocket } from "./admission.ts";
import { PHOENIX_TOPIC, parsePhoenixFrame, phoenixFrame, phoenixReply, type PhoenixFrame, type PhoenixWire } from "./phoenix-protocol.ts";
import { socketClosed } from "../metrics.ts";

/** `vsn=2.x` speaks arrays; no vsn (the original app's Python clients) or `1.x` speaks objects, as Phoenix does. */
function wireOf(query: string): PhoenixWire {
  const vsn = new URLSearchParams(query).get("vsn") ?? "1.0.0";
  return vsn.startsWith("2.") ? "phx" : "phx1";
}

function wire(ws: WebSocket<SocketData>): PhoenixWire {
  return ws.getUserData().wire as PhoenixWire;
}

/** A frame error with nothing to answer to is reported as `phx_error` on the `phoenix` topic. */
function frameError(hub: SocketHub, ws: WebSocket<SocketData>, reason: string): void {
  if (!hub.abusive(ws)) hub.send(ws, phoenixFrame(wire(ws), null, null, PHOENIX_TOPIC, "phx_error", { reason }));
}

function reply(hub: SocketHub, ws: WebSocket<SocketData>, frame: PhoenixFrame, status: "ok" | "error", response: Record<string, unknown>): void {
  hub.send(ws, phoenixReply(wire(ws), frame.joinRef, frame.ref, frame.topic, status, response));
}

function outcome(hub: SocketHub, ws: WebSocket<SocketData>, frame: PhoenixFrame, result: { ok: true } | { ok: false; reason: string }): void {
  if (result.ok) reply(hub, ws, frame, "ok", {});
  else reply(hub, ws, frame, "error", { reason: result.reason });
}

/**
 * One frame. A join's join_ref is its own ref (v1 clients send no join_ref). Messages on a
 * topic the socket has not joined get Phoenix's own answer, `unmatched topic`.
 */
function handle(hub: SocketHub, ws: WebSocket<SocketData>, frame: PhoenixFrame): void {
  if (frame.topic === PHOENIX_TOPIC && frame.event === "heartbeat") {
    reply(hub, ws, frame, "ok", {});
    return;
  }
  switch (frame.event) {
    case "phx_join": {
      const since = parseSince(frame.payload.since);
      if (since === "bad") return outcome(hub, ws, frame, { ok: false, reason: SINCE_PROBLEM });
      const rejoin = ws.getUserData().joined.has(frame.topic);
      const joined = hub.join(ws, frame.topic, frame.joinRef ?? frame.ref);
      outcome(hub, ws, frame, joined);
      if (joined.ok && !rejoin && since !== null) hub.catchUp(ws, [frame.topic], since);
      return;
    }
    case "phx_leave":
      outcome(hub, ws, frame, hub.leave(ws, frame.topic));
      return;
  }
  if (!ws.getUserData().joined.has(frame.topic)) {
    if (!hub.abusive(ws)) reply(hub, ws, frame, "error", { reason: "unmatched topic" });
    return;
  }
  if (frame.event === "new_comment") {
    const body = frame.payload.body ?? frame.payload.content;
    hub.comment(ws, frame.topic, { body }).then(
      (comment) => reply(hub, ws, frame, "ok", { comment }),
      (error: unknown) => reply(hub, ws, frame, "error", { reason: reasonOf(error) }),
    );
    return;
  }
  if (!hub.abusive(ws)) reply(hub, ws, frame, "error", { reason: `unknown event '${frame.event.slice(0, 40)}'; a channel understands phx_leave and, on bookmark:<id>, new_comment {"body":…}` });
}

/** A join's payload `{"since": SEQ}` catches the channel up from there, after the join's reply. */
export function registerPhoenixSocket(register: RegisterSocket, hub: SocketHub, limits: SocketLimits): void {
  register<SocketData>("/socket/websocket", {
    ...limits,
    upgrade: (req) => hub.upgrade(req, wireOf(req.getQuery() ?? ""), [], null),
    open(ws) {
      hub.opened(ws);
    },
    message(ws, message, isBinary) {
      if (isBinary) return frameError(hub, ws, "binary frames are not understood; send JSON text frames");
      if (message.byteLength > FRAME_BYTES_MAX) return frameError(hub, ws, `frame of ${message.byteLength} bytes is over the limit of ${FRAME_BYTES_MAX} bytes`);
      const parsed = parsePhoenixFrame(Buffer.from(message).toString("utf8"));
      if (parsed.ok) {
        handle(hub, ws, parsed.frame);
        return;
      }
      if (parsed.ref === null || parsed.topic === null) return frameError(hub, ws, parsed.reason);
      if (!hub.abusive(ws)) hub.send(ws, phoenixReply(wire(ws), null, parsed.ref, parsed.topic, "error", { reason: parsed.reason }));
    },
    close(ws, code) {
      socketClosed("json", code);
      hub.closed(ws);
    },
  });
}
