import { expect } from 'chai';
import xtermHeadless from '@xterm/headless';
import serializeAddon from '@xterm/addon-serialize';
import type { ITerminalAddon, Terminal as HeadlessTerminal } from '@xterm/headless';
import { BoundaryTracker, TerminalMirror } from '../../agent/terminalMirror.ts';
import { attributesOf } from '../../agent/terminalState.ts';
import type { AttrSource } from '../../agent/xtermInternals.ts';

const { Terminal } = xtermHeadless;
const { SerializeAddon } = serializeAddon;

/** A fresh reference terminal fed `parts` in order; resolves once all are parsed. */
async function fresh(cols: number, rows: number, ...parts: Array<string | Uint8Array>) {
  const term: HeadlessTerminal = new Terminal({ cols, rows, scrollback: 10000, allowProposedApi: true });
  const ser = new SerializeAddon();
  term.loadAddon(ser as unknown as ITerminalAddon);
  for (const p of parts) await new Promise<void>((r) => term.write(p, r));
  return { term, serialize: () => ser.serialize(), dispose: () => term.dispose() };
}

/** What a viewer shows after writing `data` into a fresh terminal, as @xterm/addon-serialize puts it. */
async function viewOf(cols: number, rows: number, data: string | Uint8Array): Promise<string> {
  const t = await fresh(cols, rows, data);
  const out = t.serialize();
  t.dispose();
  return out;
}

/** A mirror's snapshot after it was fed `parts`. */
async function snapshotOf(cols: number, rows: number, ...parts: Array<string | Uint8Array>): Promise<string> {
  const m = new TerminalMirror(cols, rows);
  for (const p of parts) m.write(typeof p === 'string' ? Buffer.from(p) : p);
  const snap = await m.snapshot();
  m.dispose();
  return snap.data;
}

function lines(term: HeadlessTerminal, which: 'active' | 'normal' | 'alternate' = 'active'): string[] {
  const buf = term.buffer[which];
  const out: string[] = [];
  for (let i = 0; i < buf.length; i++) out.push(buf.getLine(i)?.translateToString(true) ?? '');
  return out;
}

/** Colourful, multi-byte, scrolling output (more lines than rows → scrollback). */
function sampleOutput(lineCount: number): Buffer {
  let s = '';
  for (let i = 0; i < lineCount; i++) s += `\x1b[3${i % 8}mline ${i} é€😀 \x1b[1mbold\x1b[0m ${'x'.repeat(i % 50)}\r\n`;
  return Buffer.from(s, 'utf8');
}

/** Cut at arbitrary byte positions (also inside UTF-8 sequences and escape sequences). */
function chop(buf: Buffer, seed = 1): Buffer[] {
  const out: Buffer[] = [];
  let pos = 0;
  let x = seed;
  while (pos < buf.length) {
    x = (x * 1103515245 + 12345) % 2 ** 31;
    const len = 1 + (x % 97);
    out.push(buf.subarray(pos, pos + len));
    pos += len;
  }
  return out;
}

