import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { StepRunner } from '../../agent/stepRunner.ts';
import type { StepRunnerOptions } from '../../agent/stepRunner.ts';
import { sleep, waitSteady, waitUntil } from '../support/wait.ts';


/** pids of live processes whose command line contains `marker` (never pgrep itself). */
function pgrep(marker: string): number[] {
  try {
    return execFileSync('pgrep', ['-f', marker], { encoding: 'utf8' })
      .split('\n')
      .filter(Boolean)
      .map(Number);
  } catch {
    return []; // exit 1: no match
  }
}

function uniqueMarker(): string {
  // an unusual but valid sleep duration identifies this test's processes
  return `1000.${process.pid}${Math.floor(Math.random() * 1e6)}`;
}

/** Waits (polling every 10 ms) until `cond` holds; a timeout fails naming `what`. */
function waitFor(what: string, cond: () => boolean, timeoutMs = 5000): Promise<true> {
  return waitUntil(what, () => (cond() ? true : undefined), timeoutMs, 10);
}

/** Resolves, with the output's length, once no output arrived for `quietMs`: the pty buffer has drained. */
const drained = (h: Harness, quietMs = 100): Promise<number> => waitSteady('the pty output went quiet', () => h.output().length, quietMs);

/** Linux: the process is stopped (SIGSTOP) — its state in /proc/<pid>/stat is T. */
function isStopped(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).startsWith('T');
  } catch {
    return false;
  }
}

/** Linux: the process sleeps in a read(2) (x86-64 / arm64 numbering) — e.g. the driver waiting for its next step. */
function isReading(pid: number): boolean {
  try {
    const nr = Number(fs.readFileSync(`/proc/${pid}/syscall`, 'utf8').split(' ')[0]);
    return nr === (process.arch === 'arm64' ? 63 : 0);
  } catch {
    return false;
  }
}

interface Harness {
  runner: StepRunner;
  output: () => Buffer;
  started: number[];
  ended: Array<[number, number]>;
}

function harness(opts: Partial<StepRunnerOptions> & { steps: string[] }): Harness {
  const runner = new StepRunner({ cwd: os.tmpdir(), ...opts });
  const chunks: Buffer[] = [];
  const started: number[] = [];
  const ended: Array<[number, number]> = [];
  runner.onData((c) => chunks.push(c));
  runner.onStepStart((i) => started.push(i));
  runner.onStepEnd((i, rc) => ended.push([i, rc]));
  return { runner, output: () => Buffer.concat(chunks), started, ended };
}

