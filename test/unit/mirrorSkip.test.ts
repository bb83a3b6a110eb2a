/**
 * A mirror that falls behind a burst of plain text, or of full-screen redraws, leaves out what
 * later output overwrites (TerminalMirror.skipPlain, skipFrames) — and its snapshots stay exactly
 * those of a mirror that parsed every byte, before and after the burst, whatever state came
 * before it.
 */
import { expect } from 'chai';
import { TerminalMirror } from '../../agent/terminalMirror.ts';

const COLS = 120;
const ROWS = 40;

/** About `bytes` of numbered base64-like lines, CR LF terminated like a pty's output. */
function plainLines(bytes: number, seed: number, width = 76): Buffer {
  const out: string[] = [];
  let n = 0;
  let x = seed;
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/ ';
  for (let i = 0; n < bytes; i++) {
    let l = `${i}:`;
    while (l.length < width) {
      x = (x * 1103515245 + 12345) >>> 0;
      l += alphabet[x % alphabet.length];
    }
    // now and then a wide character, a tab and a long line that wraps
    if (i % 97 === 0) l += '\t日本語 😀';
    if (i % 211 === 0) l += 'w'.repeat(200);
    out.push(l);
    n += l.length + 2;
  }
  return Buffer.from(`${out.join('\r\n')}\r\n`);
}

/** Output the reference mirror is given between two snapshots: under the 1 MiB from which a waiting snapshot looks for output to leave out. */
const REFERENCE_PIECE = 1024 * 1024 - 1;

/** A mirror fed `parts` at once: it falls behind. */
function behind(parts: Buffer[], piece = 64 * 1024): TerminalMirror {
  const fast = new TerminalMirror(COLS, ROWS);
  for (const p of parts) for (let i = 0; i < p.length; i += piece) fast.write(p.subarray(i, i + piece));
  return fast;
}

/** A mirror fed `parts` at once, and the reference, which parses every byte. */
async function both(parts: Buffer[], piece = 64 * 1024): Promise<{ fast: TerminalMirror; slow: TerminalMirror }> {
  return { fast: behind(parts, piece), slow: await reference(parts, piece) };
}

/** A mirror that parses every byte of `parts`. */
async function reference(parts: Buffer[], piece = 64 * 1024): Promise<TerminalMirror> {
  const slow = new TerminalMirror(COLS, ROWS);
  for (const p of parts) {
    for (let i = 0; i < p.length; i += REFERENCE_PIECE) {
      for (let j = i; j < Math.min(p.length, i + REFERENCE_PIECE); j += piece) slow.write(p.subarray(j, Math.min(j + piece, i + REFERENCE_PIECE)));
      await slow.snapshot({ scrollback: false }); // parsed before the next piece: the queue never grows
    }
  }
  expect(slow.skippedBytes, 'the reference left nothing out').to.equal(0);
  return slow;
}

/** The snapshots of both mirrors after `parts`, and again after `after`. */
async function expectSame(parts: Buffer[], after: Buffer): Promise<{ skipped: number }> {
  const { fast, slow } = await both(parts);
  const [f1, s1] = await Promise.all([fast.snapshot(), slow.snapshot()]);
  expect(f1.offset).to.equal(s1.offset);
  expect(f1.data === s1.data, 'snapshot after the burst').to.equal(true);
  fast.write(after);
  slow.write(after);
  const [f2, s2] = await Promise.all([fast.snapshot(), slow.snapshot()]);
  expect(f2.offset).to.equal(s2.offset);
  expect(f2.data === s2.data, 'snapshot after more output').to.equal(true);
  const skipped = fast.skippedBytes;
  fast.dispose();
  slow.dispose();
  return { skipped };
}

/** Output with `what` on every line: nothing may be left out, and the snapshots are the same. */
async function expectNothingLeftOut(what: string, output: Buffer): Promise<void> {
  const { fast, slow } = await both([output]);
  const [f, s] = await Promise.all([fast.snapshot(), slow.snapshot()]);
  expect(fast.skippedBytes, `left out across ${what}`).to.equal(0);
  expect(f.data === s.data).to.equal(true);
  fast.dispose();
  slow.dispose();
}

