// The ceiling: a bare uWebSockets.js server answering the same requests as Nasty with no work behind them.
// Run as a child process; the parent sends its CeilingConfig over IPC and gets back the port it listens on.
import { createRequire } from "node:module";
import path from "node:path";
import { pathToFileURL } from "node:url";
import type * as Uws from "uWebSockets.js";

export interface CeilingConfig {
  /** The 201 body answered to every POST /api/bookmarks (a real Nasty answer, for its size). */
  postAnswer: string;
  /**
   * Bodies answered to GET by path (query ignored), each a real Nasty answer of the same size,
   * sent as bytes (a Buffer encoded once): what a server that keeps its answers encoded pays.
   * The same body as a JS string, which uWS transcodes to UTF-8 on every request (V8 keeps a page
   * with any non-Latin-1 character two bytes per character), is answered under STRING_PREFIX, for
   * the bench's reference row.
   */
  gets: Record<string, { body: string; contentType: string }>;
  /** Websocket path subscribers connect to, and the topic they join. */
  wsPath: string;
  topic: string;
  /** Every POST publishes its body wrapped like a firehose push and padded with spaces to this many bytes (batched per loop turn). */
  frameBytes: number;
  maxBackpressureBytes: number;
}

/** Where the ceiling answers each GET body as a JS string instead of bytes. */
export const STRING_PREFIX = "/as-string";

export type CeilingMessage = { listening: number } | { error: string };

const require = createRequire(import.meta.url);

/** The firehose-shaped frame the ceiling publishes: the request body in an envelope, padded to size. */
export function ceilingFrame(topic: string, body: Buffer, frameBytes: number): string {
  const frame = `{"topic":"${topic}","event":"bookmark_created","payload":${body.toString("utf8")}}`;
  return frame.length >= frameBytes ? frame : frame + " ".repeat(frameBytes - frame.length);
}

function serve(config: CeilingConfig): void {
  const uws = require("uWebSockets.js") as typeof Uws;
  const app = uws.App();
  /**
   * Frames of the POSTs that arrived in this event-loop turn, published together on the next:
   * Nasty publishes a whole group-committed batch at once, so a ceiling that published inside
   * each request would pay one uWS drain (a write per subscriber) per event and flatter Nasty.
   */
  let pending: string[] = [];
  const flush = () => {
    for (const frame of pending) app.publish(config.topic, frame, false);
    pending = [];
  };
  app.post("/api/bookmarks", (res) => {
    let aborted = false;
    res.onAborted(() => {
      aborted = true;
    });
    const chunks: Buffer[] = [];
    res.onData((chunk, isLast) => {
      chunks.push(Buffer.from(new Uint8Array(chunk)));
      if (!isLast) return;
      if (pending.length === 0) setImmediate(flush);
      pending.push(ceilingFrame(config.topic, Buffer.concat(chunks), config.frameBytes));
      if (!aborted) res.cork(() => res.writeStatus("201 Created").writeHeader("Content-Type", "application/json; charset=utf-8").end(config.postAnswer));
    });
  });
  for (const [path, answer] of Object.entries(config.gets)) {
    const bytes = Buffer.from(answer.body, "utf8");
    app.get(path, (res) => {
      res.writeHeader("Content-Type", answer.contentType).end(bytes);
    });
    app.get(STRING_PREFIX + path, (res) => {
      res.writeHeader("Content-Type", answer.contentType).end(answer.body);
    });
  }
  app.ws(config.wsPath, {
    maxBackpressure: config.maxBackpressureBytes,
    closeOnBackpressureLimit: 1,
    idleTimeout: 120,
    open: (ws) => {
      ws.subscribe(config.topic);
    },
  });
  // The resume storm's ceiling: each socket is sent `frames` frames of `bytes` bytes as it opens,
  // the bytes a resuming Nasty subscriber is replayed, with no history, routing or rendering.
  app.ws<{ frames: number; bytes: number }>("/resume", {
    maxBackpressure: config.maxBackpressureBytes,
    closeOnBackpressureLimit: 1,
    idleTimeout: 120,
    upgrade: (res, req, context) => {
      const query = new URLSearchParams(req.getQuery() ?? "");
      const data = { frames: Math.min(100_000, Number(query.get("frames")) || 0), bytes: Math.min(1 << 20, Number(query.get("bytes")) || 1) };
      res.upgrade(data, req.getHeader("sec-websocket-key"), req.getHeader("sec-websocket-protocol"), req.getHeader("sec-websocket-extensions"), context);
    },
    open: (ws) => {
      const { frames, bytes } = ws.getUserData();
      const frame = ceilingFrame(config.topic, Buffer.from("{}"), bytes);
      for (let index = 0; index < frames; index += 1) ws.send(frame, false);
    },
  });
  app.listen("127.0.0.1", 0, (socket) => {
    const message: CeilingMessage = socket ? { listening: uws.us_socket_local_port(socket) } : { error: "the ceiling server could not listen on 127.0.0.1" };
    process.send!(message);
  });
}

if (process.send && process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  process.once("message", (config: CeilingConfig) => serve(config));
  process.once("disconnect", () => process.exit(0));
}
