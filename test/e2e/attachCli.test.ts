/**
 * `handoff attach` / `handoff run` in a real terminal (tmux): the screen shows the run, RO by
 * default (typed keys never reach the pty), Ctrl-] detaches and restores the terminal, --rw
 * types into the run, and clear errors without a token or for an unknown run.
 */
import { execFile, execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { expect } from 'chai';
import type { TaskRunDto, LiveSessionDto } from '../../common/api.ts';
import type { RunningAgent } from '../../agent/agent.ts';
import { startAgent } from '../../agent/agent.ts';
import { loadAgentConfig } from '../../agent/agentConfig.ts';
import type { TestHub } from '../support/testHub.ts';
import { startTestHub } from '../support/testHub.ts';
import { getRunAt } from '../support/rest.ts';
import { waitFor } from '../support/wait.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const HANDOFF = join(ROOT, 'bin/handoff.js');
const NODE = process.execPath;
const PATH = `${dirname(NODE)}:${process.env.PATH ?? ''}`;

const sh = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;


/** A private tmux server (own socket) whose panes stay readable after their command exits. */
class Tmux {
  readonly socket = `handoff-attach-${process.pid}-${randomUUID().slice(0, 8)}`;
  private readonly dir = mkdtempSync(join(tmpdir(), 'handoff-tmux-'));
  private readonly conf = join(this.dir, 'tmux.conf');
  private n = 0;

  constructor() {
    writeFileSync(this.conf, 'set -g remain-on-exit on\nset -g history-limit 5000\n');
  }

  tmux(...args: string[]): string {
    return execFileSync('tmux', ['-L', this.socket, '-f', this.conf, ...args], { encoding: 'utf8', timeout: 10_000, stdio: ['ignore', 'pipe', 'pipe'] });
  }

  /** Starts `cmd` (a shell line) in a 120×40 terminal; after it, the shell checks the tty modes came back. */
  start(cmd: string, env: Record<string, string>): string {
    const name = `s${++this.n}`;
    const vars = Object.entries({ PATH, ...env }).map(([k, v]) => `${k}=${sh(v)}`).join(' ');
    const script = `before=$(stty -g); env ${vars} ${cmd}; code=$?; [ "$before" = "$(stty -g)" ] && echo TTY-RESTORED; echo "EXIT=$code"; read _; exit $code`;
    this.tmux('new-session', '-d', '-s', name, '-x', '120', '-y', '40', `sh -c ${sh(script)}`);
    return name;
  }

  screen(name: string): string {
    return this.tmux('capture-pane', '-p', '-J', '-S', '-200', '-t', name);
  }

  format(name: string, fmt: string): string {
    return this.tmux('display-message', '-p', '-t', name, fmt).trim();
  }

  keys(name: string, ...keys: string[]): void {
    this.tmux('send-keys', '-t', name, ...keys);
  }

  /** Waits until the command exited (the shell then waits for Enter, so the terminal's state stays readable); answers its exit status. */
  async exited(name: string, timeoutMs = 20_000): Promise<number> {
    const m = await waitFor(`the command in ${name} to exit`, () => /^EXIT=(\d+)$/m.exec(this.screen(name)), timeoutMs);
    return Number(m[1]);
  }

  close(): void {
    try {
      this.tmux('kill-server');
    } catch {
      // no server left
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}

function runCli(args: string[], env: Record<string, string | undefined>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((done) => {
    const child = execFile(NODE, [HANDOFF, ...args], { env: { ...process.env, ...env }, timeout: 20_000 }, (err, stdout, stderr) => {
      done({ code: err ? ((err as { code?: number }).code ?? null) : 0, stdout, stderr });
    });
    child.stdin?.end();
  });
}

describe('e2e: handoff attach / run in a terminal', function () {
  this.timeout(60_000);
  let th: TestHub;
  let agent: RunningAgent;
  let agentDir: string;
  let tmux: Tmux;
  let operator: string;

  before(async function () {
    try {
      execFileSync('tmux', ['-V']);
    } catch {
      throw new Error('tmux is required for these tests (apt-get install -y tmux)');
    }
    th = await startTestHub('postgres');
    agentDir = mkdtempSync(join(tmpdir(), 'handoff-agent-'));
    agent = startAgent(
      loadAgentConfig({ HANDOFF_HUB_URL: th.url, HANDOFF_WORKER_TOKEN: th.workerToken('w1'), HANDOFF_DATA_DIR: agentDir }),
      () => undefined,
    );
    operator = th.token('operator', 'alice');
  });

  after(async () => {
    await agent?.close({ cancelRuns: true });
    await th?.close();
    if (agentDir) rmSync(agentDir, { recursive: true, force: true });
  });

  beforeEach(() => {
    tmux = new Tmux();
  });
  afterEach(() => tmux.close());

  const cliEnv = () => ({ HANDOFF_HUB_URL: th.url, HANDOFF_TOKEN: operator });

  async function createRun(step: string): Promise<TaskRunDto> {
    const res = await th.api<{ taskRun: TaskRunDto }>('POST', '/api/task-runs', operator, { steps: [step], liveSession: true });
    expect(res.status, res.text).to.equal(201);
    return res.body.taskRun;
  }

  const getRun = (id: string) => getRunAt(th.url, id);

  const finished = (id: string) =>
    waitFor(`run ${id} to finish`, async () => {
      const r = await getRun(id);
      return ['succeeded', 'failed', 'cancelled'].includes(r.status) ? r : null;
    });

  const recording = (id: string) =>
    waitFor(`recording of run ${id}`, async () => {
      const res = await th.api('GET', `/api/task-runs/${id}/recording`, operator);
      return res.status === 200 ? res.text : null;
    });

  /** The text the run printed (the asciicast's output events). */
  const recordedOutput = async (id: string) =>
    (await recording(id))
      .split('\n')
      .slice(1)
      .filter(Boolean)
      .map((l) => JSON.parse(l) as [number, string, string])
      .filter((e) => e[1] === 'o')
      .map((e) => e[2])
      .join('');

  const sessionReady = (id: string) =>
    waitFor(`session of run ${id} to be ready`, async () => {
      const res = await th.api<{ session: LiveSessionDto }>('GET', `/api/task-runs/${id}/live-session`, operator);
      return res.status === 200 && res.body.session.status === 'ready';
    });

  it('shows the run read-only, never forwards keys, and Ctrl-] detaches with the terminal restored', async () => {
    // ticks until the test opens the gate (after the detach; at most 30 s), then one last line
    const gate = join(tmpdir(), `handoff-attach-gate-${randomUUID()}`);
    const run = await createRun(`echo MARKER-$((100+23)); i=0; while [ ! -e ${gate} ] && [ $i -lt 150 ]; do i=$((i+1)); echo tick $i; sleep 0.2; done; echo GATE-$((1+1))-SEEN`);
    const s = tmux.start(`node ${HANDOFF} attach ${run.id}`, cliEnv());

    await waitFor('the marker on screen', () => tmux.screen(s).includes('MARKER-123'));
    await waitFor('a tick on screen', () => /tick \d/.test(tmux.screen(s)));
    expect(tmux.format(s, '#{pane_title}')).to.contain('read-only');

    // operator messages show as a status line, outside the pane's stream
    const msg = await th.api('POST', `/api/task-runs/${run.id}/operator-messages`, operator, { message: 'look here please' });
    expect(msg.status, msg.text).to.equal(201);
    await waitFor('the operator message', () => tmux.screen(s).includes('[message from alice] look here please'));

    tmux.keys(s, 'echo INJECT', 'Enter');
    await waitFor('the read-only hint', () => tmux.screen(s).includes('read-only: keystrokes are not sent'));
    // the live stream keeps flowing to the screen
    const ticksBefore = (tmux.screen(s).match(/tick \d+/g) ?? []).length;
    await waitFor('more ticks', () => (tmux.screen(s).match(/tick \d+/g) ?? []).length > ticksBefore);

    tmux.keys(s, 'C-]');
    expect(await tmux.exited(s)).to.equal(0);
    const screen = tmux.screen(s);
    expect(screen).to.contain('detached');
    expect(screen).to.contain('TTY-RESTORED');
    expect(screen).to.contain('EXIT=0');
    expect(tmux.format(s, '#{alternate_on}')).to.equal('0');
    expect(tmux.format(s, '#{cursor_flag}')).to.equal('1');

    // the run went on without the viewer and never saw the typed keys
    writeFileSync(gate, '');
    const done = await finished(run.id);
    rmSync(gate, { force: true });
    expect(done.status).to.equal('succeeded');
    const out = await recordedOutput(run.id);
    expect(out, 'the run ended after the detach, by the gate').to.contain('GATE-2-SEEN');
    expect(out).not.to.contain('INJECT');
  });

  it('--rw: keys reach the run, and the session end detaches with its status', async () => {
    const run = await createRun('read line; echo "got:[$line]"');
    await sessionReady(run.id);
    const s = tmux.start(`node ${HANDOFF} attach ${run.id} --rw`, cliEnv());

    await waitFor('the RW title', () => /RW \d+ min left/.test(tmux.format(s, '#{pane_title}')));
    tmux.keys(s, 'fix', 'Enter');
    expect(await tmux.exited(s)).to.equal(0);
    const screen = tmux.screen(s);
    expect(screen).to.contain('got:[fix]');
    expect(screen).to.match(/session ended \(ended\)/);
    expect(screen).to.contain('TTY-RESTORED');

    const done = await finished(run.id);
    expect(done.status).to.equal('succeeded');
    expect(await recordedOutput(run.id)).to.contain('got:[fix]');
  });

  it('--rw, then the write grant is revoked: says so, and goes on read-only', async () => {
    const run = await createRun('read line; echo "got:[$line]"');
    await sessionReady(run.id);
    const s = tmux.start(`node ${HANDOFF} attach ${run.id} --rw`, cliEnv());
    await waitFor('the RW title', () => /RW \d+ min left/.test(tmux.format(s, '#{pane_title}')));

    const res = await th.api('POST', `/api/task-runs/${run.id}/live-session/revoke-write`, operator, { reason: 'enough' });
    expect(res.status, res.text).to.equal(200);
    await waitFor('the downgrade notice', () => tmux.screen(s).includes('write access ended: write revoked'));
    await waitFor('the read-only title', () => tmux.format(s, '#{pane_title}').includes('read-only'));

    tmux.keys(s, 'nope', 'Enter');
    // the keystrokes were taken and refused (the run's recording below proves none reached it)
    await waitFor('the read-only hint', () => tmux.screen(s).includes('keystrokes are not sent'));
    const cancel = await th.api('POST', `/api/task-runs/${run.id}/cancel`, operator, {});
    expect(cancel.status, cancel.text).to.equal(200);
    expect(await tmux.exited(s)).to.equal(0);
    expect(tmux.screen(s)).not.to.contain('got:[nope]');
    expect((await finished(run.id)).status).to.equal('cancelled');
    expect(await recordedOutput(run.id)).not.to.contain('nope');
  });

  it('handoff run --rw -- CMD: creates the run, types into it and exits with its exit code', async () => {
    const s = tmux.start(`node ${HANDOFF} run --rw -- ${sh('read line; echo "run-got:[$line]"; exit 7')}`, cliEnv());
    await waitFor('the RW title', () => /RW \d+ min left/.test(tmux.format(s, '#{pane_title}')));
    tmux.keys(s, 'abc', 'Enter');
    expect(await tmux.exited(s)).to.equal(7);
    const screen = tmux.screen(s);
    expect(screen).to.contain('run-got:[abc]');
    expect(screen).to.match(/run [0-9a-f-]{36} failed \(exit code 7\)/);
  });

  it('handoff run -- CMD (read-only): shows the output and exits with the run\'s exit code', async () => {
    const s = tmux.start(`node ${HANDOFF} run -- ${sh('sleep 1; echo RUN-$((40+2)); exit 3')}`, cliEnv());
    expect(await tmux.exited(s)).to.equal(3);
    const screen = tmux.screen(s);
    expect(screen).to.contain('RUN-42');
    expect(screen).to.contain('TTY-RESTORED');
  });

  it('handoff run -- CMD that ends at once: its output is still shown', async () => {
    const s = tmux.start(`node ${HANDOFF} run -- ${sh('echo QUICK-$((1+1))')}`, cliEnv());
    expect(await tmux.exited(s)).to.equal(0);
    expect(tmux.screen(s)).to.match(/^QUICK-2/m);
  });

  it('the hub goes away for good: a clear message and exit 1', async function () {
    this.timeout(60_000);
    const hub2 = await startTestHub('postgres');
    let closed = false;
    try {
      const token = hub2.token('operator');
      // no agent on this hub: the run stays queued and the viewer waits for it
      const res = await hub2.api<{ taskRun: TaskRunDto }>('POST', '/api/task-runs', token, { steps: ['echo never'], liveSession: true });
      const s = tmux.start(`node ${HANDOFF} attach ${res.body.taskRun.id}`, { HANDOFF_HUB_URL: hub2.url, HANDOFF_TOKEN: token });
      await waitFor('the waiting line', () => tmux.screen(s).includes('waiting for run'));
      await hub2.close();
      closed = true;
      const started = Date.now();
      expect(await tmux.exited(s, 30_000)).to.equal(1);
      expect(Date.now() - started).to.be.within(8_000, 20_000);
      const screen = tmux.screen(s);
      expect(screen).to.match(/lost the connection to the hub .*no reconnect within 10 s/);
      expect(screen).to.contain('TTY-RESTORED');
    } finally {
      if (!closed) await hub2.close();
    }
  });

  it('without HANDOFF_TOKEN or a stored sign-in: exits non-zero with a clear message', async () => {
    const r = await runCli(['attach', randomUUID()], { HANDOFF_HUB_URL: th.url, HANDOFF_TOKEN: '' });
    expect(r.code).to.not.equal(0);
    expect(r.stderr).to.match(/not signed in to .*handoff login.*HANDOFF_TOKEN/);
  });

  it('an unknown run: exits 1 saying it was not found', async () => {
    const id = randomUUID();
    const r = await runCli(['attach', id], cliEnv());
    expect(r.code).to.equal(1);
    expect(r.stderr).to.match(new RegExp(`${id}.*not found`));
  });

  it('--rw on a run that is not live: prints the hub\'s refusal', async () => {
    const r = await runCli(['attach', randomUUID(), '--rw'], cliEnv());
    expect(r.code).to.equal(1);
    expect(r.stderr).to.match(/cannot get write access.*404.*not found/);
  });

  it('a bad token: the hub\'s refusal, exit 1', async () => {
    const r = await runCli(['attach', randomUUID()], { HANDOFF_HUB_URL: th.url, HANDOFF_TOKEN: 'not-a-jwt' });
    expect(r.code).to.equal(1);
    expect(r.stderr).to.contain('unauthorized');
  });
});
