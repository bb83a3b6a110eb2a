/**
 * Writes a pane's output as an asciicast v2 file (header line, then `[t, "o", data]` and
 * `[t, "r", "COLSxROWS"]` events). A StringDecoder carries UTF-8 sequences split across chunks.
 */
import { createWriteStream } from 'node:fs';
import type { WriteStream } from 'node:fs';
import { StringDecoder } from 'node:string_decoder';

export class AsciicastRecorder {
  private readonly out: WriteStream;
  private readonly decoder = new StringDecoder('utf8');
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

  private elapsed(): number {
    return Math.round(Number(process.hrtime.bigint() - this.started) / 1e3) / 1e6;
  }

  output(chunk: Uint8Array): void {
    if (this.closed) return;
    const text = this.decoder.write(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength));
    if (text) this.out.write(`${JSON.stringify([this.elapsed(), 'o', text])}\n`);
  }

  resize(cols: number, rows: number): void {
    if (this.closed) return;
    this.out.write(`${JSON.stringify([this.elapsed(), 'r', `${cols}x${rows}`])}\n`);
  }

  /** A marker event (asciicast `m`), e.g. where a step began. */
  marker(label: string): void {
    if (this.closed) return;
    this.out.write(`${JSON.stringify([this.elapsed(), 'm', label])}\n`);
  }

  close(): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.closed = true;
    const tail = this.decoder.end();
    if (tail) this.out.write(`${JSON.stringify([this.elapsed(), 'o', tail])}\n`);
    return new Promise((resolve, reject) => this.out.end((err?: Error | null) => (err ? reject(err) : resolve())));
  }
}
