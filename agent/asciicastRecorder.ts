/**
 * Writes a pane's output as an asciicast v2 file (header line, then `[t, "o", data]`,
 * `[t, "r", "COLSxROWS"]` and `[t, "m", label]` events), the lines built as bytes by
 * common/asciicastEvents.ts and written in batches: every FLUSH_MS, past FLUSH_BYTES, and at close.
 */
import { isUtf8 } from 'node:buffer';
import { createWriteStream } from 'node:fs';
import type { WriteStream } from 'node:fs';
import { EventBatch } from '../common/asciicastEvents.ts';

const FLUSH_MS = 250;
const FLUSH_BYTES = 256 * 1024;

export class AsciicastRecorder {
  private readonly out: WriteStream;
  private readonly batch = new EventBatch(isUtf8);
  private pending = 0;
  private timer: NodeJS.Timeout | undefined;
  private readonly started = process.hrtime.bigint();
  private closed = false;

  constructor(
    readonly path: string,
    cols: number,
    rows: number,
    title?: string,
  ) {
    this.out = createWriteStream(path, { flags: 'w' });
    const header = { version: 2, width: cols, height: rows, timestamp: Math.floor(Date.now() / 1000), env: { TERM: 'xterm-256color', SHELL: '/bin/bash' }, ...(title ? { title } : {}) };
    this.out.write(`${JSON.stringify(header)}\n`);
  }

  /** Seconds since the start, as JSON writes the number. */
  private elapsed(): string {
    return String(Math.round(Number(process.hrtime.bigint() - this.started) / 1e3) / 1e6);
  }

  output(chunk: Uint8Array): void {
    if (this.closed) return;
    this.batch.output(this.elapsed(), [chunk]);
    this.pending += chunk.byteLength;
    if (this.pending >= FLUSH_BYTES) this.flush();
    else this.timer ??= setTimeout(() => this.flush(), FLUSH_MS);
  }

  resize(cols: number, rows: number): void {
    if (this.closed) return;
    this.batch.text(this.elapsed(), 'r', `${cols}x${rows}`);
    this.timer ??= setTimeout(() => this.flush(), FLUSH_MS);
  }

  /** A marker event (asciicast `m`), e.g. where a step began. */
  marker(label: string): void {
    if (this.closed) return;
    this.batch.text(this.elapsed(), 'm', label);
    this.timer ??= setTimeout(() => this.flush(), FLUSH_MS);
  }

  private flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.pending = 0;
    const bytes = this.batch.take();
    if (bytes.length) this.out.write(bytes);
  }

  close(): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.closed = true;
    this.batch.end(this.elapsed());
    this.flush();
    return new Promise((resolve, reject) => this.out.end((err?: Error | null) => (err ? reject(err) : resolve())));
  }
}
