/**
 * asciicast v2 event lines built as bytes: a run's output goes from the relayed chunks straight
 * into the batch's UTF-8, JSON-escaped, without being decoded into a string, stringified and
 * encoded back — that round trip, JSON.stringify most of it, cost the hub 5 ms per MB of ASCII
 * output and 15 of UTF-8 text (bench/README.md). Valid UTF-8 is copied as it is, escaping what
 * JSON.stringify of the decoded text would escape (bytes below 0x20, '"', '\'), so the lines are
 * the same; output that is not valid UTF-8 takes that round trip, and is recorded as a decoder
 * shows it (replacement characters).
 */
import { isUtf8 } from 'node:buffer';

const HEX = '0123456789abcdef';
/** Per byte: 0 when it is written as it is, else the escape JSON.stringify writes for it. */
const ESCAPES: (Uint8Array | undefined)[] = new Array<Uint8Array | undefined>(256).fill(undefined);
for (let b = 0; b < 0x20; b++) ESCAPES[b] = Buffer.from(`\\u00${HEX[b >> 4]}${HEX[b & 15]}`, 'latin1');
for (const [b, e] of [[0x08, '\\b'], [0x09, '\\t'], [0x0a, '\\n'], [0x0c, '\\f'], [0x0d, '\\r'], [0x22, '\\"'], [0x5c, '\\\\']] as const) ESCAPES[b] = Buffer.from(e, 'latin1');
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const NOTHING = new Uint8Array(0);
const MIN_BUFFER = 16 * 1024;

/** The length of the UTF-8 sequence a lead byte begins (1 for ASCII and for bytes that lead none), as StringDecoder reads it. */
function sequenceLength(lead: number): number {
  return lead >= 0xf8 ? 1 : lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : lead >= 0xc0 ? 2 : 1;
}

/** Where a trailing incomplete UTF-8 sequence begins (`bytes.length` when there is none). */
function incompleteTail(bytes: Uint8Array, from: number): number {
  const end = bytes.length;
  for (let i = end - 1; i >= from && i >= end - 3; i--) {
    const b = bytes[i] as number;
    if ((b & 0xc0) === 0x80) continue; // a continuation byte: look further back for its lead
    return end - i < sequenceLength(b) ? i : end;
  }
  return end;
}

/** One batch of event lines, written into a buffer that grows; `take()` hands it over. */
export class EventBatch {
  private buf = Buffer.allocUnsafeSlow(MIN_BUFFER);
  private pos = 0;
  /** An incomplete UTF-8 sequence the last output ended with, completed by the next. */
  private carry: Uint8Array = NOTHING;

  private room(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const next = Buffer.allocUnsafeSlow(Math.max(this.buf.length * 2, this.pos + n));
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }

  private utf8(s: string): void {
    this.room(s.length * 3);
    this.pos += this.buf.write(s, this.pos, 'utf8');
  }

  /** An event whose data is a string (`"r"`, `"m"`, or output as a decoder wrote it). */
  text(time: string, code: string, data: string): void {
    this.utf8(`[${time},"${code}",${JSON.stringify(data)}]\n`);
  }

  /**
   * An `"o"` event for output bytes that continue the previous ones (a sequence split between
   * chunks is written whole with the later one). Writes nothing when no character completes.
   */
  output(time: string, chunks: readonly Uint8Array[]): void {
    const start = this.pos;
    this.utf8(`[${time},"o","`);
    const body = this.pos;
    for (const chunk of chunks) this.outputChunk(chunk);
    if (this.pos === body) this.pos = start;
    else this.utf8('"]\n');
  }

  private outputChunk(chunk: Uint8Array): void {
    let from = 0;
    if (this.carry.length) {
      // complete the carried sequence with the continuation bytes this chunk starts with
      const want = sequenceLength(this.carry[0] as number) - this.carry.length;
      while (from < want && from < chunk.length && ((chunk[from] as number) & 0xc0) === 0x80) from++;
      const seq = Buffer.concat([this.carry, chunk.subarray(0, from)]);
      if (from === want || from < chunk.length) {
        this.carry = NOTHING;
        this.piece(seq);
      } else {
        this.carry = seq; // the chunk ended inside the sequence too
        return;
      }
    }
    const cut = incompleteTail(chunk, from);
    if (cut < chunk.length) this.carry = chunk.slice(cut); // a copy: the chunk's buffer is the relay's
    if (cut > from) this.piece(chunk.subarray(from, cut));
  }

  /** Whole characters (or bytes that are not UTF-8), JSON-escaped into the event. */
  private piece(bytes: Uint8Array): void {
    if (isUtf8(bytes)) return this.escaped(bytes);
    const text = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8');
    const quoted = JSON.stringify(text);
    this.utf8(quoted.slice(1, -1));
  }

  private escaped(src: Uint8Array): void {
    this.room(src.length * 6);
    const out = this.buf;
    let p = this.pos;
    for (let i = 0; i < src.length; i++) {
      const b = src[i] as number;
      if (b >= 0x20 && b !== QUOTE && b !== BACKSLASH) {
        out[p++] = b;
        continue;
      }
      const e = ESCAPES[b] as Uint8Array;
      for (let k = 0; k < e.length; k++) out[p++] = e[k] as number;
    }
    this.pos = p;
  }

  /** The incomplete sequence the output ended with, as a decoder ends it (replacement characters). */
  end(time: string): void {
    if (!this.carry.length) return;
    const rest = Buffer.from(this.carry).toString('utf8');
    this.carry = NOTHING;
    this.text(time, 'o', rest);
  }

  /**
   * The batch's bytes, which the caller now owns: the batch goes on in a new buffer (keeping its
   * carry), sized for a batch like this one — handing over is cheaper than copying out.
   */
  take(): Buffer {
    const out = this.buf.subarray(0, this.pos);
    this.buf = Buffer.allocUnsafeSlow(Math.max(MIN_BUFFER, this.pos * 2));
    this.pos = 0;
    return out;
  }
}
