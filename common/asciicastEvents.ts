/**
 * asciicast v2 event lines built as bytes, for the hub's recording of a run and the agent's own
 * file: output goes from its chunks straight into the lines' UTF-8, JSON-escaped, without being
 * decoded into a string, stringified and encoded back — that round trip, JSON.stringify most of
 * it, cost the hub 5 ms per MB of ASCII output and 15 of UTF-8 text, and the agent as much
 * (bench/README.md). Bytes are escaped where JSON.stringify of the decoded text escapes them
 * (below 0x20, '"', '\') and each ill-formed sequence becomes U+FFFD as a UTF-8 decoder replaces
 * it (WHATWG's maximal subparts), so the lines are what that round trip wrote. No Node API: the
 * hub and the agent both use it.
 */

const HEX = '0123456789abcdef';
/** Per byte below 0x80: the escape JSON.stringify writes for it, or nothing when it is written as it is. */
const ESCAPES: (Uint8Array | undefined)[] = new Array<Uint8Array | undefined>(0x80).fill(undefined);
for (let b = 0; b < 0x20; b++) ESCAPES[b] = ascii(`\\u00${HEX[b >> 4]}${HEX[b & 15]}`);
for (const [b, e] of [[0x08, '\\b'], [0x09, '\\t'], [0x0a, '\\n'], [0x0c, '\\f'], [0x0d, '\\r'], [0x22, '\\"'], [0x5c, '\\\\']] as const) ESCAPES[b] = ascii(e);
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const NOTHING = new Uint8Array(0);
const MIN_BUFFER = 16 * 1024;
/** The buffer a batch keeps for the next once taken: reused, it is not allocated (and zeroed) again for each. */
const MAX_KEPT_BUFFER = 1024 * 1024;

function ascii(s: string): Uint8Array {
  return Uint8Array.from(s, (c) => c.charCodeAt(0));
}

/** The length of the well-formed sequence a lead byte begins (1 for ASCII and for bytes that lead none). */
function sequenceLength(lead: number): number {
  return lead >= 0xf5 ? 1 : lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : lead >= 0xc2 ? 2 : 1;
}

/**
 * How many bytes a chunk ending at this lead byte is held back for, as Node's StringDecoder holds
 * them (it waits after C0, C1 and F5–F7 too, which then become U+FFFD with what follows).
 */
function heldLength(lead: number): number {
  return lead >= 0xf8 ? 1 : lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : lead >= 0xc0 ? 2 : 1;
}

/** The range the second byte of a sequence led by `lead` must be in (Unicode table 3-7). */
function secondLow(lead: number): number {
  return lead === 0xe0 ? 0xa0 : lead === 0xf0 ? 0x90 : 0x80;
}
function secondHigh(lead: number): number {
  return lead === 0xed ? 0x9f : lead === 0xf4 ? 0x8f : 0xbf;
}

/**
 * At src[i], a lead byte ≥ 0x80: the length of the well-formed sequence it begins, or minus the
 * length of the maximal subpart a decoder replaces with one U+FFFD.
 */
function sequenceAt(src: Uint8Array, i: number, end: number): number {
  const lead = src[i] as number;
  const n = sequenceLength(lead);
  if (n === 1) return -1;
  for (let k = 1; k < n; k++) {
    const b = i + k < end ? (src[i + k] as number) : -1;
    const ok = k === 1 ? b >= secondLow(lead) && b <= secondHigh(lead) : b >= 0x80 && b <= 0xbf;
    if (!ok) return -k;
  }
  return n;
}

/**
 * Writes the sequence at src[i] (its lead ≥ 0x80), or the U+FFFD that replaces it when it is
 * ill-formed, into out at p (which has room for 6 more than the bytes left); returns the new
 * p × 8 + how many more bytes of src it took (at most 3).
 */
function sequence(src: Uint8Array, i: number, end: number, out: Uint8Array, p: number): number {
  const n = sequenceAt(src, i, end);
  if (n > 0) {
    for (let k = 0; k < n; k++) out[p++] = src[i + k] as number;
    return p * 8 + n - 1;
  }
  out[p++] = 0xef; // U+FFFD
  out[p++] = 0xbf;
  out[p++] = 0xbd;
  return p * 8 + -n - 1;
}

/** Where a trailing incomplete UTF-8 sequence begins (`bytes.length` when there is none). */
function incompleteTail(bytes: Uint8Array, from: number): number {
  const end = bytes.length;
  for (let i = end - 1; i >= from && i >= end - 3; i--) {
    const b = bytes[i] as number;
    if ((b & 0xc0) === 0x80) continue; // a continuation byte: look further back for its lead
    return end - i < heldLength(b) ? i : end;
  }
  return end;
}

/** One batch of event lines, written into a buffer that grows; `take()` copies them out. */
export class EventBatch {
  /** `isUtf8`: the platform's check that bytes are well-formed UTF-8 (Node's is native and fast), if it has one. */
  constructor(private readonly isUtf8?: (bytes: Uint8Array) => boolean) {}

