// Fuzz clients: raw HTTP/1.1 over a socket (nothing validates or repairs what is sent) and a websocket that sends any frame.
import net from "node:net";
import WebSocket from "ws";

/** What came back: a parsed response, the server closing the connection, or nothing before the deadline. */
export type HttpOutcome =
  | { kind: "response"; status: number; headers: Map<string, string>; body: Buffer; trailing: number }
  | { kind: "closed"; received: number }
  | { kind: "timeout"; received: number };

/** Where the response ends in `data` (after its head, with its body); null while incomplete. */
function responseEnd(data: Buffer, headEnd: number, headers: Map<string, string>, status: number, head: boolean): number | null {
  if (head || status === 204 || status === 304 || (status >= 100 && status < 200)) return headEnd;
  const length = headers.get("content-length");
  if (length !== undefined) {
    const end = headEnd + Number(length);
    return data.length >= end ? end : null;
  }
  if (/chunked/i.test(headers.get("transfer-encoding") ?? "")) {
    let at = headEnd;
    for (;;) {
      const lineEnd = data.indexOf("\r\n", at);
      if (lineEnd < 0) return null;
      const size = parseInt(data.subarray(at, lineEnd).toString("latin1"), 16);
      if (!Number.isFinite(size)) return lineEnd;
      at = lineEnd + 2 + size + 2;
      if (size === 0) return data.length >= at ? at : null;
      if (data.length < at) return null;
    }
  }
  return null; // until the server closes
}

function parseHead(data: Buffer): { status: number; headers: Map<string, string>; headEnd: number } | null {
  const end = data.indexOf("\r\n\r\n");
  if (end < 0) return null;
  const lines = data.subarray(0, end).toString("latin1").split("\r\n");
  const status = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0] ?? "");
  const headers = new Map<string, string>();
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(":");
    if (colon > 0) headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
  }
  return { status: status ? Number(status[1]) : 0, headers, headEnd: end + 4 };
}

/**
 * Sends `parts` (written one after another, so a body can arrive in pieces) and reads one
 * response. `trailing` counts bytes after the response's declared end that arrived with it:
 * on a connection the client has not reused, anything there is a broken response.
 */
export function rawHttp(port: number, parts: readonly Buffer[], options: { head: boolean; timeoutMs: number }): Promise<HttpOutcome> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: "127.0.0.1", port });
    let data = Buffer.alloc(0);
    let settled = false;
    const finish = (outcome: HttpOutcome) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(outcome);
    };
    const timer = setTimeout(() => finish({ kind: "timeout", received: data.length }), options.timeoutMs);
    const check = (closed: boolean) => {
      const head = parseHead(data);
      if (head) {
        const end = responseEnd(data, head.headEnd, head.headers, head.status, options.head) ?? (closed ? data.length : null);
        if (end !== null) {
          finish({ kind: "response", status: head.status, headers: head.headers, body: data.subarray(head.headEnd, end), trailing: data.length - end });
          return;
        }
      }
      if (closed) finish({ kind: "closed", received: data.length });
    };
    socket.on("data", (chunk: Buffer) => {
      data = Buffer.concat([data, chunk]);
      // A response that arrived whole may still be followed by bytes it did not declare: give them a moment.
      setImmediate(() => check(false));
    });
    socket.on("end", () => check(true));
    socket.on("close", () => check(true));
    socket.on("error", () => check(true));
    socket.on("connect", async () => {
      for (const part of parts) {
        if (settled || socket.destroyed) return;
        socket.write(part);
        if (parts.length > 1) await new Promise((resolve) => setTimeout(resolve, 1));
      }
    });
  });
}

/** What a websocket session came to: refused at the handshake, answered, or closed (with its code). */
export type SocketOutcome =
  | { kind: "refused"; status: number }
  | { kind: "answered"; frames: number }
  | { kind: "closed"; code: number; frames: number }
  | { kind: "error"; message: string; opened: boolean }
  | { kind: "timeout"; frames: number };

export interface SocketPlan {
  url: string;
  headers: Record<string, string>;
  protocols: string[];
  /** Frames to send after the handshake; strings go as text frames, buffers as binary unless `asText`. */
  frames: { data: string | Buffer; binary: boolean }[];
  /** Sent last; the session counts as answered when a frame containing `probeMarker` comes back. */
  probe: string | null;
  probeMarker: string;
  timeoutMs: number;
}

export function socketSession(plan: SocketPlan): Promise<SocketOutcome> {
  return new Promise((resolve) => {
    let frames = 0;
    let settled = false;
    let opened = false;
    const ws = new WebSocket(plan.url, plan.protocols, { headers: plan.headers, handshakeTimeout: plan.timeoutMs, skipUTF8Validation: true, maxPayload: 64 * 1024 * 1024 });
    const finish = (outcome: SocketOutcome) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      ws.terminate();
      resolve(outcome);
    };
    const timer = setTimeout(() => finish({ kind: "timeout", frames }), plan.timeoutMs);
    ws.on("unexpected-response", (_request, response) => finish({ kind: "refused", status: response.statusCode ?? 0 }));
    ws.on("error", (error) => finish({ kind: "error", message: error.message, opened }));
    ws.on("close", (code) => finish({ kind: "closed", code, frames }));
    ws.on("message", (data) => {
      frames += 1;
      if (plan.probe !== null && Buffer.from(data as Buffer).includes(plan.probeMarker)) finish({ kind: "answered", frames });
    });
    ws.on("open", () => {
      opened = true;
      for (const frame of plan.frames) ws.send(frame.data, { binary: frame.binary });
      if (plan.probe !== null) ws.send(plan.probe);
    });
  });
}
