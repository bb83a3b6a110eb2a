import { isUtf8 } from 'node:buffer';
import { StringDecoder } from 'node:string_decoder';
import { expect } from 'chai';
import { EventBatch } from '../../common/asciicastEvents.ts';

/** What the recorder wrote before EventBatch: each entry decoded by a StringDecoder, JSON.stringify'd. */
function reference(entries: Uint8Array[][]): string {
  const decoder = new StringDecoder('utf8');
  let out = '';
  entries.forEach((chunks, i) => {
    const text = decoder.write(Buffer.concat(chunks));
    if (text) out += `[${i}.000000,"o",${JSON.stringify(text)}]\n`;
  });
  const tail = decoder.end();
  if (tail) out += `[${entries.length}.000000,"o",${JSON.stringify(tail)}]\n`;
  return out;
}

/** Through EventBatch, with Node's UTF-8 check and without one (every sequence looked at). */
function viaBatch(entries: Uint8Array[][], takeEvery: number): string {
  const [a, b] = [viaBatchWith(entries, takeEvery, isUtf8), viaBatchWith(entries, takeEvery)];
  expect(a, 'with a UTF-8 check and without').to.equal(b);
  return a;
}

function viaBatchWith(entries: Uint8Array[][], takeEvery: number, check?: (b: Uint8Array) => boolean): string {
  const batch = new EventBatch(check);
  const parts: Uint8Array[] = [];
  entries.forEach((chunks, i) => {
    batch.output(`${i}.000000`, chunks);
    if (i % takeEvery === 0) parts.push(batch.take());
  });
  batch.end(`${entries.length}.000000`);
  parts.push(batch.take());
  return Buffer.concat(parts).toString('utf8');
}

/** A seeded generator, so a failure names its case. */
function random(seed: number): () => number {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
}

/** `bytes` cut at random places into entries of one to three chunks (some empty). */
function cut(bytes: Buffer, rnd: () => number): Uint8Array[][] {
  const entries: Uint8Array[][] = [];
  let i = 0;
  while (i < bytes.length) {
    const chunks: Uint8Array[] = [];
    for (let k = 1 + Math.floor(rnd() * 3); k > 0; k--) {
      const n = Math.floor(rnd() * 9);
      chunks.push(bytes.subarray(i, i + n));
      i += n;
    }
    entries.push(chunks);
  }
  return entries;
}

const TEXT = ['plain ', '\r\n', '\x1b[1;31m', '"quoted"', 'back\\slash', '\t\b\f\x00\x07\x7f', '€', 'ü', '漢字', '😀', '\u2028', '\x1b]0;title\x07'];

describe('asciicast events built as bytes', () => {
  it('writes valid UTF-8 cut anywhere exactly as decoding and JSON.stringify did', () => {
    for (let seed = 1; seed <= 300; seed++) {
      const rnd = random(seed);
      let text = '';
      for (let k = 0; k < 60; k++) text += TEXT[Math.floor(rnd() * TEXT.length)];
      const entries = cut(Buffer.from(text, 'utf8'), rnd);
      expect(viaBatch(entries, 1 + (seed % 4)), `seed ${seed}`).to.equal(reference(entries));
    }
  });

  it('writes bytes that are not UTF-8 as a decoder shows them (replacement characters), cut anywhere', () => {
    const odd = [[0xe2, 0x82], [0xe2], [0xf0, 0x9f, 0x98], [0xc0, 0x80], [0xed, 0xa0, 0x80], [0xff], [0xf8, 0x88], [0x80, 0xbf], [0xf4, 0x90, 0x80, 0x80], [0xe0, 0x80, 0xaf]];
    for (let seed = 1; seed <= 300; seed++) {
      const rnd = random(seed);
      const parts: Buffer[] = [];
      for (let k = 0; k < 40; k++) parts.push(rnd() < 0.4 ? Buffer.from(odd[Math.floor(rnd() * odd.length)] as number[]) : Buffer.from(TEXT[Math.floor(rnd() * TEXT.length)] as string));
      const entries = cut(Buffer.concat(parts), rnd);
      expect(viaBatch(entries, 1 + (seed % 4)), `seed ${seed}`).to.equal(reference(entries));
    }
  });

  it('writes random bytes cut anywhere as a decoder shows them', () => {
    for (let seed = 1; seed <= 300; seed++) {
      const rnd = random(seed);
      // more bytes from 0x80 up than down: most sequences half-formed
      const bytes = Buffer.from(Array.from({ length: 200 }, () => (rnd() < 0.7 ? 0x80 + Math.floor(rnd() * 0x80) : Math.floor(rnd() * 0x80))));
      const entries = cut(bytes, rnd);
      expect(viaBatch(entries, 1 + (seed % 4)), `seed ${seed}`).to.equal(reference(entries));
    }
  });

  it('writes an event only when a character completes, and the incomplete end as a decoder ends it', () => {
    const batch = new EventBatch();
    batch.output('0.1', [Buffer.from([0xe2])]);
    batch.output('0.2', [Buffer.from([0x82])]);
    expect(batch.take().length, 'no event for half a character').to.equal(0);
    batch.output('0.3', [Buffer.from([0xac, 0x41, 0xf0, 0x9f])]);
    batch.end('0.4');
    expect(Buffer.from(batch.take()).toString()).to.equal('[0.3,"o","€A"]\n[0.4,"o","\ufffd"]\n');
  });
});
