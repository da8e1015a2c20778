// Test support: bookmark creations sent to a cluster's nodes under load, every answer kept (status, node, when sent and answered) for a test's checks.
import { request } from "./server.ts";
import { sleep } from "./realtime.ts";
import { eventually, type ClusterNode } from "./cluster.ts";

/** Concurrent writers, each sending to the nodes in turn. */
const LANES = 3;
/** Writes per lane at the most (a bound, far above what a test waits for). */
const WRITES_PER_LANE_MAX = 100_000;
/** Pause after a write that was not acknowledged, before the next. */
const PAUSE_AFTER_REFUSAL_MS = 50;

export interface WriteAnswer {
  node: number;
  /** Date.now() when the request was sent and when its answer (or failure) came. */
  sentMs: number;
  answeredMs: number;
  /** null: no answer (the connection failed, the bound passed, or the answer broke the API's description). */
  status: number | null;
  text: string;
}

/** Bookmark creations sent to every node in turn, as fast as they are answered; keeps the ids of the 201s. */
export class Writers {
  private readonly acknowledged: number[] = [];
  private running = true;
  private readonly loops: Promise<void>[];
  private counter = 0;
  /** Every write sent, in the order answered. */
  readonly answers: WriteAnswer[] = [];
  /** Writes answered 503 (Postgres or the leader gone), or 409 for a retried write an earlier leader had committed. */
  refused = 0;
  /** Answers that were neither 201, 503 nor that 409. */
  readonly unexpected: string[] = [];
  /** Writes that got no answer within the bound, or none at all (a node killed, a connection reset). */
  readonly failures: string[] = [];

  /** `answerMsMax`: longest wait for one answer before it counts as a failure. */
  constructor(private readonly nodes: ClusterNode[], private readonly token: string, private readonly answerMsMax = 15_000) {
    this.loops = Array.from({ length: LANES }, (_, lane) => this.loop(lane));
  }

  private async loop(lane: number): Promise<void> {
    for (let attempt = 0; attempt < WRITES_PER_LANE_MAX && this.running; attempt += 1) {
      const node = this.nodes[(lane + attempt) % this.nodes.length]!;
      const number = (this.counter += 1);
      const sentMs = Date.now();
      try {
        const reply = await request(node.url, "POST", "/api/bookmarks", { token: this.token, body: { bookmark: { url: `https://kill.example/${number}`, title: `k${number}`, public: true } }, signal: AbortSignal.timeout(this.answerMsMax) });
        this.answers.push({ node: node.nodeId, sentMs, answeredMs: Date.now(), status: reply.status, text: reply.text.slice(0, 300) });
        if (reply.status === 201) {
          this.acknowledged.push(reply.json.bookmark.data.id as number);
          continue;
        }
        // 409: a retried write that an earlier leader had committed (its answer was lost with that leader).
        if (reply.status === 503 || (reply.status === 409 && /already committed/.test(reply.text))) this.refused += 1;
        else this.unexpected.push(`${reply.status} ${reply.text.slice(0, 200)}`);
      } catch (error) {
        const message = `node ${node.nodeId}, sent at ${new Date(sentMs).toISOString()}: ${(error as Error).message}`;
        this.answers.push({ node: node.nodeId, sentMs, answeredMs: Date.now(), status: null, text: message });
        this.failures.push(message);
      }
      await sleep(PAUSE_AFTER_REFUSAL_MS);
    }
  }

  /** How many writes were acknowledged so far. */
  get acknowledgedCount(): number {
    return this.acknowledged.length;
  }

  /** Waits until `more` further writes were acknowledged. */
  async until(more: number): Promise<void> {
    const target = this.acknowledged.length + more;
    await eventually(`${more} more acknowledged writes`, async () => this.acknowledged.length >= target);
  }

  async stop(): Promise<number[]> {
    this.running = false;
    await Promise.all(this.loops);
    return this.acknowledged;
  }
}

/** The nodes' log lines naming the request ids in `answers` (an unexpected answer's cause). */
export function loggedFor(nodes: readonly ClusterNode[], answers: readonly string[]): string {
  const ids = answers.map((answer) => /"request_id":"([^"]+)"/.exec(answer)?.[1]).filter((id): id is string => id !== undefined);
  return nodes.flatMap((node) => {
    const lines = node.output().split("\n");
    return lines.flatMap((line, index) => (ids.some((id) => line.includes(id)) ? lines.slice(index, index + 12).map((text) => `node ${node.nodeId}: ${text}`) : []));
  }).join("\n");
}