describe('agent/StepRunner (real pty)', function () {
  this.timeout(20000);
  let tmp: string;

  beforeEach(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'steprunner-test-'));
  });
  afterEach(() => {
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('delivers output byte-exact as Buffers (multi-byte UTF-8, nothing echoed)', async () => {
    const h = harness({ steps: [String.raw`printf 'a\xe2\x82\xac\xf0\x9f\x98\x80z\n'`] });
    const res = await h.runner.start();
    expect(res).to.deep.equal({ status: 'succeeded', exitCode: 0 });
    // the pty's ONLCR turns \n into \r\n; no step text is echoed
    expect(h.output().equals(Buffer.from('a€😀z\r\n', 'utf8'))).to.equal(true);
  });

  it('keeps a long multi-byte stream intact across chunk boundaries', async () => {
    const h = harness({ steps: [`for i in $(seq 1 3000); do printf 'é€😀%d\\n' "$i"; done`] });
    let chunkCount = 0;
    h.runner.onData((c) => {
      expect(Buffer.isBuffer(c)).to.equal(true);
      chunkCount++;
    });
    await h.runner.start();
    let expected = '';
    for (let i = 1; i <= 3000; i++) expected += `é€😀${i}\r\n`;
    expect(h.output().equals(Buffer.from(expected, 'utf8'))).to.equal(true);
    expect(chunkCount).to.be.greaterThan(0);
  });

  it('passes raw (non-UTF-8) bytes through untouched', async () => {
    const h = harness({ steps: [String.raw`stty raw; printf '\x00\x01\xff\xfe\x1b[0m'`] });
    await h.runner.start();
    expect([...h.output()]).to.deep.equal([0x00, 0x01, 0xff, 0xfe, 0x1b, 0x5b, 0x30, 0x6d]);
  });

  it('succeeds when every step exits 0 (and with no steps at all)', async () => {
    const h = harness({ steps: ['true', 'false; true', 'exit 0'] });
    expect(await h.runner.start()).to.deep.equal({ status: 'succeeded', exitCode: 0 });
    expect(h.ended).to.deep.equal([[0, 0], [1, 0], [2, 0]]);
    const empty = harness({ steps: [] });
    expect(await empty.runner.start()).to.deep.equal({ status: 'succeeded', exitCode: 0 });
  });

  it('tells each step boundary exactly where it falls in the output, and no viewer sees the marks', async () => {
    const runner = new StepRunner({ cwd: os.tmpdir(), steps: ['printf one; sleep 0.05; printf two', 'printf three; exit 3'] });
    const seq: string[] = [];
    runner.onData((c) => seq.push(c.toString('utf8')));
    runner.onStepMark((i, phase, rc) => seq.push(`<${phase} ${i}${rc === undefined ? '' : ` ${rc}`}>`));
    const r = await runner.start();
    expect(r.exitCode).to.equal(3);
    const text = seq.join('');
    expect(text).to.not.contain('\x1b]');
    expect(text.replace(/\r?\n/g, '')).to.equal('<start 0>onetwo<end 0 0><start 1>three<end 1 3>');
  });

  it('stops at the first failing step with its exit code; later steps do not run', async () => {
    const h = harness({ cwd: tmp, steps: ['true', 'false; echo still-step-1', 'exit 3', 'touch ran-step-3', 'exit 4'] });
    const res = await h.runner.start();
    expect(res).to.deep.equal({ status: 'failed', exitCode: 3, failedStep: 2 });
    expect(h.started).to.deep.equal([0, 1, 2]);
    expect(h.ended).to.deep.equal([[0, 0], [1, 0], [2, 3]]);
    expect(fs.existsSync(path.join(tmp, 'ran-step-3'))).to.equal(false);
    expect(h.output().toString()).to.contain('still-step-1');
  });

  it('runs steps in order in the given cwd, with the given env', async () => {
    fs.mkdirSync(path.join(tmp, 'sub'));
    const h = harness({
      cwd: tmp,
      env: { HANDOFF_TEST_VAR: 'hello world $x' },
      steps: [
        'echo one >> log',
        'pwd >> log; cd sub', // a cd does not leak: each step is its own shell
        'pwd >> log; printf "%s\\n" "$HANDOFF_TEST_VAR" "$TERM" >> log',
      ],
    });
    expect((await h.runner.start()).status).to.equal('succeeded');
    const log = fs.readFileSync(path.join(tmp, 'log'), 'utf8').split('\n');
    const real = fs.realpathSync(tmp);
    expect(log.slice(0, 5)).to.deep.equal(['one', real, real, 'hello world $x', 'xterm-256color']);
  });

  it('exposes the pty pid and resize reaches the pty', async () => {
    const h = harness({ steps: ['read -r _; stty size'] });
    const done = h.runner.start();
    expect(h.runner.pid).to.be.a('number');
    await waitFor('step 0 started', () => h.started.length === 1);
    h.runner.resize(100, 30);
    h.runner.write('\r');
    await done;
    expect(h.output().toString()).to.contain('30 100');
  });

  it('delivers write() input to a step reading stdin', async () => {
    const h = harness({ steps: ['read -r line; echo "got:$line"'] });
    const done = h.runner.start();
    await waitFor('step 0 started', () => h.started.length === 1);
    h.runner.write(Buffer.from('héllo\r'));
    expect((await done).status).to.equal('succeeded');
    expect(h.output().toString()).to.contain('got:héllo');
  });

  it('^C typed into the pty interrupts the step (exit 130), not the driver', async () => {
    const m = uniqueMarker();
    const h = harness({ steps: [`sleep ${m}`, 'echo never'] });
    const done = h.runner.start();
    // the step's process is running in the foreground: ^C reaches it
    await waitFor('the step\'s sleep is running', () => pgrep(m).length === 1);
    h.runner.write('\x03');
    expect(await done).to.deep.equal({ status: 'failed', exitCode: 130, failedStep: 0 });
    expect(h.started).to.deep.equal([0]);
  });

  it('soft pause: no new step starts while held; release starts the next one', async () => {
    const h = harness({ steps: ['sleep 0.2; echo one', 'echo two'] });
    const done = h.runner.start();
    await waitFor('step 0 started', () => h.started.length === 1);
    h.runner.setHeld(true); // the current step keeps running
    await waitFor('step 0 ended', () => h.ended.length === 1);
    h.runner.write('\x03'); // ^C while idle must not kill the driver either
    // The step's end is when the next one would be sent (at once, unheld); the driver lives
    // through the ^C and waits for its next step.
    await waitFor('the driver waits for its next step', () => h.runner.pid !== undefined && isReading(h.runner.pid));
    await sleep(150); // negative wait: no step may start while held
    expect(h.started).to.deep.equal([0]);
    expect(h.output().toString()).to.contain('one').and.not.contain('two');
    h.runner.setHeld(false);
    expect(await done).to.deep.equal({ status: 'succeeded', exitCode: 0 });
    expect(h.started).to.deep.equal([0, 1]);
    expect(h.output().toString()).to.contain('two');
  });

  it('soft pause held before start: nothing runs until release', async () => {
    const h = harness({ steps: ['echo first'] });
    h.runner.setHeld(true);
    const done = h.runner.start();
    // up and idle: unheld, its first step would have been sent by now
    await waitFor('the driver waits for its first step', () => h.runner.pid !== undefined && isReading(h.runner.pid));
    await sleep(150); // negative wait: nothing may start while held
    expect(h.started).to.deep.equal([]);
    h.runner.setHeld(false);
    expect((await done).status).to.equal('succeeded');
  });

  it('hard pause stops a busy loop; resume continues it', async () => {
    const h = harness({ steps: ['while :; do echo x; sleep 0.01; done'] });
    const done = h.runner.start();
    await waitFor('the loop printed', () => h.output().length > 50);
    h.runner.hardPause();
    await waitFor('the step to be stopped', () => h.runner.pid !== undefined && isStopped(h.runner.pid));
    const stoppedLen = await drained(h); // bytes already in the pty buffer still arrive
    await sleep(250); // negative wait: no output may arrive while stopped (the loop prints every 10 ms)
    expect(h.output().length).to.equal(stoppedLen);
    h.runner.hardResume();
    await waitFor('the loop prints again', () => h.output().length > stoppedLen + 50, 3000);
    h.runner.cancel();
    expect(await done).to.deep.equal({ status: 'cancelled', exitCode: null });
  });

  it('cancel during soft pause (step running) ends cancelled with no processes left', async () => {
    const m = uniqueMarker();
    const h = harness({ steps: [`sleep ${m} & sleep ${m}`, 'echo never'] });
    h.runner.setHeld(true);
    h.runner.setHeld(false);
    const done = h.runner.start();
    await waitFor('both sleeps are running', () => pgrep(m).length >= 2);
    h.runner.setHeld(true);
    h.runner.cancel();
    expect(await done).to.deep.equal({ status: 'cancelled', exitCode: null });
    expect(pgrep(m)).to.deep.equal([]);
    expect(h.started).to.deep.equal([0]);
  });

  it('cancel during soft pause (idle between steps) ends cancelled', async () => {
    const h = harness({ steps: ['true', 'echo never'] });
    h.runner.onStepEnd(() => h.runner.setHeld(true));
    const done = h.runner.start();
    await waitFor('step 0 ended', () => h.ended.length === 1);
    // idle: the driver is back waiting for its next step
    await waitFor('the driver waits for its next step', () => h.runner.pid !== undefined && isReading(h.runner.pid));
    const t0 = Date.now();
    h.runner.cancel();
    expect(await done).to.deep.equal({ status: 'cancelled', exitCode: null });
    expect(Date.now() - t0).to.be.lessThan(1500);
    expect(h.started).to.deep.equal([0]);
  });

  it('cancel during hard pause ends cancelled with no processes left', async () => {
    const m = uniqueMarker();
    const h = harness({ steps: [`sleep ${m} & sleep ${m}`] });
    const done = h.runner.start();
    await waitFor('both sleeps are running', () => pgrep(m).length >= 2);
    h.runner.hardPause();
    await waitFor('every sleep is stopped', () => pgrep(m).every(isStopped));
    h.runner.cancel();
    expect(await done).to.deep.equal({ status: 'cancelled', exitCode: null });
    expect(pgrep(m)).to.deep.equal([]);
  });

  it('cancel escalates to SIGKILL for steps that ignore SIGTERM', async () => {
    const m = uniqueMarker();
    const h = harness({ killGraceMs: 300, steps: [`trap '' TERM HUP; sleep ${m} & sleep ${m}`] });
    const done = h.runner.start();
    await waitFor('both sleeps are running', () => pgrep(m).length >= 2);
    h.runner.cancel();
    expect(await done).to.deep.equal({ status: 'cancelled', exitCode: null });
    expect(pgrep(m)).to.deep.equal([]);
  });

  it('cancel before start resolves cancelled without spawning', async () => {
    const h = harness({ steps: ['echo never'] });
    h.runner.cancel();
    expect(await h.runner.start()).to.deep.equal({ status: 'cancelled', exitCode: null });
    expect(h.runner.pid).to.equal(undefined);
  });

  it('kills background leftovers of a finished run and removes its control dir', async () => {
    const m = uniqueMarker();
    // the last step lasts long enough to look at the control dir while the run is still on
    const h = harness({ controlDirParent: tmp, steps: [`nohup sleep ${m} >/dev/null 2>&1 &`, 'sleep 1'] });
    const done = h.runner.start();
    await waitFor('step 0 started', () => h.started.length >= 1);
    expect(fs.readdirSync(tmp)).to.have.length(1); // the control dir exists during the run
    expect((await done).status).to.equal('succeeded');
    expect(pgrep(m)).to.deep.equal([]);
    expect(fs.readdirSync(tmp)).to.deep.equal([]);
  });

  it('a driver killed from outside ends the run failed', async () => {
    const h = harness({ steps: ['sleep 30'] });
    const done = h.runner.start();
    await waitFor('step 0 started', () => h.started.length === 1);
    process.kill(h.runner.pid as number, 'SIGKILL');
    const res = await done;
    expect(res.status).to.equal('failed');
    expect(res.exitCode).to.equal(137);
  });
});
