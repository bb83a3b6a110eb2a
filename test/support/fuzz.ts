/**
 * A small seeded generator of hostile inputs for the abuse suites: random JSON values, wrong
 * types, huge strings, deep nesting, binary where JSON is expected, odd Unicode (NUL, lone
 * surrogates), prototype-pollution keys. Deterministic for a seed (mulberry32).
 */

export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Field names the hub's bodies and events know: random objects use them half the time. */
const KNOWN_KEYS = [
  'steps', 'liveSession', 'cwd', 'action', 'mode', 'summary', 'message', 'reason', 'ttlMinutes', 'workerId', 'status',
  'exitCode', 'workerHostname', 'attachRo', 'attachRw', 'webRo', 'webRw', 'expiresAt', 'errorMessage', 'runId', 'panes',
  'paneId', 'protocol', 'hostname', 'capacity', 'runs', 'offset', 'cols', 'rows', 'title', 'paused', 'takeover', 'updatedAt',
  '__proto__', 'constructor', 'prototype', 'toString', '',
];

const ODD_STRINGS = [
  '', ' ', '\u0000', 'a\u0000b', '\ud800', '\udfff', 'x\ud83dy', '\u202e', '💥'.repeat(50), '\r\n', '../../etc/passwd', '%00', '%',
  '%E0%A4%A', "'; drop table task_run; --", '${jndi:ldap://x}', '<script>alert(1)</script>', 'null', 'undefined', 'NaN', '-1', '1e309',
  'queued', 'running', 'succeeded', 'failed', 'cancelled', 'ready', 'error', 'ended', 'revoked', 'starting', 'disabled', 'pause',
  'resume', 'takeover', 'soft', 'hard', 'task', 'operator', 'w-fuzz', '2026-01-01T00:00:00Z', 'not a date',
];

export class Fuzz {
  constructor(readonly rand: () => number) {}

  static seeded(seed: number): Fuzz {
    return new Fuzz(mulberry32(seed));
  }

  int(n: number): number {
    return Math.floor(this.rand() * n);
  }

  chance(p: number): boolean {
    return this.rand() < p;
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)] as T;
  }

  uuid(): string {
    const h = () => this.int(16).toString(16);
    const s = (n: number) => Array.from({ length: n }, h).join('');
    return `${s(8)}-${s(4)}-4${s(3)}-a${s(3)}-${s(12)}`;
  }

  number(): number {
    return this.pick([0, -0, 1, -1, 2, 7, 64, 241, 1000, 1001, 65535, 2 ** 31, 2 ** 53, 2 ** 63, -(2 ** 63), 1e20, 1e308, -1e308, 0.5, -0.0001, 3.14159, Number.MAX_SAFE_INTEGER + 2, this.int(1e6)]);
  }

  string(maxLen = 64): string {
    const r = this.rand();
    if (r < 0.35) return this.pick(ODD_STRINGS);
    if (r < 0.45) return this.uuid();
    if (r < 0.5) return 'A'.repeat(this.pick([255, 256, 1000, 4096, 4097, 65536, 65537]));
    const len = this.int(maxLen);
    let out = '';
    for (let i = 0; i < len; i++) {
      const k = this.rand();
      out += k < 0.7 ? String.fromCharCode(32 + this.int(95)) : k < 0.9 ? String.fromCharCode(this.int(0x3000)) : String.fromCharCode(this.int(32));
    }
    return out;
  }

  /** A big string (hundreds of KB to a few MB). */
  hugeString(): string {
    return 'Z'.repeat(this.pick([300_000, 1_100_000, 3_000_000]));
  }

  /** `depth` nested arrays or objects around a leaf. */
  deep(depth: number): unknown {
    let v: unknown = this.chance(0.5) ? 'leaf' : 1;
    const asObject = this.chance(0.5);
    for (let i = 0; i < depth; i++) v = asObject ? { a: v } : [v];
    return v;
  }

  bytes(max = 256): Buffer {
    const n = this.int(max);
    const b = Buffer.alloc(n);
    for (let i = 0; i < n; i++) b[i] = this.int(256);
    return b;
  }

  /** A random JSON-ish value (may contain Buffers when `binary`). */
  value(depth = 0, binary = false): unknown {
    const r = this.rand();
    if (depth > 4 || r < 0.1) return this.pick([null, true, false, undefined]);
    if (r < 0.25) return this.number();
    if (r < 0.5) return this.string();
    if (r < 0.55 && binary) return this.bytes();
    if (r < 0.7) return Array.from({ length: this.int(5) }, () => this.value(depth + 1, binary));
    if (r < 0.72) return this.deep(50 + this.int(500));
    const o: Record<string, unknown> = {};
    const n = this.int(6);
    for (let i = 0; i < n; i++) {
      const key = this.chance(0.6) ? this.pick(KNOWN_KEYS) : this.string(12);
      // JSON.parse makes __proto__ an own key: build it that way too
      Object.defineProperty(o, key, { value: this.value(depth + 1, binary), enumerable: true, configurable: true, writable: true });
    }
    return o;
  }
}
