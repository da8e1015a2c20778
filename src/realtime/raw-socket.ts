// The raw JSON websocket `/ws`: subscribe, unsubscribe, ping and comment frames; `?topics=a,b` joins on connect.
import type { TemplatedApp, WebSocket } from "uWebSockets.js";
import { socketRoute } from "../http/router.ts";
import { errorFrame, okFrame, parseRawFrame, type RawFrame } from "./raw-protocol.ts";
import { FRAME_BYTES_MAX, SUBSCRIPTIONS_PER_SOCKET_MAX, reasonOf, type SocketBehavior, type SocketData, type SocketHub } from "./socket-hub.ts";
import { socketClosed } from "../metrics.ts";

/** `?topics=` names beyond the subscription bound are refused one by one like any other join. */
const INITIAL_TOPICS_MAX = SUBSCRIPTIONS_PER_SOCKET_MAX + 1;

function initialTopics(query: string): string[] {
  const raw = new URLSearchParams(query).get("topics") ?? "";
  return raw.split(",").map((name) => name.trim()).filter((name) => name !== "").slice(0, INITIAL_TOPICS_MAX);
}

/** Answers one parsed frame; a comment answers after it is durable. */
function handle(hub: SocketHub, ws: WebSocket<SocketData>, frame: RawFrame): void {
  switch (frame.op) {
    case "ping":
      hub.send(ws, okFrame("ping", frame.ref));
      return;
    case "subscribe":
    case "unsubscribe": {
      const outcome = frame.op === "subscribe" ? hub.join(ws, frame.topic, null) : hub.leave(ws, frame.topic);
      hub.send(ws, outcome.ok ? okFrame(frame.op, frame.ref, { topic: frame.topic }) : errorFrame(outcome.reason, frame.ref, { for: frame.op, topic: frame.topic }));
      return;
    }
    case "comment":
      hub.comment(ws, frame.topic, { body: frame.body }).then(
        (comment) => hub.send(ws, okFrame("comment", frame.ref, { topic: frame.topic, comment })),
        (error: unknown) => hub.send(ws, errorFrame(reasonOf(error), frame.ref, { for: "comment", topic: frame.topic })),
      );
      return;
  }
}

export function registerRawSocket(app: TemplatedApp, hub: SocketHub, behavior: SocketBehavior): void {
  socketRoute<SocketData>(app, "/ws", {
    ...behavior,
    upgrade: (req) => hub.upgrade(req, "json", initialTopics(req.getQuery() ?? "")),
    open(ws) {
      hub.opened(ws);
      for (const name of ws.getUserData().initialTopics) handle(hub, ws, { op: "subscribe", topic: name, ref: null });
    },
    message(ws, message, isBinary) {
      if (isBinary) {
        if (!hub.abusive(ws)) hub.send(ws, errorFrame("binary frames are not understood; send JSON text frames", null));
        return;
      }
      if (message.byteLength > FRAME_BYTES_MAX) {
        if (!hub.abusive(ws)) hub.send(ws, errorFrame(`frame of ${message.byteLength} bytes is over the limit of ${FRAME_BYTES_MAX} bytes`, null));
        return;
      }
      const parsed = parseRawFrame(Buffer.from(message).toString("utf8"));
      if (parsed.ok) handle(hub, ws, parsed.frame);
      else if (!hub.abusive(ws)) hub.send(ws, errorFrame(parsed.reason, parsed.ref));
    },
    close(ws, code) {
      socketClosed("json", code);
      hub.closed(ws);
    },
  });
}
