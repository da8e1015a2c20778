// The raw JSON websocket `/ws`: subscribe, unsubscribe, ping and comment frames; `?topics=a,b` joins on connect.
import type { WebSocket } from "uWebSockets.js";
import { HttpError } from "../errors.ts";
import { errorFrame, okFrame, parseRawFrame, type RawFrame } from "./raw-protocol.ts";
import { FRAME_BYTES_MAX, SUBSCRIPTIONS_PER_SOCKET_MAX, reasonOf, type SocketData, type SocketHub } from "./socket-hub.ts";
import { SINCE_PROBLEM, parseSince, type SocketLimits, type RegisterSocket } from "./admission.ts";
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
    case "subscribe": {
      const rejoin = ws.getUserData().joined.has(frame.topic);
      const outcome = hub.join(ws, frame.topic, null);
      hub.send(ws, outcome.ok ? okFrame(frame.op, frame.ref, { topic: frame.topic }) : errorFrame(outcome.reason, frame.ref, { for: frame.op, topic: frame.topic }));
      if (outcome.ok && !rejoin && frame.since !== null) hub.catchUp(ws, [frame.topic], frame.since);
      return;
    }
    case "unsubscribe": {
      const outcome = hub.leave(ws, frame.topic);
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

/**
 * `/ws?topics=a,b&since=SEQ`: the topics are joined on open, each answered like a subscribe
 * frame, and then caught up together from `since`, in seq order.
 */
export function registerRawSocket(register: RegisterSocket, hub: SocketHub, limits: SocketLimits): void {
  register<SocketData>("/ws", {
    ...limits,
    upgrade: (req) => {
      const query = req.getQuery() ?? "";
      const since = parseSince(new URLSearchParams(query).get("since"));
      if (since === "bad") throw new HttpError(400, `?since=: ${SINCE_PROBLEM}`);
      return hub.upgrade(req, "json", initialTopics(query), since);
    },
    open(ws) {
      hub.opened(ws);
      const data = ws.getUserData();
      for (const name of data.initialTopics) handle(hub, ws, { op: "subscribe", topic: name, since: null, ref: null });
      if (data.initialSince !== null) hub.catchUp(ws, data.initialTopics, data.initialSince);
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
