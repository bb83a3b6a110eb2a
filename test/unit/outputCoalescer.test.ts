import { expect } from 'chai';
import { OutputCoalescer } from '../../agent/outputCoalescer.ts';
import { sleep, waitUntil } from '../support/wait.ts';


function collector(opts: { maxBytes?: number; maxDelayMs?: number; startOffset?: number } = {}) {
  const flushes: Array<{ chunk: Buffer; offset: number }> = [];
  const c = new OutputCoalescer({ ...opts, onFlush: (chunk, offset) => flushes.push({ chunk: Buffer.from(chunk), offset }) });
  return { c, flushes };
}

describe('agent/OutputCoalescer', () => {
  it('merges small chunks pushed within maxDelayMs into one chunk at offset 0', async () => {
    const { c, flushes } = collector({ maxDelayMs: 20 });
    c.push(Buffer.from('ab'));
    c.push(Buffer.from('c'));
    c.push(new Uint8Array([0x64, 0x65])); // plain Uint8Array accepted too
    expect(flushes).to.have.length(0);
    expect(c.pendingLength).to.equal(5);
    await waitUntil('the timer flushes', () => (flushes.length > 0 ? true : undefined), 1000, 5);
    expect(flushes).to.have.length(1);
    expect(flushes[0]?.chunk.toString()).to.equal('abcde');
    expect(flushes[0]?.offset).to.equal(0);
    expect(c.offset).to.equal(5);
  });

  it('under sustained output the delay counts from the oldest pending byte (a steady trickle still flushes)', async () => {
    const { c, flushes } = collector({ maxDelayMs: 30 });
    c.push(Buffer.alloc(2000, 0x61)); // a big flush: the stream is busy, batching is on
    await new Promise((r) => setImmediate(r));
    expect(flushes).to.have.length(1);
    c.push(Buffer.from('x')); // right after a big flush: batched, the 30 ms timer starts here
    const t0 = performance.now();
    const iv = setInterval(() => c.push(Buffer.from('x')), 5);
    while (flushes.length === 1 && performance.now() - t0 < 1000) await sleep(2); // polls for the timer's flush (the test times it)
    clearInterval(iv);
    const waited = performance.now() - t0;
    // (once that small batch is out, output counts as interactive again: later bytes may follow at once)
    expect(flushes.length).to.be.at.least(2);
    expect(waited, 'held for the timer, not sent at once').to.be.at.least(25);
    expect(waited, 'the trickle did not postpone it').to.be.lessThan(200);
    c.flush();
  });

  it('interactive output (after a quiet spell, or small flushes) goes out on the next turn, not after the timer', async () => {
    const { c, flushes } = collector({ maxDelayMs: 1000 });
    c.push(Buffer.from('e'));
    await new Promise((r) => setImmediate(r));
    expect(flushes.map((f) => f.chunk.toString())).to.deep.equal(['e']);
    c.push(Buffer.from('c')); // the previous flush was small: still interactive
    await new Promise((r) => setImmediate(r));
    expect(flushes.map((f) => f.chunk.toString())).to.deep.equal(['e', 'c']);
  });

  it('flushes at once when maxBytes is reached, and tracks offsets', () => {
    const { c, flushes } = collector({ maxBytes: 4, maxDelayMs: 1000 });
    c.push(Buffer.from('ab'));
    expect(flushes).to.have.length(0);
    c.push(Buffer.from('cd')); // reaches 4
    expect(flushes.map((f) => [f.chunk.toString(), f.offset])).to.deep.equal([['abcd', 0]]);
    c.push(Buffer.from('e'));
    c.flush();
    expect(flushes.map((f) => [f.chunk.toString(), f.offset])).to.deep.equal([
      ['abcd', 0],
      ['e', 4],
    ]);
    expect(c.offset).to.equal(5);
  });

  it('cuts a big push into maxBytes pieces, in order', () => {
    const { c, flushes } = collector({ maxBytes: 4 });
    c.push(Buffer.from('0123456789'));
    expect(flushes.map((f) => [f.chunk.toString(), f.offset])).to.deep.equal([
      ['0123', 0],
      ['4567', 4],
      ['89', 8],
    ]);
    expect(c.pendingLength).to.equal(0);
  });

  it('flush() emits pending bytes at once and cancels the timer; empty flush is a no-op', async () => {
    const { c, flushes } = collector({ maxDelayMs: 10 });
    c.flush();
    c.push(Buffer.alloc(0));
    expect(flushes).to.have.length(0);
    c.push(Buffer.from('hi'));
    c.flush();
    expect(flushes).to.have.length(1);
    // A negative wait: no second (timer) flush may come within 30 ms.
    await sleep(30);
    expect(flushes).to.have.length(1);
  });

  it('maxDelayMs 0 flushes on the next turn of the event loop (setImmediate)', async () => {
    const { c, flushes } = collector({ maxDelayMs: 0 });
    c.push(Buffer.from('a'));
    c.push(Buffer.from('b'));
    expect(flushes).to.have.length(0);
    await new Promise((r) => setImmediate(r));
    expect(flushes.map((f) => f.chunk.toString())).to.deep.equal(['ab']);
  });

  it('honours startOffset', () => {
    const { c, flushes } = collector({ startOffset: 1000 });
    c.push(Buffer.from('xyz'));
    c.flush();
    expect(flushes[0]?.offset).to.equal(1000);
    expect(c.offset).to.equal(1003);
    expect(c.totalBytes).to.equal(1003);
  });

  it('random pushes: flushed bytes equal pushed bytes, offsets contiguous, chunks ≤ maxBytes', async () => {
    const { c, flushes } = collector({ maxBytes: 1000, maxDelayMs: 1 });
    const pushed: Buffer[] = [];
    let seed = 42;
    const rnd = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    for (let i = 0; i < 300; i++) {
      const b = Buffer.alloc(Math.floor(rnd() * 2500));
      for (let j = 0; j < b.length; j++) b[j] = Math.floor(rnd() * 256);
      pushed.push(b);
      c.push(b);
      if (rnd() < 0.1) await sleep(2); // pacing: random gaps let the timer flush between pushes
    }
    c.flush();
    let expectOffset = 0;
    for (const f of flushes) {
      expect(f.offset).to.equal(expectOffset);
      expect(f.chunk.length).to.be.within(1, 1000);
      expectOffset += f.chunk.length;
    }
    expect(Buffer.concat(flushes.map((f) => f.chunk)).equals(Buffer.concat(pushed))).to.equal(true);
  });
});