describe('mirror: plain output left out while behind', function () {
  this.timeout(120_000);

  it('a burst after colours, a title, modes and a cursor shape: the same snapshot as parsing every byte, and again after more output', async () => {
    const before = Buffer.from('\x1b]0;the title\x07\x1b[?1h\x1b=\x1b[?2004h\x1b[4 q\x1b[1;31mred bold\r\n\x1b(0lqk\x1b(B\r\n\x1b[3gx\tTAB\r\n\x1b[38;5;208m');
    const burst = plainLines(12 * 1024 * 1024, 1);
    const after = Buffer.from('\x1b[0mplain \x1b[7minverse\x1b[0m\r\n\x1b[5;10Hplaced\x1b[?25l');
    const { fast, slow } = await both([before, burst]);
    const [f1, s1] = await Promise.all([fast.snapshot(), slow.snapshot()]);
    expect(fast.skippedBytes, 'bytes left out').to.be.greaterThan(4 * 1024 * 1024);
    expect(slow.skippedBytes).to.equal(0);
    expect(f1.offset).to.equal(s1.offset);
    expect(f1.data === s1.data, 'snapshot after the burst').to.equal(true);
    fast.write(after);
    slow.write(after);
    const [f2, s2] = await Promise.all([fast.snapshot(), slow.snapshot()]);
    expect(f2.offset).to.equal(before.length + burst.length + after.length);
    expect(f2.data === s2.data, 'snapshot after more output').to.equal(true);
    fast.dispose();
    slow.dispose();
  });

  it('a stream it could keep up with (each piece after the event loop turned, as a pty delivers them): most of it left out all the same, the same snapshots', async () => {
    const burst = plainLines(12 * 1024 * 1024, 4);
    const paced = new TerminalMirror(COLS, ROWS);
    const piece = 32 * 1024;
    for (let i = 0; i < burst.length; i += piece) {
      paced.write(burst.subarray(i, i + piece));
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
    const { fast, slow } = await both([burst]);
    fast.dispose(); // only the reference is wanted here
    const [p, s] = await Promise.all([paced.snapshot(), slow.snapshot()]);
    expect(paced.skippedBytes, 'left out: the queue waits for the burst instead of parsing every piece').to.be.greaterThan(burst.length / 2);
    expect(p.offset).to.equal(burst.length);
    expect(p.data === s.data, 'snapshot').to.equal(true);
    paced.dispose();
    slow.dispose();
  });

  it('twenty runs of 1 MB/s each in one thread (none alone a burst): most of their output left out all the same, the same snapshots', async () => {
    const output = plainLines(6 * 1024 * 1024, 100);
    const runs = Array.from({ length: 20 }, () => ({ bytes: output, mirror: new TerminalMirror(COLS, ROWS) }));
    const piece = 32 * 1024;
    const start = performance.now();
    // each run writes a piece every 32 ms (1 MB/s), the twenty side by side
    await Promise.all(
      runs.map(async ({ bytes, mirror }, k) => {
        await new Promise((r) => setTimeout(r, k)); // not all on the same tick
        for (let i = 0; i < bytes.length; i += piece) {
          mirror.write(bytes.subarray(i, i + piece));
          const due = start + k + ((i + piece) / piece) * 32;
          await new Promise((r) => setTimeout(r, Math.max(0, due - performance.now())));
        }
      }),
    );
    const total = runs.reduce((n, r) => n + r.bytes.length, 0);
    const skipped = runs.reduce((n, r) => n + r.mirror.skippedBytes, 0);
    expect(skipped, 'bytes left out of all twenty').to.be.greaterThan(total * 0.4);
    const { fast, slow } = await both([output]);
    fast.dispose(); // only the reference is wanted here
    const s = await slow.snapshot();
    for (const { mirror } of runs) {
      const f = await mirror.snapshot();
      expect(f.offset).to.equal(output.length);
      expect(f.data === s.data, 'snapshot').to.equal(true);
    }
    slow.dispose();
    for (const r of runs) r.mirror.dispose();
  });

  it('leaves nothing out while a scroll region is set, nor across escape sequences in the burst', async () => {
    const region = Buffer.from('\x1b[5;30r\x1b[10;1H');
    const burst = plainLines(9 * 1024 * 1024, 2);
    const { fast, slow } = await both([region, burst]);
    const [f, s] = await Promise.all([fast.snapshot(), slow.snapshot()]);
    expect(fast.skippedBytes, 'left out under a scroll region').to.equal(0);
    expect(f.data === s.data).to.equal(true);
    fast.dispose();
    slow.dispose();

    // a cursor movement on every line: nothing is plain for long
    await expectNothingLeftOut('cursor movements', Buffer.from(plainLines(9 * 1024 * 1024, 3).toString('latin1').replace(/\r\n/g, '\x1b[1C.\r\n'), 'latin1'));
  });

  /** Lines like a test runner's, with SGR in and around them; `style(i)` gives line i's colours. */
  function colourLines(bytes: number, seed: number, style: (i: number) => [string, string]): Buffer {
    const text = plainLines(bytes, seed).toString('latin1').split('\r\n');
    return Buffer.from(text.map((l, i) => { const [a, z] = style(i); return `${a}${l.slice(0, 30)}\x1b[90m${l.slice(30)}${z}`; }).join('\r\n'), 'latin1');
  }

  for (const [name, style] of [
    ['colours reset at the end of each line', (i: number) => [`\x1b[3${i % 8}m`, '\x1b[0m']],
    ['colours never reset: every one counts', (i: number) => [i % 5 === 0 ? '\x1b[1m' : i % 7 === 0 ? '\x1b[22;4:3m' : `\x1b[38;5;${i % 256}m`, '']],
    ['256 and true colour, colon sub-parameters, underline colour, resets that set more', (i: number) => [`\x1b[0;48;2;${i % 256};20;30m\x1b[4:${i % 6}m\x1b[58:2::${i % 256}:1:2m`, i % 3 ? '\x1b[m' : '\x1b[;7m']],
  ] as Array<[string, (i: number) => [string, string]]>) {
    it(`a burst with SGR on every line (${name}): most of it left out, the same snapshots`, async () => {
      const burst = colourLines(12 * 1024 * 1024, 5, style);
      // the burst ends in a state the next output is drawn with
      const after = Buffer.from('\x1b[3mstill styled?\r\n\x1b[0mplain\r\n');
      const { skipped } = await expectSame([Buffer.from('\x1b[1;35mbefore\r\n'), burst], after);
      expect(skipped, 'bytes left out').to.be.greaterThan(burst.length / 2);
    });
  }

  it('an SGR sequence split across writes, and one that is not SGR (CSI > 4 ; 1 m) in the burst', async () => {
    const burst = colourLines(9 * 1024 * 1024, 6, (i) => [`\x1b[1;3${i % 8}m`, '\x1b[0m']);
    const fast = new TerminalMirror(COLS, ROWS);
    const slow = new TerminalMirror(COLS, ROWS);
    // pieces of 7 bytes now and then, so sequences are cut in every place
    const pieces: Buffer[] = [];
    for (let i = 0, j = 0; i < burst.length; j++) {
      const n = j % 3 === 0 ? 7 : 65_537;
      pieces.push(burst.subarray(i, i + n));
      i += n;
    }
    for (const p of pieces) fast.write(p);
    let unsnapped = 0;
    for (const p of pieces) {
      if (unsnapped + p.length > REFERENCE_PIECE) {
        await slow.snapshot({ scrollback: false });
        unsnapped = 0;
      }
      slow.write(p);
      unsnapped += p.length;
    }
    const [f, s] = await Promise.all([fast.snapshot(), slow.snapshot()]);
    expect(slow.skippedBytes, 'the reference left nothing out').to.equal(0);
    expect(f.data === s.data, 'split sequences').to.equal(true);
    expect(fast.skippedBytes).to.be.greaterThan(burst.length / 2);
    fast.dispose();
    slow.dispose();

    await expectNothingLeftOut('CSI > m', Buffer.from(burst.toString('latin1').split('\x1b[0m').join('\x1b[>4;1m'), 'latin1'));
  });
});

interface FrameOptions {
  /** A row no frame draws. */
  omitRow?: number;
  /** A row the first frame erases from its first column, printing nothing. */
  emptyFirst?: number;
  /** One row per frame printed to the last column exactly (a wrap pending when it is erased). */
  fullWidthRow?: boolean;
  /** One row per frame longer than the screen is wide: it wraps. */
  wrappingRow?: boolean;
  /** Each row begins in the colours the one before it ended in (set by a reset halfway along). */
  carry?: boolean;
}

/** About `bytes` of redraws like `top`'s: home, each row placed at column 1, text, erase to its end. */
function redraws(bytes: number, seed: number, opts: FrameOptions = {}): Buffer {
  let x = seed;
  const next = () => (x = (x * 1103515245 + 12345) >>> 0);
  let out = '';
  for (let frame = 0; out.length < bytes; frame++) {
    let f = '';
    for (let row = 1; row <= ROWS; row++) {
      if (row === opts.omitRow) continue;
      if (row === opts.emptyFirst && frame === 0) {
        f += `\x1b[${row};1H\x1b[K`;
        continue;
      }
      if (row === 1) {
        f += opts.carry ? `\x1b[H top - frame ${frame} \x1b[0;7m load \x1b[K` : `\x1b[H\x1b[7m top - frame ${frame} \x1b[K\x1b[0m`;
        continue;
      }
      const k = next();
      let text = opts.carry
        ? `${String(k % 99999).padStart(6)} user \x1b[0;3${k % 8};4${(k >>> 3) % 8}m${String(k % 100).padStart(3)}.${k % 10}`
        : `${String(k % 99999).padStart(6)} user ${String(k % 100).padStart(3)}.${k % 10} ${k % 2 ? 'S' : 'R'} \x1b[1mproc-${k % 977}\x1b[0m`;
      if (opts.fullWidthRow && row === 7) text = `${text}${'='.repeat(COLS)}`.slice(0, COLS + 8); // 8: the two SGR sequences' bytes
      if (opts.wrappingRow && row === 2) text += '~'.repeat(COLS);
      f += `\x1b[${row};1H${text}\x1b[K`;
    }
    out += f;
  }
  return Buffer.from(out, 'latin1');
}

describe('mirror: full-screen redraws left out while behind', function () {
  this.timeout(120_000);


  // Output after the burst that depends on what it left: text at the cursor, in the current colours.
  const after = Buffer.from('tail at the cursor\x1b[3;5Hplaced \x1b[mplain\x1b[12;1Hrow twelve');

  it('on the alternate screen, after a title, modes and colours: most of it left out, the same snapshots', async () => {
    const before = Buffer.from('\x1b]0;top\x07line one\r\nline two\r\n\x1b[?1049h\x1b[?25l\x1b[?1h\x1b[4 q\x1b[38;5;208m');
    const burst = redraws(12 * 1024 * 1024, 1);
    const { skipped } = await expectSame([before, burst], after);
    expect(skipped, 'bytes left out').to.be.greaterThan(burst.length / 2);
  });

  it('on the normal screen with scrollback above it, colours never reset, a row to the last column: most left out, the same snapshots', async () => {
    const before = Buffer.concat([plainLines(600 * 1024, 7), Buffer.from('\x1b[H\x1b[2J\x1b[44m')]); // cleared: no line left marked wrapped
    const burst = Buffer.from(redraws(12 * 1024 * 1024, 2, { fullWidthRow: true }).toString('latin1').replaceAll('\x1b[0m', '\x1b[22;27m'), 'latin1');
    const { skipped } = await expectSame([before, burst], after);
    expect(skipped, 'bytes left out').to.be.greaterThan(burst.length / 2);
  });

  it('with colours carried from row to row (a reset halfway along each): most of it left out, the same snapshots', async () => {
    // whole frames past the last 4 MiB look by more than 1 MiB, and a snapshot asked at once: its
    // own look leaves out all but the last frame, whose first row is drawn in the colours carried into it
    const burst = redraws(13.5 * 1024 * 1024, 8, { carry: true });
    const fast = behind([burst]);
    const f = await fast.snapshot();
    const slow = await reference([burst]);
    const s = await slow.snapshot();
    expect(f.offset).to.equal(s.offset);
    expect(f.data === s.data, 'snapshot after the burst').to.equal(true);
    expect(fast.skippedBytes, 'bytes left out').to.be.greaterThan(burst.length - 2000);
    fast.dispose();
    slow.dispose();
    await expectSame([burst], after);
  });

  for (const [what, before] of [
    // placed rows are the region's, clamped to it: the rows outside it stay as they were
    ['origin mode with a scroll region', '\x1b[2;1Habove the region\x1b[35;1Hbelow it\x1b[5;30r\x1b[?6h'],
    ['insert mode', '\x1b[4h'],
  ]) {
    it(`under ${what}: most of it left out, the same snapshots`, async () => {
      const burst = redraws(9 * 1024 * 1024, 6);
      const { skipped } = await expectSame([Buffer.from(before as string), burst], after);
      expect(skipped, 'bytes left out').to.be.greaterThan(burst.length / 2);
    });
  }

  for (const [what, before, opts] of [
    ['a row no frame draws (written once before them)', '\x1b[1;5Hwritten once', { omitRow: 1 }],
    ['a row that wraps in every frame', '', { wrappingRow: true }],
  ] as Array<[string, string, FrameOptions]>) {
    it(`leaves nothing out across ${what}`, async () => {
      const burst = redraws(9 * 1024 * 1024, 3, opts);
      const { skipped } = await expectSame([Buffer.from(before), burst], after);
      expect(skipped, `left out across ${what}`).to.equal(0);
    });
  }

  it('leaves nothing out while a line on the screen is marked wrapped (erasing it from its first column clears the mark)', async () => {
    // row 11 continues row 10; frames that leave it alone are parsed (a row not drawn), then the
    // first of the next frames clears the mark, which only parsing it does
    const before = Buffer.from(`\x1b[10;1H${'w'.repeat(COLS + 20)}`);
    const { skipped } = await expectSame([before, redraws(5 * 1024 * 1024, 4, { omitRow: 11 }), redraws(5 * 1024 * 1024, 5, { emptyFirst: 11 })], after);
    expect(skipped, 'left out').to.equal(0);
  });
});
