/**
 * Coalesces the many small chunks a pty emits into fewer, bigger ones (by size and by time),
 * so each output event sent to the hub carries a useful amount of bytes. The concatenation of
 * the flushed chunks is exactly the concatenation of the pushed ones (nothing dropped, copied
 * out of order or duplicated); a flushed chunk is never larger than maxBytes (a huge push is
 * cut into maxBytes pieces, which may cut a UTF-8 sequence: consumers must treat the stream
 * as bytes). Every chunk carries its byte offset in the pane's output (= bytes flushed before
 * it). Pushed buffers are kept by reference until flushed: do not mutate them.
 */
export interface OutputCoalescerOptions {
  /** Flush at once when this many bytes are pending (default 64 KiB). */
  maxBytes?: number;
  /** Flush pending bytes at most this long after the first one arrived (default 4 ms). */
  maxDelayMs?: number;
  onFlush: (chunk: Buffer, offset: number) => void;
  /** Offset of the first byte (e.g. when continuing a pane's stream); default 0. */
  startOffset?: number;
}

/** Output after this much silence is interactive: sent without waiting for the batching timer. */
const QUIET_MS = 20;
/** …and so is output while each flush carries less than this. */
const INTERACTIVE_BYTES = 1024;

export class OutputCoalescer {
  private readonly maxBytes: number;
  private readonly maxDelayMs: number;
  private readonly onFlush: (chunk: Buffer, offset: number) => void;
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private flushed: number;
  private timer: NodeJS.Timeout | undefined;
  private immediate: NodeJS.Immediate | undefined;
  private lastFlushAt = -Infinity;
  private lastFlushBytes = 0;

  constructor(opts: OutputCoalescerOptions) {
    this.maxBytes = Math.max(1, opts.maxBytes ?? 64 * 1024);
    this.maxDelayMs = Math.max(0, opts.maxDelayMs ?? 4);
    this.onFlush = opts.onFlush;
    this.flushed = opts.startOffset ?? 0;
  }

  /** Bytes flushed so far (= the offset of the next flushed chunk). */
  get offset(): number {
    return this.flushed;
  }

  /** Bytes pushed but not yet flushed. */
  get pendingLength(): number {
    return this.pendingBytes;
  }

  /** Total bytes pushed (flushed + pending). */
  get totalBytes(): number {
    return this.flushed + this.pendingBytes;
  }

  push(buf: Uint8Array): void {
    if (buf.length === 0) return;
    // copy-free for Buffers; a plain Uint8Array is wrapped without copying
    this.pending.push(Buffer.isBuffer(buf) ? buf : Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength));
    this.pendingBytes += buf.length;
    if (this.pendingBytes >= this.maxBytes) {
      this.flush();
      return;
    }
    this.schedule();
  }

  /** Emit everything pending now, as chunks of at most maxBytes. */
  flush(): void {
    this.cancelTimer();
    if (this.pendingBytes === 0) return;
    this.lastFlushAt = performance.now();
    this.lastFlushBytes = this.pendingBytes;
    const all = this.pending.length === 1 ? (this.pending[0] as Buffer) : Buffer.concat(this.pending, this.pendingBytes);
    this.pending = [];
    this.pendingBytes = 0;
    for (let start = 0; start < all.length; start += this.maxBytes) {
      const chunk = all.subarray(start, Math.min(all.length, start + this.maxBytes));
      const offset = this.flushed;
      this.flushed += chunk.length;
      this.onFlush(chunk, offset);
    }
  }

  /** Flush what is pending and stop timers. */
  close(): void {
    this.flush();
  }

  private schedule(): void {
    if (this.timer || this.immediate) return; // the delay counts from the oldest pending byte
    // Interactive output (after a quiet spell, or while flushes stay small: typing, echoes,
    // prompts) goes out at the end of this event-loop turn: an echo must not wait for the timer.
    // Under sustained output (big flushes) the timer batches.
    const interactive = this.lastFlushBytes < INTERACTIVE_BYTES || performance.now() - this.lastFlushAt > QUIET_MS;
    if (this.maxDelayMs === 0 || interactive) this.immediate = setImmediate(() => this.flush());
    else this.timer = setTimeout(() => this.flush(), this.maxDelayMs);
  }

  private cancelTimer(): void {
    if (this.timer) clearTimeout(this.timer);
    if (this.immediate) clearImmediate(this.immediate);
    this.timer = undefined;
    this.immediate = undefined;
  }
}
