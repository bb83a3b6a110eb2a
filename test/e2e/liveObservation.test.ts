/**
 * End to end, issue #3 ("must show"): a real hub (PostgreSQL), a real agent running steps in
 * real ptys, real socket.io viewers. Output reaches viewers byte-exact (10 MB burst, UTF-8 cut
 * by chunk boundaries); a late joiner's screen equals an early viewer's (plain scrolling
 * output, a cursor-addressing full-screen program, vim / top when installed); RO input never
 * reaches the pty; the audit timeline records the session's lifecycle; a failing live layer
 * leaves the run headless but successful; a revoke detaches viewers mid-run; the recording is
 * a valid asciicast v2 file.
 */
import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn as spawnPty } from 'node-pty';
import type { ControlEventDto, LiveSessionDto, TaskRunDto } from '../../common/api.ts';
import { TASK_PANE } from '../../common/protocol.ts';
import type { TestHub } from '../support/testHub.ts';
import { startTestHub } from '../support/testHub.ts';
import type { TestAgent } from '../support/testAgent.ts';
import { createRun, startTestAgent, waitForRunStatus, waitForSessionStatus } from '../support/testAgent.ts';
import { waitUntil } from '../support/wait.ts';
import type { ViewerOptions, ViewerPane } from '../support/viewerClient.ts';
import { TestViewer } from '../support/viewerClient.ts';

function which(cmd: string): string | null {
  try {
    return execFileSync('which', [cmd], { encoding: 'utf8' }).trim() || null;
  } catch {
    return null;
  }
}

/** What the pty makes of a file's bytes under `cat`: ONLCR turns \n into \r\n. */
function asTty(buf: Buffer): Buffer {
  return Buffer.from(buf.toString('latin1').replace(/\n/g, '\r\n'), 'latin1');
}

/** A shell fragment waiting (at most ~20 s) for a file the test creates. */
const waitFile = (path: string) => `w=0; while [ ! -e '${path}' ] && [ $w -lt 400 ]; do sleep 0.05; w=$((w+1)); done`;

function firstDifference(a: string, b: string): string {
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  return `lengths ${a.length} / ${b.length}, first difference at ${i}: ${JSON.stringify(a.slice(Math.max(0, i - 40), i + 60))} vs ${JSON.stringify(b.slice(Math.max(0, i - 40), i + 60))}`;
}