describe('agent/TerminalMirror', () => {
  it('snapshot after N chunks: offset = total bytes, data round-trips to the same screen', async () => {
    const m = new TerminalMirror(80, 24);
    const all = sampleOutput(200);
    for (const c of chop(all)) m.write(c);
    const snap = await m.snapshot();
    expect(snap).to.include({ cols: 80, rows: 24, offset: all.length });
    // written into a fresh terminal, the snapshot shows what a terminal fed the raw bytes shows…
    const ref = await fresh(80, 24, all);
    expect(await viewOf(80, 24, snap.data)).to.equal(ref.serialize());
    // …and a mirror fed the snapshot snapshots it the same again
    const replay = await fresh(80, 24, snap.data);
    expect(await snapshotOf(80, 24, snap.data)).to.equal(snap.data);
    expect(lines(replay.term)).to.deep.equal(lines(ref.term));
    expect(lines(ref.term).length).to.be.greaterThan(24); // scrollback included
    ref.dispose();
    replay.dispose();
    m.dispose();
  });

  it('a snapshot taken while writes stream in reflects exactly bytes [0, offset)', async () => {
    const m = new TerminalMirror(100, 30);
    const all = sampleOutput(8000); // ~0.5 MB: xterm parses this over many time slices
    // cut inside a 4-byte character (and mid line)
    const half = all.indexOf(Buffer.from('😀'), Math.floor(all.length / 2)) + 2;
    for (const c of chop(all.subarray(0, half), 3)) m.write(c);
    const pending = m.snapshot();
    for (const c of chop(all.subarray(half), 5)) m.write(c); // queued behind the snapshot
    const snap = await pending;
    // the cut lies inside "😀": the snapshot moves on to the end of that character
    expect(snap.offset).to.equal(half + 2);
    const atHalf = await fresh(100, 30, all.subarray(0, snap.offset));
    expect(await viewOf(100, 30, snap.data)).to.equal(atHalf.serialize());
    // late joiner: snapshot + the bytes after its offset == the final mirror screen
    const final = await m.snapshot();
    expect(final.offset).to.equal(all.length);
    const joiner = await fresh(100, 30, snap.data, all.subarray(snap.offset));
    expect(joiner.serialize()).to.equal(await viewOf(100, 30, final.data));
    atHalf.dispose();
    joiner.dispose();
    m.dispose();
  });

  it('several overlapping snapshots each get a consistent offset', async () => {
    const m = new TerminalMirror(40, 10);
    const all = sampleOutput(3000);
    const chunks = chop(all, 9);
    const snaps: Array<Promise<{ offset: number; data: string }>> = [];
    let written = 0;
    const expectedOffsets: number[] = [];
    chunks.forEach((c, i) => {
      m.write(c);
      written += c.length;
      if (i % 400 === 0) {
        snaps.push(m.snapshot());
        expectedOffsets.push(written);
      }
    });
    const got = await Promise.all(snaps);
    // each offset is at or shortly after the request point (the next parser ground boundary)
    got.forEach((s, i) => expect(s.offset - (expectedOffsets[i] as number)).to.be.within(0, 16));
    for (const s of got.slice(0, 4)) {
      const ref = await fresh(40, 10, all.subarray(0, s.offset));
      expect(await viewOf(40, 10, s.data)).to.equal(ref.serialize());
      ref.dispose();
    }
    const final = await m.snapshot();
    for (const s of got) {
      const joiner = await fresh(40, 10, s.data, all.subarray(s.offset));
      expect(joiner.serialize()).to.equal(await viewOf(40, 10, final.data));
      joiner.dispose();
    }
    m.dispose();
  });

  it('cursor-addressing output round-trips (screen and cursor)', async () => {
    const m = new TerminalMirror(40, 10);
    m.write(Buffer.from('junk line\r\n\x1b[2J\x1b[5;10Hhello\x1b[8;3H\x1b[7mrev\x1b[0m\x1b[1;1H'));
    const snap = await m.snapshot();
    const replay = await fresh(40, 10, snap.data);
    const screen = lines(replay.term).slice(-10);
    expect(screen[4]).to.equal(`${' '.repeat(9)}hello`);
    expect(screen[7]).to.equal('  rev');
    const buf = replay.term.buffer.active;
    expect([buf.cursorX, buf.cursorY]).to.deep.equal([0, 0]);
    expect(buf.getLine(buf.baseY + 7)?.getCell(2)?.isInverse()).to.not.equal(0);
    expect(await snapshotOf(40, 10, snap.data)).to.equal(snap.data);
    replay.dispose();
    m.dispose();
  });

  it('keeps what the 16-colour codes cannot say: a 256-colour index below 16, underline styles and colours, dim without bold', async () => {
    // a terminal that shows bold as bright draws bold 38;5;1 dark red and bold 31 bright red
    const out = '\x1b[1;38;5;1mA\x1b[0m \x1b[48;5;12mB\x1b[0m \x1b[1;31mC\x1b[0m \x1b[4:3;58;5;196mD\x1b[0m \x1b[4:2;58;2;10;20;30mE\x1b[0m \x1b[1;2mF\x1b[22;2mG\x1b[0m\r\n';
    const ref = await fresh(40, 10, out);
    const replay = await fresh(40, 10, await snapshotOf(40, 10, out));
    const cells = (t: HeadlessTerminal) => {
      const line = t.buffer.active.getLine(0);
      return Array.from({ length: 13 }, (_, x) => {
        const c = line?.getCell(x);
        return c && c.getChars().trim() !== '' ? JSON.stringify(attributesOf(c as unknown as AttrSource)) : '';
      });
    };
    expect(cells(replay.term)).to.deep.equal(cells(ref.term));
    // and the reference read them apart (else the comparison says nothing)
    expect(new Set(cells(ref.term).filter(Boolean)).size).to.equal(7);
    ref.dispose();
    replay.dispose();
  });

  it('alt-screen (vim-like) state round-trips with the normal buffer kept', async () => {
    const m = new TerminalMirror(40, 10);
    m.write(Buffer.from('$ shell prompt\r\n$ vim file\r\n'));
    m.write(Buffer.from('\x1b[?1049h\x1b[2J\x1b[1;1H~ alt line 1\r\n~ alt line 2\x1b[10;1H-- INSERT --\x1b[2;5H'));
    const snap = await m.snapshot();
    const replay = await fresh(40, 10, snap.data);
    expect(replay.term.buffer.active.type).to.equal('alternate');
    const alt = lines(replay.term, 'alternate');
    expect(alt[0]).to.equal('~ alt line 1');
    expect(alt[1]).to.equal('~ alt line 2');
    expect(alt[9]).to.equal('-- INSERT --');
    expect([replay.term.buffer.active.cursorX, replay.term.buffer.active.cursorY]).to.deep.equal([4, 1]);
    expect(lines(replay.term, 'normal').slice(0, 2)).to.deep.equal(['$ shell prompt', '$ vim file']);
    // leaving the alt screen in both gives the same normal screen
    m.write(Buffer.from('\x1b[?1049l'));
    const after = await m.snapshot();
    await new Promise<void>((r) => replay.term.write('\x1b[?1049l', r));
    expect(lines(replay.term)).to.deep.equal(lines((await fresh(40, 10, after.data)).term));
    replay.dispose();
    m.dispose();
  });

  it('orders resize with the surrounding writes', async () => {
    const m = new TerminalMirror(20, 5);
    const before = sampleOutput(500);
    m.write(before);
    m.resize(30, 8); // must apply after `before` is parsed
    m.write(Buffer.from('after resize\r\n'));
    const snap = await m.snapshot();
    expect(snap).to.include({ cols: 30, rows: 8, offset: before.length + 14 });
    const ref = await fresh(20, 5, before);
    ref.term.resize(30, 8);
    await new Promise<void>((r) => ref.term.write('after resize\r\n', r));
    expect(await viewOf(30, 8, snap.data)).to.equal(ref.serialize());
    expect(m.cols).to.equal(30);
    ref.dispose();
    m.dispose();
  });

  it('a snapshot requested mid escape sequence waits for its end', async () => {
    const m = new TerminalMirror(20, 5);
    m.write(Buffer.from('ab\x1b[3'));
    let early = false;
    const p = m.snapshot().then((snap) => ((early = true), snap));
    await new Promise((r) => setTimeout(r, 20)); // negative wait: the snapshot must not come before the sequence ends
    expect(early, 'a snapshot mid escape sequence').to.equal(false);
    m.write(Buffer.from('1mred\x1b[0m'));
    const snap = await p;
    expect(snap.offset).to.equal(7); // 'ab' + '\x1b[31m'
    const final = await m.snapshot();
    const joiner = await fresh(20, 5, snap.data, Buffer.from('red\x1b[0m'));
    expect(joiner.serialize()).to.equal(await viewOf(20, 5, final.data));
    expect(final.data).to.contain('red');
    joiner.dispose();
    m.dispose();
  });

  it('gives up waiting for a ground boundary after a while', async () => {
    const m = new TerminalMirror(20, 5);
    m.write(Buffer.from([0x61, 0x62, 0x63, 0xe2, 0x82])); // 'abc' + half a "€", and nothing more comes
    const t0 = Date.now();
    const snap = await m.snapshot();
    expect(Date.now() - t0).to.be.within(150, 2000);
    expect(snap.offset).to.equal(5);
    expect(snap.data).to.contain('abc');
    m.dispose();
  });

  it('dispose() rejects a pending snapshot', async () => {
    const m = new TerminalMirror(80, 24);
    m.write(sampleOutput(5000));
    const p = m.snapshot();
    m.dispose();
    let err: unknown;
    try {
      await p;
    } catch (e) {
      err = e;
    }
    expect(err).to.be.instanceOf(Error);
  });
});

