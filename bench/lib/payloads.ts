/**
 * Output shaped like users' runs (issue 17): files a step `cat`s, generated once per size from a
 * fixed seed, and the checker of what a viewer received. Each payload's expected stream is the
 * file as the pty passes it on (ONLCR: "\n" → "\r\n"); a viewer is exact when its bytes, in
 * order and from offset 0, hash to that stream's SHA-256.
 */
import { createHash } from 'node:crypto';
import type { Hash } from 'node:crypto';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface Payload {
  name: string;
  title: string;
  file: string;
  /** Bytes of the pty's output for the file. */
  ptyBytes: number;
  sha256: string;
}

/** xorshift32: the same bytes on every run and machine. */
function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x;
  };
}

type Gen = (bytes: number) => string;

const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';

const GENERATORS: Array<{ name: string; title: string; gen: Gen }> = [
  {
    name: 'base64',
    title: 'random base64, 76-column lines',
    gen: (bytes) => {
      const r = rng(76);
      const lines: string[] = [];
      let n = 0;
      while (n < bytes) {
        let l = '';
        for (let i = 0; i < 76; i++) l += B64[r() & 63];
        lines.push(l);
        n += 77;
      }
      return `${lines.join('\n')}\n`;
    },
  },
  {
    name: 'colour',
    title: 'colour logs (SGR on most lines, like a test runner)',
    gen: (bytes) => {
      const r = rng(7);
      const verdicts = ['\x1b[32m✓\x1b[0m', '\x1b[32m✓\x1b[0m', '\x1b[32m✓\x1b[0m', '\x1b[31m✗\x1b[0m', '\x1b[33m-\x1b[0m'];
      const words = ['parses', 'the', 'config', 'hub', 'agent', 'replays', 'a', 'recording', 'snapshot', 'joins', 'late', 'refuses', 'grant', 'stale'];
      const lines: string[] = [];
      let n = 0;
      while (n < bytes) {
        const k = r();
        let l: string;
        if (k % 9 === 0) l = `\x1b[1m\x1b[36m${words[k % words.length]}/${words[(k >> 4) % words.length]}.test.ts\x1b[0m`;
        else if (k % 11 === 0) l = `    at Context.<anonymous> (test/e2e/${words[k % words.length]}.test.ts:${k % 400}:${k % 80})`;
        else {
          const w = Array.from({ length: 3 + (k % 6) }, (_, i) => words[(k >> i) % words.length]).join(' ');
          l = `  ${verdicts[k % verdicts.length]} ${w} \x1b[90m(${k % 900} ms)\x1b[0m`;
        }
        lines.push(l);
        n += Buffer.byteLength(l) + 1;
      }
      return `${lines.join('\n')}\n`;
    },
  },
  {
    name: 'utf8',
    title: 'UTF-8 with wide characters (CJK, emoji)',
    gen: (bytes) => {
      const r = rng(8);
      const pieces = ['日本語の出力', '中文输出', '한국어', '😀', '🚀', 'naïve café', 'ação', 'Ωμέγα', 'ASCII text'];
      const lines: string[] = [];
      let n = 0;
      while (n < bytes) {
        const k = r();
        const l = Array.from({ length: 4 + (k % 5) }, (_, i) => pieces[(k >> (i * 3)) % pieces.length]).join(' ');
        lines.push(l);
        n += Buffer.byteLength(l) + 1;
      }
      return `${lines.join('\n')}\n`;
    },
  },
  {
    name: 'redraw',
    title: 'full-screen redraw loop (cursor addressing, like top)',
    gen: (bytes) => {
      const r = rng(9);
      const frames: string[] = [];
      let n = 0;
      let frame = 0;
      while (n < bytes) {
        let f = `\x1b[H\x1b[7m top - frame ${frame++} \x1b[K\x1b[0m`;
        for (let row = 2; row <= 40; row++) {
          const k = r();
          f += `\x1b[${row};1H${String(k % 99999).padStart(6)} user ${String(k % 100).padStart(3)}.${k % 10} ${(k % 2 ? 'S' : 'R')} \x1b[1mproc-${k % 977}\x1b[0m\x1b[K`;
        }
        frames.push(f);
        n += Buffer.byteLength(f);
      }
      return frames.join('');
    },
  },
  {
    name: 'yes',
    title: 'one repeated line (the FIFO shape of the throughput scenario)',
    gen: (bytes) => {
      const line = 'handoff-bench 0123456789 abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ 0123\n';
      return line.repeat(Math.ceil(bytes / line.length));
    },
  },
];

export const PAYLOAD_NAMES = GENERATORS.map((g) => g.name);

/** Writes (or reuses) each payload file of about `bytes` in `dir`. */
export function makePayloads(dir: string, bytes: number, only?: string[]): Payload[] {
  return GENERATORS.filter((g) => !only || only.includes(g.name)).map((g) => {
    const file = join(dir, `payload-${g.name}-${bytes}.txt`);
    const text = g.gen(bytes);
    if (!existsSync(file)) writeFileSync(file, text);
    const stream = Buffer.from(text.replace(/\n/g, '\r\n'), 'utf8');
    return { name: g.name, title: g.title, file, ptyBytes: stream.length, sha256: createHash('sha256').update(stream).digest('hex') };
  });
}

/** Feeds a viewer's chunks in order; exact when they are the payload's stream from offset 0. */
export class HashVerifier {
  bytes = 0;
  discontinuities = 0;
  private readonly hash: Hash = createHash('sha256');
  private next: number;

  constructor(
    readonly payload: Payload,
    readonly start = 0,
  ) {
    this.next = start;
  }

  feed(offset: number, chunk: Uint8Array): void {
    if (offset !== this.next) this.discontinuities++;
    this.hash.update(chunk);
    this.bytes += chunk.byteLength;
    this.next = offset + chunk.byteLength;
  }

  /** Only once, at the end. */
  exact(): boolean {
    return this.start === 0 && this.discontinuities === 0 && this.bytes === this.payload.ptyBytes && this.hash.digest('hex') === this.payload.sha256;
  }
}