describe('e2e: live observation (issue #3)', function () {
  this.timeout(60_000);
  let hub: TestHub;
  let agent: TestAgent;
  let work: string;
  let viewers: TestViewer[] = [];

  before(async function () {
    this.timeout(30_000);
    work = mkdtempSync(join(tmpdir(), 'handoff-e2e-'));
    hub = await startTestHub('postgres');
    agent = startTestAgent(hub);
    await agent.ready();
  });

  afterEach(() => {
    for (const v of viewers) v.close();
    viewers = [];
  });

  after(async function () {
    this.timeout(30_000);
    for (const v of viewers) v.close();
    await agent?.close({ cancelRuns: true });
    await hub?.close();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  async function viewer(opts: ViewerOptions = {}, role: 'viewer' | 'operator' | 'admin' = 'viewer'): Promise<TestViewer> {
    const v = await TestViewer.connect(hub.url, hub.token(role), opts);
    viewers.push(v);
    return v;
  }

  /** Creates a run, waits for its live session to be ready, and joins a viewer to it. */
  async function runWithViewer(steps: string[], opts: ViewerOptions = {}): Promise<{ run: TaskRunDto; v: TestViewer; task: ViewerPane }> {
    const run = await createRun(hub, steps);
    await waitForSessionStatus(hub, run.id, ['ready']);
    const v = await viewer(opts);
    const reply = await v.join(run.id);
    expect(reply.canWrite).to.equal(false);
    expect(reply.panes.map((p) => p.paneId)).to.include(TASK_PANE);
    return { run, v, task: v.pane(TASK_PANE) };
  }

  function scratch(name: string): string {
    const dir = join(work, name);
    mkdirSync(dir, { recursive: true });
    return dir;
  }

  describe('1. output reaches a viewer byte-exact', () => {
    it('a 10 MB burst arrives exactly as the step printed it', async () => {
      const dir = scratch('burst');
      // ~10 MB of base64 text in 100-column lines
      const text = (randomBytes(7_400_000).toString('base64').match(/.{1,100}/g) ?? []).join('\n') + '\n';
      const file = join(dir, 'burst.txt');
      writeFileSync(file, text);
      const expected = asTty(Buffer.from(text, 'latin1'));
      expect(expected.length).to.be.greaterThan(10_000_000);

      const { run, v, task } = await runWithViewer(['sleep 1', `cat '${file}'`], { terminal: false });
      expect(task.snapshots[0]?.offset, 'joined before any output').to.equal(0);
      await v.waitForOffset(TASK_PANE, expected.length, 45_000);
      const tookMs = task.lastOutputAt - task.firstOutputAt;
      const done = await waitForRunStatus(hub, run.id, ['succeeded', 'failed', 'cancelled'], 20_000);
      expect(done.status).to.equal('succeeded');

      const got = task.liveOutput();
      expect(task.gaps, 'gaps').to.equal(0);
      expect(got.length).to.equal(expected.length);
      expect(got.equals(expected), 'bytes equal').to.equal(true);
      console.log(`      10 MB burst: ${expected.length} bytes in ${task.chunks.length} chunks, first to last byte at the viewer in ${tookMs} ms (${(expected.length / 1e6 / (tookMs / 1000)).toFixed(1)} MB/s)`);
    });

    it('a viewer acknowledges what it has written, every 256 KiB, and the hub holds it as reading', async () => {
      // joined before the output (as the burst test): every byte comes live, none from a final snapshot
      const { run, v, task } = await runWithViewer(['sleep 1', `head -c 3000000 /dev/zero | tr '\\0' 'a' | fold -w 100`], { terminal: false });
      expect(task.snapshots[0]?.offset, 'joined before any output').to.equal(0);
      await waitForRunStatus(hub, run.id, ['succeeded'], 30_000);
      const end = await waitUntil('the whole output at the viewer', () => { const o = v.pane(TASK_PANE).stream.expectedOffset ?? 0; return o >= 3_000_000 ? o : undefined; }, 20_000);
      // the hub's side of this viewer's socket
      const socket = hub.hub.io.of('/viewer').sockets.get(v.socket.id as string);
      const acked = await waitUntil('the acknowledgement of the last 256 KiB', () => { const a = socket?.data.acked.get(`${run.id} ${TASK_PANE}`) ?? 0; return a > end - 256 * 1024 ? a : undefined; }, 5000);
      expect(acked).to.be.at.most(end);
      expect(socket?.data.readingAt, 'reading').to.be.a('number');
      // junk changes nothing: not an offset, not above the last one, another run, another pane id
      const before = new Map(socket?.data.acked);
      for (const [r, p, o] of [[run.id, TASK_PANE, -1], [run.id, TASK_PANE, 'x'], [run.id, TASK_PANE, 1], [run.id, 'Bad Pane', 9e9], ['not-a-run', TASK_PANE, 9e9], [randomUUID(), TASK_PANE, 9e9]] as const) v.socket.emit('pane:ack', r as string, p as string, o as number);
      await v.socket.timeout(5000).emitWithAck('runs:watch'); // answered after the acks above were handled
      expect(new Map(socket?.data.acked), 'acknowledgements after junk').to.deep.equal(before);
    });

    it('UTF-8 split across chunk boundaries arrives byte-exact', async () => {
      const dir = scratch('utf8');
      const alphabet = ['é', '😀', '中文字', 'ß', '€', 'ä', '🎉', 'ж', 'x', '한국어'];
      let seed = 7;
      let line = '';
      const lines: string[] = [];
      let bytes = 0;
      while (bytes < 1_500_000) {
        seed = (seed * 1103515245 + 12345) % 2 ** 31;
        line += alphabet[seed % alphabet.length];
        if (line.length >= 60 + (seed % 17)) {
          lines.push(line);
          bytes += Buffer.byteLength(line) + 1;
          line = '';
        }
      }
      const text = lines.join('\n') + '\n';
      const file = join(dir, 'utf8.txt');
      writeFileSync(file, text, 'utf8');
      const expected = asTty(Buffer.from(text, 'utf8'));

      const { run, v, task } = await runWithViewer(['sleep 1', `cat '${file}'`]);
      await v.waitForOffset(TASK_PANE, expected.length, 30_000);
      await waitForRunStatus(hub, run.id, ['succeeded', 'failed', 'cancelled'], 20_000);

      const got = task.liveOutput();
      expect(task.gaps).to.equal(0);
      expect(got.equals(expected), 'bytes equal').to.equal(true);
      // the test means something only if chunk boundaries did cut characters
      const cut = task.chunks.filter((c) => c.firstByte >= 0x80 && c.firstByte <= 0xbf).length;
      expect(cut, 'chunks starting inside a UTF-8 sequence').to.be.greaterThan(0);
      // and the viewer's terminal decoded them: the last line is on screen intact
      const screen = await task.screenLines();
      expect(screen.join('\n')).to.include(lines[lines.length - 1]);
    });
  });

  describe('2. late join: same screen as a viewer that watched from the start', () => {
    /** Waits until both viewers hold the same settled output and compares their serialized screens. */
    async function compareSettled(early: TestViewer, late: TestViewer): Promise<{ offset: number; screen: string }> {
      await early.waitForQuiet(300, 15_000);
      const offset = early.pane(TASK_PANE).offset as number;
      await late.waitForOffset(TASK_PANE, offset, 10_000);
      const [a, b] = [await early.pane(TASK_PANE).serialize(), await late.pane(TASK_PANE).serialize()];
      expect(early.pane(TASK_PANE).offset, 'output moved during the comparison').to.equal(offset);
      expect(late.pane(TASK_PANE).offset).to.equal(offset);
      if (a !== b) expect.fail(`screens differ: ${firstDifference(a, b)}`);
      return { offset, screen: a };
    }

    it('after 5,000 lines of plain output', async () => {
      const dir = scratch('late-plain');
      const go = join(dir, 'GO');
      const end = join(dir, 'END');
      const script = [
        // builtins only (no fork per line): coloured, multi-byte lines of varying length
        `for i in $(seq 1 5000); do printf -v dots '%*s' $((i % 40)) ''; printf '\\e[3%dmline %d\\e[0m é😀 %s\\n' $((i % 8)) $i "\${dots// /.}"; done`,
        `echo READY-FOR-LATE-JOIN`,
        waitFile(go),
        `for i in $(seq 1 30); do echo "after go $i"; done; printf 'AFTER-GO-DONE \\e[1mbold\\e[0m'`,
        waitFile(end),
      ].join('\n');
      const { run, v: early } = await runWithViewer(['sleep 1', script]);
      await early.waitForOutput(TASK_PANE, (b) => b.includes('READY-FOR-LATE-JOIN'), 20_000, 'the 5,000 lines');

      const late = await viewer();
      await late.join(run.id);
      const lateSnap = late.pane(TASK_PANE).snapshots[0];
      expect(lateSnap?.offset, 'late join offset').to.be.greaterThan(100_000);
      writeFileSync(go, '');
      await early.waitForOutput(TASK_PANE, (b) => b.includes('AFTER-GO-DONE'), 10_000, 'the post-join output');

      const { screen } = await compareSettled(early, late);
      expect(screen).to.include('line 5000');
      expect((await late.pane(TASK_PANE).screenLines()).some((l) => l.startsWith('line 1 é😀'))).to.equal(true);
      writeFileSync(end, '');
      expect((await waitForRunStatus(hub, run.id, ['succeeded', 'failed', 'cancelled'])).status).to.equal('succeeded');
    });

    it('in a cursor-addressing full-screen program (alternate screen, redraws)', async () => {
      const dir = scratch('late-fullscreen');
      const go = join(dir, 'GO');
      const end = join(dir, 'END');
      const frame = (f: string) =>
        `printf '\\e[H\\e[2J'; for r in $(seq 1 38); do printf '\\e[%d;%dH\\e[3%d;4%dmrow %d frame %s é😀\\e[0m\\e[K' $r $(( (r * 7 + ${f} * 3) % 80 + 1 )) $((r % 8)) $(( (r + ${f}) % 8 )) $r ${f}; done; printf '\\e[40;1H\\e[7mstatus: frame %s\\e[0m' ${f}`;
      const script = [
        `for i in $(seq 1 200); do echo "normal screen line $i"; done`,
        `printf '\\e[?1049h'`,
        `for f in 1 2 3; do ${frame('$f')}; done`,
        // a scroll region, scrolled, and a hidden cursor left somewhere in the middle
        `printf '\\e[5;15r\\e[15;1H'; for i in 1 2 3 4; do printf '\\nscrolled %d' $i; done; printf '\\e[r\\e[?25l\\e[22;33HREADY-MARK'`,
        waitFile(go),
        `for f in 4 5; do ${frame('$f')}; done`,
        `printf '\\e[?25h\\e[20;10H\\e[1;4mAFTER-GO-DONE\\e[0m\\e[21;5H'`,
        waitFile(end),
        `printf '\\e[?1049l'`,
      ].join('\n');
      const { run, v: early } = await runWithViewer(['sleep 1', script]);
      await early.waitForOutput(TASK_PANE, (b) => b.includes('READY-MARK'), 15_000, 'the first frames');

      const late = await viewer();
      await late.join(run.id);
      expect(late.pane(TASK_PANE).snapshots[0]?.offset).to.be.greaterThan(0);
      // already the same before the post-join redraws
      await compareSettled(early, late);
      writeFileSync(go, '');
      await early.waitForOutput(TASK_PANE, (b) => b.includes('AFTER-GO-DONE'), 10_000, 'the post-join frames');
      const { screen } = await compareSettled(early, late);
      expect(screen).to.include('frame 5');
      expect(early.pane(TASK_PANE).term?.buffer.active.type).to.equal('alternate');
      expect(late.pane(TASK_PANE).term?.buffer.active.type).to.equal('alternate');
      writeFileSync(end, '');
      expect((await waitForRunStatus(hub, run.id, ['succeeded', 'failed', 'cancelled'])).status).to.equal('succeeded');
    });

    for (const prog of ['vim', 'top'] as const) {
      it(`in ${prog} (when installed)`, async function () {
        if (!which(prog)) this.skip();
        const dir = scratch(`late-${prog}`);
        let cmd: string;
        if (prog === 'vim') {
          const file = join(dir, 'sample.txt');
          writeFileSync(file, Array.from({ length: 80 }, (_, i) => `${i + 1}: the quick brown fox é😀 中文 ${'-'.repeat(i % 30)}`).join('\n') + '\n');
          cmd = `vim -u NONE -i NONE -N -n -c 'set number' -c 'redraw!' -c 'sleep 8' -c 'qa!' '${file}'`;
        } else {
          cmd = 'top -d 4 -n 4'; // ~12 s: still on screen when the late viewer joins, even on a loaded machine
        }
        const { run, v: early } = await runWithViewer(['sleep 1', cmd]);
        await early.waitForOutput(TASK_PANE, (b) => b.length > 500, 30_000, `${prog}'s first screen`);
        await early.waitForQuiet(400, 10_000);
        const late = await viewer();
        await late.join(run.id);
        expect(late.pane(TASK_PANE).snapshots[0]?.offset).to.be.greaterThan(500);
        const { screen } = await compareSettled(early, late);
        expect(screen).to.include(prog === 'vim' ? 'quick brown fox' : 'PID');
        await waitForRunStatus(hub, run.id, ['succeeded', 'failed', 'cancelled'], 20_000);
      });
    }
  });

  it('3. input from a read-only viewer never reaches the pty', async () => {
    const { run, v, task } = await runWithViewer(['read -t 2 line; echo "got:[$line]"']);
    v.sendInput(TASK_PANE, 'hello\r');
    const notice = await v.waitForNotice('read_only');
    expect(notice.runId).to.equal(run.id);
    const done = await waitForRunStatus(hub, run.id, ['succeeded', 'failed', 'cancelled'], 15_000);
    expect(done.status).to.equal('succeeded');
    await v.waitForOutput(TASK_PANE, (b) => b.includes('got:['), 5000);
    const out = task.liveOutput().toString('utf8');
    expect(out).to.include('got:[]');
    expect(out).not.to.include('hello');
  });

  it('4. the audit timeline records create_session, session_ready, session_ended in order', async () => {
    const run = await createRun(hub, ['echo lifecycle']);
    await waitForRunStatus(hub, run.id, ['succeeded', 'failed', 'cancelled']);
    const events = await waitUntil('session_ended in the timeline', async () => {
      const res = await hub.api<{ events: ControlEventDto[] }>('GET', `/api/task-runs/${run.id}/events`, hub.token('viewer'));
      expect(res.status).to.equal(200);
      return res.body.events.some((e) => e.action === 'session_ended') ? res.body.events : undefined;
    });
    const actions = events.map((e) => e.action);
    const order = ['create_session', 'session_ready', 'session_ended'].map((a) => actions.indexOf(a));
    expect(order.every((i) => i >= 0), actions.join(',')).to.equal(true);
    expect(order, actions.join(',')).to.deep.equal([...order].sort((a, b) => a - b));
  });

  it('6. a revoke mid-run detaches the viewer; the run still succeeds; the session stays revoked', async () => {
    const { run, v, task } = await runWithViewer(['sleep 1', 'for i in $(seq 1 30); do echo "tick $i"; sleep 0.1; done']);
    await v.waitForOutput(TASK_PANE, (b) => b.includes('tick 3'), 10_000);
    const res = await hub.api<{ session: LiveSessionDto }>('POST', `/api/task-runs/${run.id}/live-session/revoke`, hub.token('admin'), { reason: 'e2e revoke' });
    expect(res.status, res.text).to.equal(200);
    expect(res.body.session.status).to.equal('revoked');
    const ended = await v.waitForEnded();
    expect(ended.status).to.equal('revoked');
    const bytesAtEnd = task.liveByteCount;

    const done = await waitForRunStatus(hub, run.id, ['succeeded', 'failed', 'cancelled'], 15_000);
    expect(done.status).to.equal('succeeded');
    expect(done.exitCode).to.equal(0);
    expect(v.outputAfterEnd, 'output events after session:ended').to.equal(0);
    expect(task.liveByteCount).to.equal(bytesAtEnd);
    expect(task.liveOutput().toString()).not.to.include('tick 30');
    const s = await hub.api<{ session: LiveSessionDto }>('GET', `/api/task-runs/${run.id}/live-session`, hub.token('viewer'));
    expect(s.body.session.status).to.equal('revoked');
  });

  it('7. the recording is an asciicast v2 file', async function () {
    const run = await createRun(hub, ['echo "hello recording é😀"', 'printf "second line\\n"']);
    expect((await waitForRunStatus(hub, run.id, ['succeeded', 'failed', 'cancelled'])).status).to.equal('succeeded');
    const rec = await waitUntil(
      'the recording',
      async () => {
        const r = await hub.api('GET', `/api/task-runs/${run.id}/recording`, hub.token('viewer'));
        return r.status === 200 ? r.text : undefined;
      },
      10_000,
      100,
    );
    const lines = rec.split('\n').filter((l) => l.length > 0);
    const header = JSON.parse(lines[0] as string) as Record<string, unknown>;
    expect(header).to.include({ version: 2, width: 120, height: 40 });
    expect(header.timestamp).to.be.a('number');
    let text = '';
    let lastT = 0;
    for (const l of lines.slice(1)) {
      const ev = JSON.parse(l) as unknown[];
      expect(ev).to.have.length(3);
      expect(ev[0]).to.be.a('number');
      expect(ev[0] as number).to.be.at.least(lastT);
      lastT = ev[0] as number;
      expect(ev[1]).to.be.oneOf(['o', 'r', 'm']);
      if (ev[1] === 'o') text += ev[2] as string;
    }
    expect(text).to.include('hello recording é😀');
    expect(text).to.include('second line');

    if (!which('asciinema')) this.skip();
    const file = join(scratch('recording'), 'run.cast');
    writeFileSync(file, rec);
    // `asciinema cat` opens /dev/tty: give it a pty, and its stdout a file
    const outFile = `${file}.out`;
    const proc = spawnPty('bash', ['-c', 'asciinema cat "$1" > "$2"', 'cat', file, outFile], { cols: 120, rows: 40, env: { ...process.env, LANG: 'C.UTF-8', LC_ALL: 'C.UTF-8' } });
    let ptyText = '';
    proc.onData((d) => (ptyText += d));
    const exit = await new Promise<{ exitCode: number }>((resolve, reject) => {
      const t = setTimeout(() => {
        proc.kill();
        reject(new Error('asciinema cat timed out'));
      }, 15_000);
      proc.onExit((e) => {
        clearTimeout(t);
        resolve(e);
      });
    });
    expect(exit.exitCode, `asciinema cat: ${ptyText}`).to.equal(0);
    const out = readFileSync(outFile, 'utf8');
    expect(out).to.include('hello recording é😀');
    expect(out).to.include('second line');
  });
});

describe('e2e: headless fallback (issue #3)', function () {
  this.timeout(60_000);
  let hub: TestHub;
  let agent: TestAgent;

  before(async function () {
    this.timeout(30_000);
    hub = await startTestHub('postgres');
    agent = startTestAgent(hub, { workerId: 'w-faulty', env: { HANDOFF_AGENT_FAULTS: 'live_layer' } });
    await agent.ready();
  });

  after(async function () {
    this.timeout(30_000);
    await agent?.close({ cancelRuns: true });
    await hub?.close();
  });

  it('5. when the live layer cannot start, the run succeeds headless and the session says error', async () => {
    const run = await createRun(hub, ['echo headless run', 'true']);
    const done = await waitForRunStatus(hub, run.id, ['succeeded', 'failed', 'cancelled']);
    expect(done.status).to.equal('succeeded');
    expect(done.exitCode).to.equal(0);
    const s = await hub.api<{ session: LiveSessionDto }>('GET', `/api/task-runs/${run.id}/live-session`, hub.token('viewer'));
    expect(s.status).to.equal(200);
    expect(s.body.session.status).to.equal('error');
    expect(s.body.session.errorMessage).to.be.a('string');
    expect(s.body.session.errorMessage).to.include('live layer');
    expect(existsSync(agent.dataDir)).to.equal(true);
  });
});