  private buf = new Uint8Array(MIN_BUFFER);
  private pos = 0;
  /** An incomplete UTF-8 sequence the last output ended with, completed by the next. */
  private carry: Uint8Array = NOTHING;

  private room(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const next = new Uint8Array(Math.max(this.buf.length * 2, this.pos + n));
    next.set(this.buf.subarray(0, this.pos));
    this.buf = next;
  }

  /** A string's UTF-8 (JSON.stringify's output has no lone surrogates). */
  private utf8(s: string): void {
    this.room(s.length * 3);
    const out = this.buf;
    let p = this.pos;
    for (let i = 0; i < s.length; i++) {
      let c = s.charCodeAt(i);
      if (c < 0x80) out[p++] = c;
      else if (c < 0x800) {
        out[p++] = 0xc0 | (c >> 6);
        out[p++] = 0x80 | (c & 63);
      } else if (c >= 0xd800 && c < 0xdc00 && i + 1 < s.length) {
        c = 0x10000 + ((c - 0xd800) << 10) + (s.charCodeAt(++i) - 0xdc00);
        out[p++] = 0xf0 | (c >> 18);
        out[p++] = 0x80 | ((c >> 12) & 63);
        out[p++] = 0x80 | ((c >> 6) & 63);
        out[p++] = 0x80 | (c & 63);
      } else {
        out[p++] = 0xe0 | (c >> 12);
        out[p++] = 0x80 | ((c >> 6) & 63);
        out[p++] = 0x80 | (c & 63);
      }
    }
    this.pos = p;
  }

  /** An event whose data is a string (`"r"`, `"m"`). */
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
    // plain Uint8Array views: the escaping loop then reads one kind of array (a Buffer is another, and slower mixed)
    for (const chunk of chunks) this.outputChunk(chunk.constructor === Uint8Array ? chunk : new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength));
    if (this.pos === body) this.pos = start;
    else this.utf8('"]\n');
  }

  private outputChunk(chunk: Uint8Array): void {
    let from = 0;
    if (this.carry.length) {
      // complete the carried sequence with the continuation bytes this chunk starts with
      const want = heldLength(this.carry[0] as number) - this.carry.length;
      while (from < want && from < chunk.length && ((chunk[from] as number) & 0xc0) === 0x80) from++;
      const seq = new Uint8Array(this.carry.length + from);
      seq.set(this.carry);
      seq.set(chunk.subarray(0, from), this.carry.length);
      if (from < want && from === chunk.length) {
        this.carry = seq; // the chunk ended inside the sequence too
        return;
      }
      this.carry = NOTHING;
      this.escaped(seq, seq.length);
    }
    const cut = incompleteTail(chunk, from);
    if (cut > from) this.escaped(chunk.subarray(from, cut), cut - from);
    if (cut < chunk.length) this.carry = new Uint8Array(chunk.subarray(cut)); // a copy: the chunk's buffer is the caller's
  }

  /** src[0, end) JSON-escaped into the event, each ill-formed sequence as U+FFFD. */
  private escaped(src: Uint8Array, end: number): void {
    // room for every byte as it is; an escape (at most 6 bytes for 1) makes more when it needs it
    this.room(end);
    let out = this.buf;
    let p = this.pos;
    // bytes the platform found well-formed need no look at their sequences: only ASCII is escaped
    const wellFormed = this.isUtf8?.(end === src.length ? src : src.subarray(0, end)) ?? false;
    for (let i = 0; i < end; i++) {
      const b = src[i] as number;
      // what is written as it is, most of any output, in the tightest loop; the rest out of line
      if (b >= 0x20 && b !== QUOTE && b !== BACKSLASH && (b < 0x7f || wellFormed)) {
        out[p++] = b;
        continue;
      }
      if (p + 6 + (end - i) > out.length) {
        this.pos = p;
        this.room(6 + (end - i));
        out = this.buf;
      }
      if (b < 0x80) {
        const e = ESCAPES[b];
        if (!e) out[p++] = b; // DEL
        else for (let k = 0; k < e.length; k++) out[p++] = e[k] as number;
        continue;
      }
      const n = sequence(src, i, end, out, p);
      p = Math.floor(n / 8);
      i += n % 8;
    }
    this.pos = p;
  }

  /** The incomplete sequence the output ended with, as a decoder ends it (U+FFFD). */
  end(time: string): void {
    if (!this.carry.length) return;
    const rest = this.carry;
    this.carry = NOTHING;
    this.utf8(`[${time},"o","`);
    this.escaped(rest, rest.length);
    this.utf8('"]\n');
  }

  /** The batch's bytes (a copy the caller owns); the batch starts over empty, keeping its carry. */
  take(): Uint8Array {
    const out = this.buf.slice(0, this.pos);
    this.pos = 0;
    // a burst's buffer is not kept for a quiet run
    if (this.buf.length > MAX_KEPT_BUFFER) this.buf = new Uint8Array(MIN_BUFFER);
    return out;
  }
}