describe('agent/TerminalMirror step marks', () => {
  /** The line a mark points at, read in a fresh viewer that wrote the snapshot: what a late joiner marks. */
  async function markedLines(snap: { data: string; marks: { step: number; line: number }[] }, cols: number, rows: number) {
    const t = await fresh(cols, rows, snap.data);
    const b = t.term.buffer.active;
    const out = snap.marks.map((m) => `${m.step}:${b.getLine(b.baseY + b.cursorY + m.line)?.translateToString(true) ?? '?'}`);
    t.dispose();
    return out;
  }

  it('puts each mark on the line where the step began, in order with the output, scrollback included', async () => {
    const m = new TerminalMirror(40, 5);
    m.write(Buffer.from('zero\r\n'));
    m.mark(0);
    m.write(Buffer.from('first line of step 1\r\n'));
    for (let i = 0; i < 8; i++) m.write(Buffer.from(`line ${i}\r\n`));
    m.mark(1);
    m.write(Buffer.from('step 2 begins\r\nmore'));
    const full = await m.snapshot();
    expect(await markedLines(full, 40, 5)).to.deep.equal(['0:first line of step 1', '1:step 2 begins']);
    // without scrollback: only the marks on the screen
    const screen = await m.snapshot({ scrollback: false });
    expect(screen.marks.map((x) => x.step)).to.deep.equal([1]);
    m.dispose();
  });

  it('a step that begins again replaces its mark and the later ones; lines trimmed from the scrollback take their marks along', async () => {
    const m = new TerminalMirror(20, 3, 4);
    m.mark(0);
    m.write(Buffer.from('a\r\n'));
    m.mark(1);
    m.write(Buffer.from('b\r\n'));
    m.mark(0); // the steps restart
    m.write(Buffer.from('again\r\n'));
    expect((await m.snapshot()).marks.map((x) => x.step)).to.deep.equal([0]);
    for (let i = 0; i < 20; i++) m.write(Buffer.from(`${i}\r\n`));
    expect((await m.snapshot()).marks, 'its line left the 4-line scrollback').to.deep.equal([]);
    m.dispose();
  });

  it('sets no mark while a full-screen program holds the alternate screen', async () => {
    const m = new TerminalMirror(20, 5);
    m.write(Buffer.from('\x1b[?1049h'));
    m.mark(0);
    m.write(Buffer.from('\x1b[?1049l'));
    expect((await m.snapshot()).marks).to.deep.equal([]);
    m.dispose();
  });
});

