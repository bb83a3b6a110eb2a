import { expect } from 'chai';
import { PaneStream } from '../../common/paneStream.ts';
import type { PaneStreamOptions } from '../../common/paneStream.ts';

const enc = new TextEncoder();
const dec = new TextDecoder();
const b = (s: string) => enc.encode(s);

function setup(extra: Partial<PaneStreamOptions> = {}) {
  const out: string[] = [];
  const log: string[] = [];
  let gaps = 0;
  const s = new PaneStream({
    write: (d) => {
      out.push(typeof d === 'string' ? d : dec.decode(d));
      log.push(typeof d === 'string' ? 'str' : 'bytes');
    },
    onGap: () => gaps++,
    onReset: (cols, rows) => out.push(`<reset ${cols}x${rows}>`),
    ...extra,
  });
  return { s, out, log, gaps: () => gaps };
}

describe('common/PaneStream', () => {
  it('buffers chunks before the first snapshot and replays them trimmed after it', () => {
    const { s, out, gaps } = setup();
    expect(s.expectedOffset).to.equal(null);
    s.push(0, b('hello')); // entirely covered by the snapshot
    s.push(5, b(' wor')); // straddles: snapshot covers up to 7 ("hello w")
    s.push(9, b('ld'));
    expect(out).to.deep.equal([]);
    s.applySnapshot({ offset: 7, cols: 80, rows: 24, data: 'SNAP(hello w)' });
    expect(out).to.deep.equal(['<reset 80x24>', 'SNAP(hello w)', 'or', 'ld']);
    expect(s.expectedOffset).to.equal(11);
    expect(gaps()).to.equal(0);
  });

  it('writes in-order chunks and advances the expected offset', () => {
    const { s, out } = setup();
    s.applySnapshot({ offset: 100, cols: 10, rows: 5, data: '' });
    s.push(100, b('abc'));
    s.push(103, new Uint8Array([0x64]).buffer); // ArrayBuffer accepted (browser socket.io)
    expect(out.slice(2)).to.deep.equal(['abc', 'd']);
    expect(s.expectedOffset).to.equal(104);
  });

  it('drops duplicates entirely below the expected offset', () => {
    const { s, out } = setup();
    s.applySnapshot({ offset: 0, cols: 10, rows: 5, data: '' });
    s.push(0, b('abcdef'));
    s.push(0, b('abc'));
    s.push(3, b('def'));
    s.push(6, b(''));
    expect(out.slice(2)).to.deep.equal(['abcdef']);
    expect(s.expectedOffset).to.equal(6);
  });

  it('writes only the tail of a chunk straddling the expected offset', () => {
    const { s, out } = setup();
    s.applySnapshot({ offset: 4, cols: 10, rows: 5, data: 'abcd' });
    s.push(2, b('cdefg'));
    expect(out.slice(2)).to.deep.equal(['efg']);
    expect(s.expectedOffset).to.equal(7);
  });

  it('on a gap: calls onGap once, buffers until the next snapshot, then resumes', () => {
    const { s, out, gaps } = setup();
    s.applySnapshot({ offset: 0, cols: 10, rows: 5, data: '' });
    s.push(0, b('ab'));
    s.push(5, b('fg')); // bytes 2..4 missing
    s.push(7, b('hi'));
    expect(gaps()).to.equal(1);
    expect(s.expectedOffset).to.equal(null);
    expect(out.slice(2)).to.deep.equal(['ab']);
    s.applySnapshot({ offset: 6, cols: 12, rows: 6, data: 'S6' });
    expect(out.slice(3)).to.deep.equal(['<reset 12x6>', 'S6', 'g', 'hi']);
    expect(s.expectedOffset).to.equal(9);
    // a later gap is reported again
    s.push(20, b('x'));
    expect(gaps()).to.equal(2);
  });

  it('a snapshot older than the buffered chunks leaves a gap: reported, rest kept', () => {
    const { s, out, gaps } = setup();
    s.push(10, b('kl'));
    s.push(12, b('mn'));
    s.applySnapshot({ offset: 5, cols: 10, rows: 5, data: 'S5' });
    expect(gaps()).to.equal(1);
    expect(s.expectedOffset).to.equal(null);
    expect(out).to.deep.equal(['<reset 10x5>', 'S5']);
    s.applySnapshot({ offset: 11, cols: 10, rows: 5, data: 'S11' });
    expect(out.slice(2)).to.deep.equal(['<reset 10x5>', 'S11', 'l', 'mn']);
    expect(s.expectedOffset).to.equal(14);
  });

  it('replays buffered chunks in offset order', () => {
    const { s, out } = setup();
    s.push(3, b('de'));
    s.push(0, b('abc'));
    s.applySnapshot({ offset: 0, cols: 10, rows: 5, data: '' });
    expect(out.slice(2)).to.deep.equal(['abc', 'de']);
  });

  it('bounds the wait buffer: drops the oldest bytes and calls onGap once', () => {
    const { s, out, gaps } = setup({ maxBufferedBytes: 10 });
    s.push(0, b('aaaa'));
    s.push(4, b('bbbb'));
    expect(gaps()).to.equal(0);
    s.push(8, b('cccc')); // 12 > 10: "aaaa" dropped
    s.push(12, b('dddd')); // 12 > 10: "bbbb" dropped
    expect(gaps()).to.equal(1);
    expect(s.bufferedByteCount).to.equal(8);
    s.applySnapshot({ offset: 9, cols: 10, rows: 5, data: '' });
    expect(out.slice(2)).to.deep.equal(['ccc', 'dddd']);
    expect(s.expectedOffset).to.equal(16);
  });

  it('passes snapshot data as given (string or bytes) and live bytes as Uint8Array', () => {
    const { s, log } = setup();
    s.applySnapshot({ offset: 0, cols: 10, rows: 5, data: b('x') });
    s.push(0, b('y'));
    s.applySnapshot({ offset: 1, cols: 10, rows: 5, data: 'x' });
    expect(log).to.deep.equal(['bytes', 'bytes', 'str']);
  });

  it('reset() forgets state and waits for a new snapshot', () => {
    const { s, out } = setup();
    s.applySnapshot({ offset: 0, cols: 10, rows: 5, data: '' });
    s.push(0, b('a'));
    s.reset();
    expect(s.expectedOffset).to.equal(null);
    s.push(1, b('b'));
    expect(out.slice(2)).to.deep.equal(['a']);
    s.applySnapshot({ offset: 1, cols: 10, rows: 5, data: 'S' });
    expect(out.slice(3)).to.deep.equal(['<reset 10x5>', 'S', 'b']);
  });

  it('random chunking with duplicates/overlaps reassembles the exact stream', () => {
    const source = new Uint8Array(5000).map((_, i) => (i * 7) % 251);
    let seed = 7;
    const rnd = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    const got: number[] = [];
    const s = new PaneStream({
      write: (d) => {
        if (typeof d !== 'string') got.push(...d);
      },
      onGap: () => expect.fail('no gap expected'),
    });
    s.applySnapshot({ offset: 0, cols: 10, rows: 5, data: new Uint8Array() });
    let pos = 0;
    while (pos < source.length) {
      const len = 1 + Math.floor(rnd() * 200);
      const back = Math.floor(rnd() * Math.min(pos, 50)); // re-send some already-seen bytes
      const start = pos - back;
      s.push(start, source.slice(start, start + len));
      pos = Math.max(pos, Math.min(source.length, start + len));
    }
    expect(got).to.deep.equal([...source]);
  });

  it('a snapshot older than chunks already written replays the newer tail after it (screen first, scrollback later)', () => {
    const { s, out } = setup();
    s.applySnapshot({ offset: 0, cols: 10, rows: 5, data: 'screen' });
    s.push(0, b('ab'));
    s.push(2, b('cd'));
    s.push(4, b('ef'));
    // the full state, taken at offset 3, arrives after the live chunks up to 6
    s.applySnapshot({ offset: 3, cols: 10, rows: 5, data: 'FULL' });
    expect(out.slice(-3)).to.deep.equal(['FULL', 'd', 'ef']);
    expect(s.expectedOffset).to.equal(6);
    s.push(6, b('g'));
    expect(out.at(-1)).to.equal('g');
  });

  it('keeps only a bounded tail for such replays; beyond it a gap is signalled', () => {
    let gaps = 0;
    const { s } = setup({ maxRecentBytes: 4, onGap: () => gaps++ });
    s.applySnapshot({ offset: 0, cols: 10, rows: 5, data: '' });
    for (let i = 0; i < 5; i++) s.push(i * 2, b('xx'));
    // the tail kept starts at offset 6: a snapshot at 2 cannot be completed from it
    s.applySnapshot({ offset: 2, cols: 10, rows: 5, data: 'OLD' });
    expect(gaps).to.equal(1);
  });

  describe('step marks', () => {
    /** The writes and marks in the order the terminal gets them. */
    function marked() {
      const seen: string[] = [];
      const s = new PaneStream({
        write: (d) => seen.push(typeof d === 'string' ? d : dec.decode(d)),
        onGap: () => seen.push('<gap>'),
        mark: (step, line) => seen.push(`<mark ${step} ${line}>`),
      });
      return { s, seen };
    }

    it('places a live mark after the bytes before its offset and before those after it', () => {
      const { s, seen } = marked();
      s.applySnapshot({ offset: 0, cols: 80, rows: 24, data: '' });
      s.push(0, b('one\n'));
      s.pushMark(4, 1); // in order: at the bytes written so far
      s.pushMark(9, 2); // ahead of the bytes: waits for them
      s.push(4, b('two\n'));
      s.push(8, b('x'));
      s.push(9, b('three'));
      expect(seen).to.deep.equal(['', 'one\n', '<mark 1 0>', 'two\n', 'x', '<mark 2 0>', 'three']);
    });

    it('takes a snapshot\'s marks as lines above the cursor and drops live marks it already holds', () => {
      const { s, seen } = marked();
      s.pushMark(3, 0); // before any snapshot: held
      s.push(10, b('later'));
      s.pushMark(15, 1);
      s.applySnapshot({ offset: 10, cols: 80, rows: 24, data: 'SNAP', marks: [{ step: 0, line: -4 }] });
      expect(seen).to.deep.equal(['SNAP', '<mark 0 -4>', 'later', '<mark 1 0>']);
    });

    it('places again the marks of bytes replayed after a snapshot older than them', () => {
      const { s, seen } = marked();
      s.applySnapshot({ offset: 0, cols: 80, rows: 24, data: '' });
      s.push(0, b('abc'));
      s.pushMark(3, 1);
      s.push(3, b('def'));
      seen.length = 0;
      s.applySnapshot({ offset: 2, cols: 80, rows: 24, data: 'SNAP(ab)' });
      expect(seen).to.deep.equal(['SNAP(ab)', 'c', '<mark 1 0>', 'def']);
    });
  });
});
