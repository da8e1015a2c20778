// Test support for websockets: a real `ws` client that records every frame, with bounded waits and an in-order barrier.
import net from "node:net";
import WebSocket from "ws";
import type { Nasty } from "../../src/main.ts";

/** Longest any single wait in these tests may take before it fails with a message (not a speed assertion). */
export const WAIT_MS_MAX = 10_000;

export function wsUrl(nasty: Nasty, path: string): string {
  return nasty.url.replace(/^http/, "ws") + path;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls `condition` every 20 ms until it holds; fails naming `what` after `boundMs`. */
export async function until(condition: () => boolean, what: string, boundMs = WAIT_MS_MAX): Promise<void> {
  for (let waited = 0; !condition(); waited += 20) {
    if (waited >= boundMs) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

/**
 * A websocket client that keeps every frame it receives (parsed as JSON). Frames arrive in the
 * order the server sent them, so `barrier()` — a ping answered after everything sent before it
 * — proves that no other push is on its way: "nothing else" is checked without sleeping.
 */
export class Client {
  readonly frames: any[] = [];
  readonly socket: WebSocket;
  closed: { code: number; reason: string } | null = null;
  pings = 0;
  private barriers = 0;

  constructor(url: string, options: WebSocket.ClientOptions = {}) {
    this.socket = new WebSocket(url, options);
    this.socket.on("message", (data) => this.frames.push(JSON.parse(data.toString())));
    this.socket.on("ping", () => (this.pings += 1));
    this.socket.on("close", (code, reason) => (this.closed = { code, reason: reason.toString() }));
    this.socket.on("error", () => {});
  }

  static async open(url: string, options: WebSocket.ClientOptions = {}): Promise<Client> {
    const client = new Client(url, options);
    await client.opened();
    return client;
  }

  opened(): Promise<void> {
    return new Promise((resolve, reject) => {
      if (this.socket.readyState === WebSocket.OPEN) return resolve();
      this.socket.once("open", () => resolve());
      this.socket.once("unexpected-response", (_request, response) => reject(new Error(`handshake answered ${response.statusCode}`)));
      this.socket.once("error", reject);
    });
  }

  send(frame: unknown): void {
    this.socket.send(typeof frame === "string" ? frame : JSON.stringify(frame));
  }

  /** Waits for the first frame at or after `from` matching `match`; returns it. */
  async next(match: (frame: any) => boolean, what: string, from = 0): Promise<any> {
    let found: any;
    await until(() => (found = this.frames.slice(from).find(match)) !== undefined || this.closed !== null, what);
    if (found === undefined) throw new Error(`socket closed (${JSON.stringify(this.closed)}) while waiting for ${what}`);
    return found;
  }

  /** Sends a frame and waits for the answer after it (the first frame matching `match`). */
  async ask(frame: unknown, match: (frame: any) => boolean, what: string): Promise<any> {
    const from = this.frames.length;
    this.send(frame);
    return this.next(match, what, from);
  }

  /** Raw protocol: everything the server sent before this returns has been received. */
  async barrier(): Promise<void> {
    const ref = `barrier-${(this.barriers += 1)}`;
    await this.ask({ op: "ping", ref }, (frame) => frame.ref === ref, "the barrier ping");
  }

  /** Pushes only (not answers), raw protocol: `[event, id]` pairs on `topic`. */
  events(topic: string): [string, number][] {
    return this.frames.filter((frame) => frame.topic === topic && frame.op === undefined).map((frame) => [frame.event, frame.payload.id ?? frame.payload.bookmark_id]);
  }

  pushes(): any[] {
    return this.frames.filter((frame) => frame.op === undefined);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    const closed = new Promise((resolve) => this.socket.once("close", resolve));
    this.socket.close();
    await closed;
  }
}

/** Subscribes a raw client and checks the server said ok. */
export async function subscribe(client: Client, topic: string): Promise<void> {
  const answer = await client.ask({ op: "subscribe", topic, ref: `sub ${topic}` }, (frame) => frame.ref === `sub ${topic}`, `the answer to subscribe ${topic}`);
  if (answer.op !== "ok") throw new Error(`subscribe ${topic} refused: ${answer.reason}`);
}

/**
 * A websocket that completes its handshake by hand and then never reads: the kernel buffers
 * fill, then the server's. Resolves once the request is written; `socket.resume()` reads again.
 */
export async function stalledWebsocket(port: number, pathAndQuery: string): Promise<net.Socket> {
  const socket = net.connect(port, "127.0.0.1");
  await new Promise((resolve, reject) => socket.once("connect", resolve).once("error", reject));
  socket.write(
    `GET ${pathAndQuery} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
  );
  socket.pause();
  return socket;
}

/**
 * Updates one bookmark with a 9 KB description in batches of 50 while `keepGoing()` holds, at
 * most `updatesMax` times (a bounded flood through the real command path); returns the count.
 */
export async function floodUpdates(nasty: Nasty, username: string, bookmarkId: number, keepGoing: () => Promise<boolean>, updatesMax = 4_000): Promise<number> {
  const user = nasty.store.userByName(username);
  if (!user) throw new Error(`no user ${username}`);
  const description = "d".repeat(9_000);
  const BATCH = 50;
  let updates = 0;
  while (updates < updatesMax && (await keepGoing())) {
    const batch = [];
    for (let index = 0; index < BATCH; index += 1) batch.push(nasty.commands.updateBookmark(user, bookmarkId, { description: `${updates + index} ${description}` }));
    await Promise.all(batch);
    updates += BATCH;
  }
  return updates;
}

/** One hx-ws message of /live: `content` swapped into `target` with `swap`. */
export interface Fragment {
  content: string;
  target: string;
  swap: string;
}

/** A /live socket of a page: its fragments in order (their seqs apart), and how it closed. */
export interface Live {
  socket: WebSocket;
  next(): Promise<Fragment>;
  /** The seq of each fragment received, in order. */
  seqs: number[];
  closed: Promise<{ code: number; reason: string }>;
}

/** Opens /live on `topic`; resolves once open (the server has subscribed it by then). */
/**
 * A fragment as the page swaps it (a resync comes as swap "resync"): its `seq` checked (a whole number, also on the swapped element
 * as `data-seq` when there is one) and set apart. Stats panels carry none: they are no event.
 */
export function fragmentOf(message: Fragment & { seq?: unknown }, seqs: number[]): Fragment {
  const { seq, ...fragment } = message;
  if ((message as { resync?: unknown }).resync === true) return { content: "", target: "", swap: "resync" };
  if (fragment.target === "#stats-panel") return fragment;
  if (typeof seq !== "number" || !Number.isSafeInteger(seq)) throw new Error(`a fragment without its seq: ${JSON.stringify(message).slice(0, 200)}`);
  seqs.push(seq);
  const marked = /^(\s*<[a-zA-Z][a-zA-Z0-9-]*) data-seq="(\d+)"/.exec(fragment.content);
  if (fragment.content.trim() !== "" && Number(marked?.[2]) !== seq) throw new Error(`the swapped element does not carry data-seq="${seq}": ${fragment.content.slice(0, 120)}`);
  return marked ? { ...fragment, content: fragment.content.replace(` data-seq="${seq}"`, "") } : fragment;
}

/** Opens /live on `topic` (`since`: resume after that seq); resolves once open (the server has subscribed it by then). */
export async function openLive(base: string, topicName: string, headers: Record<string, string> = {}, since: number | null = null): Promise<Live> {
  const resume = since === null ? "" : `&since=${since}`;
  const socket = new WebSocket(`${base.replace(/^http/, "ws")}/live?topic=${encodeURIComponent(topicName)}${resume}`, { headers });
  const queue: Fragment[] = [];
  const seqs: number[] = [];
  const waiting: ((fragment: Fragment) => void)[] = [];
  socket.on("message", (data) => {
    const fragment = fragmentOf(JSON.parse(String(data)) as Fragment, seqs);
    const waiter = waiting.shift();
    if (waiter) waiter(fragment);
    else queue.push(fragment);
  });
  const closed = new Promise<{ code: number; reason: string }>((resolve) => socket.on("close", (code, reason) => resolve({ code, reason: String(reason) })));
  await new Promise<void>((resolve, reject) => {
    socket.once("open", () => resolve());
    socket.once("error", reject);
  });
  /** The next fragment; fails after WAIT_MS_MAX rather than waiting forever. */
  const next = (): Promise<Fragment> => {
    if (queue.length > 0) return Promise.resolve(queue.shift()!);
    return new Promise((resolve, reject) => {
      const waiter = (fragment: Fragment) => {
        clearTimeout(timer);
        resolve(fragment);
      };
      const timer = setTimeout(() => {
        waiting.splice(waiting.indexOf(waiter), 1);
        reject(new Error(`no fragment on /live?topic=${topicName} within ${WAIT_MS_MAX} ms`));
      }, WAIT_MS_MAX);
      waiting.push(waiter);
    });
  };
  return { socket, closed, next, seqs };
}