describe('agent/BoundaryTracker', () => {
  const at = (...parts: string[]) => {
    const t = new BoundaryTracker();
    for (const p of parts) t.feed(Buffer.from(p, 'latin1'));
    return t.atGround;
  };
  it('tracks UTF-8 sequences', () => {
    expect(at('abc')).to.equal(true);
    expect(at('\xe2\x82')).to.equal(false);
    expect(at('\xe2\x82', '\xac')).to.equal(true);
    expect(at('\xf0\x9f\x98')).to.equal(false);
    expect(at('\xf0\x9f\x98\x80')).to.equal(true);
    expect(at('\xe2\x82A')).to.equal(true); // invalid sequence, restarted at 'A'
  });
  it('tracks ESC / CSI / OSC / DCS sequences', () => {
    expect(at('\x1b')).to.equal(false);
    expect(at('\x1b[')).to.equal(false);
    expect(at('\x1b[1;3')).to.equal(false);
    expect(at('\x1b[1;31m')).to.equal(true);
    expect(at('\x1b[?1049h')).to.equal(true);
    expect(at('\x1b(')).to.equal(false);
    expect(at('\x1b(B')).to.equal(true);
    expect(at('\x1b7')).to.equal(true);
    expect(at('\x1b]0;title')).to.equal(false);
    expect(at('\x1b]0;title\x07')).to.equal(true);
    expect(at('\x1b]8;;http://x\x1b')).to.equal(false);
    expect(at('\x1b]8;;http://x\x1b\\')).to.equal(true);
    expect(at('\x1bPq#0;2;0;0;0')).to.equal(false);
    expect(at('\x1bPq#0;2;0;0;0\x1b\\')).to.equal(true);
    expect(at('\x1b[12\x18')).to.equal(true); // CAN aborts
  });
  it('reaches the same state whatever the chunking (the ASCII fast path agrees with byte-by-byte)', () => {
    // a deterministic pseudo-random mix of text, sequences, strings, aborts and UTF-8
    let seed = 42;
    const rnd = (n: number) => ((seed = (seed * 1103515245 + 12345) % 2 ** 31), seed % n);
    const pieces = ['text ', 'line\r\n', '\x1b[1;31m', '\x1b[', '0m', '\x1b]0;title', '\x07', '\x1bPq#0', '\x1b\\', '\x1b(B', '\x18', '\x1a', '\x1b', '7', '\xe2\x82\xac', '\xc2\x9b', '2J', 'x'];
    for (let trial = 0; trial < 300; trial++) {
      const stream = Buffer.from(Array.from({ length: 40 }, () => pieces[rnd(pieces.length)]).join(''), 'latin1');
      const byByte = new BoundaryTracker();
      const chunked = new BoundaryTracker();
      let pos = 0;
      while (pos < stream.length) {
        const end = Math.min(stream.length, pos + 1 + rnd(12));
        for (let i = pos; i < end; i++) byByte.feed(stream.subarray(i, i + 1));
        chunked.feed(stream.subarray(pos, end));
        expect(chunked.atGround, `trial ${trial} at ${end}: ${JSON.stringify(stream.subarray(0, end).toString('latin1'))}`).to.equal(byByte.atGround);
        pos = end;
      }
    }
  });
  it('recognises C1 controls encoded as UTF-8', () => {
    expect(at('\xc2\x9b')).to.equal(false); // C1 CSI
    expect(at('\xc2\x9b2J')).to.equal(true);
    expect(at('\xc2\xa0')).to.equal(true); // NBSP is just a character
  });
});
