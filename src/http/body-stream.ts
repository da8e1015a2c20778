// A request body read as it arrives: chunks copied out of uWS, the socket paused while the reader lags.
import type { HttpResponse } from "uWebSockets.js";
import { HttpError } from "../errors.ts";

/** Unread bytes held before the socket is paused; it resumes when the reader has taken them. */
const QUEUED_BYTES_HIGH = 1024 * 1024;

/**
 * Hands a request body to an async reader chunk by chunk, holding at most about
 * QUEUED_BYTES_HIGH unread (uWS keeps delivering until paused, so one more chunk may land). A
 * body over `bytesMax` — declared or received — ends the stream with 413; a client that hangs up
 * ends it with an error too, so no reader waits forever. The reader must call `release()` when
 * it stops early, so a paused socket can carry the answer.
 */
export class BodyStream implements AsyncIterable<Buffer> {
  private readonly chunks: Buffer[] = [];
  private queuedBytes = 0;
  private receivedBytes = 0;
  private ended = false;
  private failure: Error | null = null;
  private paused = false;
  private aborted = false;
  private wake: (() => void) | null = null;

  constructor(
    private readonly res: HttpResponse,
    readonly bytesMax: number,
    declaredLength: string,
  ) {
    if (declaredLength !== "" && Number(declaredLength) > bytesMax) {
      this.fail(new HttpError(413, `request body of ${declaredLength} bytes is over the limit of ${bytesMax} bytes`));
    }
    res.onData((chunk, isLast) => this.receive(chunk, isLast));
  }

  /** Bytes received so far (for progress). */
  get received(): number {
    return this.receivedBytes;
  }

  private receive(chunk: ArrayBuffer, isLast: boolean): void {
    if (this.ended || this.failure) return;
    this.receivedBytes += chunk.byteLength;
    if (this.receivedBytes > this.bytesMax) {
      this.fail(new HttpError(413, `request body is over the limit of ${this.bytesMax} bytes`));
      return;
    }
    if (chunk.byteLength > 0) {
      this.chunks.push(Buffer.from(new Uint8Array(chunk)));
      this.queuedBytes += chunk.byteLength;
    }
    if (isLast) this.ended = true;
    else if (this.queuedBytes > QUEUED_BYTES_HIGH && !this.paused && !this.aborted) {
      this.paused = true;
      this.res.pause();
    }
    this.notify();
  }

  /** The client went away (called from the route's onAborted). */
  abort(): void {
    this.aborted = true;
    this.fail(new HttpError(400, "the client closed the connection before the body was complete"));
  }

  private fail(error: Error): void {
    this.failure ??= error;
    this.notify();
  }

  private notify(): void {
    const wake = this.wake;
    this.wake = null;
    wake?.();
  }

  /** Resumes a paused socket (the answer needs it) and drops what was not read. */
  release(): void {
    this.chunks.length = 0;
    this.queuedBytes = 0;
    if (this.paused && !this.aborted) this.res.resume();
    this.paused = false;
  }

  async *[Symbol.asyncIterator](): AsyncIterator<Buffer> {
    for (;;) {
      if (this.failure) throw this.failure;
      const chunk = this.chunks.shift();
      if (chunk) {
        this.queuedBytes -= chunk.byteLength;
        if (this.paused && this.queuedBytes <= QUEUED_BYTES_HIGH / 2 && !this.aborted) {
          this.paused = false;
          this.res.resume();
        }
        yield chunk;
        continue;
      }
      if (this.ended) return;
      await new Promise<void>((resolve) => {
        this.wake = resolve;
      });
    }
  }
}
