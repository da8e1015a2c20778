// A cheap websocket subscriber for the fan-out bench: a raw TCP socket, a hand-written handshake, a minimal frame parser.
// Thousands of them fit in one process because nothing is decoded unless the caller asks for it.
import net from "node:net";

/** Called for each data frame with the bytes of its payload: data[start, end). */
export type OnFrame = (subscriber: Subscriber, data: Buffer, start: number, end: number) => void;

const HANDSHAKE_BYTES_MAX = 16 * 1024;
const OPCODE_CONTINUATION = 0x0;
const OPCODE_TEXT = 0x1;
const OPCODE_BINARY = 0x2;
const OPCODE_CLOSE = 0x8;
const OPCODE_PING = 0x9;

/** A client frame: masked (with a zero key, which leaves the payload as is), FIN set. */
export function clientFrame(opcode: number, payload: Buffer): Buffer {
  const length = payload.length;
  if (length > 0xffff) throw new RangeError("client frames here stay under 64 KiB");
  const header = length < 126 ? Buffer.from([0x80 | opcode, 0x80 | length]) : Buffer.from([0x80 | opcode, 0x80 | 126, length >> 8, length & 0xff]);
  return Buffer.concat([header, Buffer.alloc(4), payload]);
}

export class Subscriber {
  /** Data frames counted by the caller (pushes). */
  count = 0;
  closed = false;
  private pending: Buffer | null = null;

  constructor(
    readonly socket: net.Socket,
    readonly probe: boolean,
    private readonly onFrame: OnFrame,
    private readonly onClose: (subscriber: Subscriber) => void,
  ) {
    socket.on("data", (chunk: Buffer) => this.receive(chunk));
    socket.on("error", () => {});
    socket.on("close", () => {
      if (this.closed) return;
      this.closed = true;
      this.onClose(this);
    });
  }

  /** Parses every complete frame in what arrived; keeps the incomplete tail for the next chunk. */
  receive(chunk: Buffer): void {
    const data = this.pending ? Buffer.concat([this.pending, chunk]) : chunk;
    let offset = 0;
    for (;;) {
      const available = data.length - offset;
      if (available < 2) break;
      const first = data[offset]!;
      const second = data[offset + 1]!;
      let length = second & 0x7f;
      let header = 2;
      if (length === 126) {
        if (available < 4) break;
        length = data.readUInt16BE(offset + 2);
        header = 4;
      } else if (length === 127) {
        if (available < 10) break;
        length = Number(data.readBigUInt64BE(offset + 2));
        header = 10;
      }
      if (second & 0x80) {
        this.socket.destroy(new Error("the server sent a masked frame"));
        return;
      }
      if (available < header + length) break;
      const start = offset + header;
      const end = start + length;
      const opcode = first & 0x0f;
      if (opcode === OPCODE_TEXT || opcode === OPCODE_BINARY || opcode === OPCODE_CONTINUATION) this.onFrame(this, data, start, end);
      else if (opcode === OPCODE_PING) this.socket.write(clientFrame(0xa, data.subarray(start, end)));
      else if (opcode === OPCODE_CLOSE) this.socket.end();
      offset = end;
    }
    this.pending = offset < data.length ? Buffer.from(data.subarray(offset)) : null;
  }

  sendText(text: string): void {
    this.socket.write(clientFrame(OPCODE_TEXT, Buffer.from(text)));
  }

  close(): void {
    this.closed = true;
    this.socket.destroy();
  }
}

export interface ConnectOptions {
  port: number;
  /** Path and query, e.g. /ws?topics=bookmarks:firehose */
  path: string;
  probe?: boolean;
  onFrame: OnFrame;
  onClose: (subscriber: Subscriber) => void;
  timeoutMs: number;
}

/** Opens a websocket to 127.0.0.1; rejects with the status line when the server does not switch protocols. */
export function connectSubscriber(options: ConnectOptions): Promise<Subscriber> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: "127.0.0.1", port: options.port });
    socket.setNoDelay(true);
    let received = Buffer.alloc(0);
    const timer = setTimeout(() => fail(new Error(`websocket handshake took over ${options.timeoutMs} ms`)), options.timeoutMs);
    const fail = (error: Error) => {
      clearTimeout(timer);
      socket.destroy();
      reject(error);
    };
    const onHandshake = (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      const end = received.indexOf("\r\n\r\n");
      if (end < 0) {
        if (received.length > HANDSHAKE_BYTES_MAX) fail(new Error("the handshake answer is too long"));
        return;
      }
      const statusLine = received.subarray(0, received.indexOf("\r\n")).toString("latin1");
      if (!/^HTTP\/1\.1 101\b/.test(statusLine)) {
        fail(new Error(`websocket refused: ${statusLine}`));
        return;
      }
      clearTimeout(timer);
      socket.off("data", onHandshake);
      socket.off("error", fail);
      const subscriber = new Subscriber(socket, options.probe ?? false, options.onFrame, options.onClose);
      if (received.length > end + 4) subscriber.receive(received.subarray(end + 4));
      resolve(subscriber);
    };
    socket.on("data", onHandshake);
    socket.on("error", fail);
    socket.on("connect", () => {
      socket.write(
        `GET ${options.path} HTTP/1.1\r\nHost: 127.0.0.1:${options.port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
          "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
      );
    });
  });
}
