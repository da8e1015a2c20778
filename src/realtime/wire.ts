// The wire formats of pushed events: raw JSON objects, Phoenix v2 arrays and Phoenix v1 objects, one encoder each.

/**
 * The wire formats a topic is published in: each event is serialised once per wire format
 * and topic, so raw JSON, Phoenix and htmx subscribers each get bytes made for them.
 */
export type Wire = "json" | "phx" | "phx1" | "html";

/** The formats a JSON websocket speaks (htmx fragments are the pages' own). */
export type SocketWire = Extract<Wire, "json" | "phx" | "phx1">;
export const SOCKET_WIRES: readonly SocketWire[] = ["json", "phx", "phx1"];

/** A client's correlation id, echoed in the answer (Phoenix refs are strings; the original's clients send numbers too). */
export type Ref = string | number | null;

/**
 * A Phoenix join_ref as JSON text (`"7"`, `7` or `null`), made only by `joinRefJson`: client-chosen
 * strings are encoded, never spliced raw into a frame.
 */
export type JoinRefJson = string & { readonly __brand: "JoinRefJson" };
export const NULL_JOIN_REF = "null" as JoinRefJson;
export function joinRefJson(joinRef: Ref): JoinRefJson {
  return JSON.stringify(joinRef) as JoinRefJson;
}

/** A payload (a JSON object) with the event's `seq` as its last member: how Phoenix pushes carry it. */
export function payloadWithSeq(payloadJson: string, seq: number): string {
  return payloadJson === "{}" ? `{"seq":${seq}}` : `${payloadJson.slice(0, -1)},"seq":${seq}}`;
}

/**
 * One pushed event as `wire` encodes it, with its `seq`: a member of the raw frame, a member of
 * the payload on Phoenix's wires. `payloadJson` is serialised once per event and shared by every
 * topic and format. Phoenix v2 pushes carry `joinRef`, the join_ref of the class of subscribers
 * the frame is published to (socket-hub.ts groups them), so it is made once per topic and
 * join_ref, not per subscriber; `null` is the shared class, which Phoenix's client accepts on any
 * join, as it does Phoenix's own broadcasts.
 */
export function pushFrame(wire: SocketWire, topicName: string, event: string, payloadJson: string, seq: number, joinRef: JoinRefJson = NULL_JOIN_REF): string {
  const name = JSON.stringify(topicName);
  switch (wire) {
    case "json":
      return `{"topic":${name},"event":"${event}","payload":${payloadJson},"seq":${seq}}`;
    case "phx":
      return `[${joinRef},null,${name},"${event}",${payloadWithSeq(payloadJson, seq)}]`;
    case "phx1":
      return `{"topic":${name},"event":"${event}","payload":${payloadWithSeq(payloadJson, seq)},"ref":null}`;
  }
}

/**
 * The one `resync` a resuming client gets when the history no longer holds what it missed: it
 * should reload what it shows of `topicName` and go on from the live pushes after this frame.
 */
export function resyncFrame(wire: SocketWire, topicName: string, joinRef: JoinRefJson = NULL_JOIN_REF): string {
  const name = JSON.stringify(topicName);
  switch (wire) {
    case "json":
      return `{"op":"resync","topic":${name}}`;
    case "phx":
      return `[${joinRef},null,${name},"resync",{}]`;
    case "phx1":
      return `{"topic":${name},"event":"resync","payload":{},"ref":null}`;
  }
}
