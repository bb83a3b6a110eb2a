/**
 * Attacks with a forwarded RW grant (issue 12 item 4, architecture §7a): a grant works only for its
 * grantee, under an operator token whose role may write. A viewer-role token with an operator's
 * grant, another operator with it, and the grantee's own viewer-role token all type nothing into
 * the pty; the grantee types (positive control). The grant travels in no URL query, no command
 * line, no log line; revoked and expired grants stay refused. A real `handoff hub` (PostgreSQL),
 * a real `handoff agent` with a pty, and a real `handoff attach` process.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { expect } from 'chai';
import type { GrantWriteResult, LiveSessionDto, TaskRunDto } from '../../common/api.ts';
import { TASK_PANE } from '../../common/protocol.ts';
import type { AgentProcess } from '../support/processes.ts';
import { createRunAt, eventsAt, operatorToken, removeDir, rest, spawnAgent, testTokens, waitRunAt, waitSessionAt } from '../support/processes.ts';
import type { HubProcess } from '../support/testHub.ts';
import { startTestHub } from '../support/testHub.ts';
import { TestViewer } from '../support/viewerClient.ts';
import { waitUntil } from '../support/wait.ts';

const HANDOFF = resolve(import.meta.dirname, '../../bin/handoff.js');
/** Echoes every line the pty receives, for a minute. */
const ECHO_STEP = 'echo ready; while read -r -t 60 line; do echo "got:[$line]"; done';

describe('attacks: a forwarded RW grant', function () {
  this.timeout(90_000);
  let hub: HubProcess;
  let agent: AgentProcess;
  const viewers: TestViewer[] = [];
  const clis: ChildProcess[] = [];
  const grantee = operatorToken('operator', 'op-grantee');
  /** Every grant minted in this suite, to look for afterwards. */
  const minted: string[] = [];
  /** Runs of the current test, cancelled after it (each holds one of the agent's slots). */
  const runs: string[] = [];
  let controlLines = 0;

  before(async function () {
    this.timeout(40_000);
    hub = await startTestHub('postgres', { process: true, env: { HANDOFF_LOG_LEVEL: 'debug', HANDOFF_LIVE_SESSION_ALLOW_WEB: 'true', HANDOFF_LIVE_SESSION_MAX_CONCURRENT_PER_WORKER: '4' } });
    agent = spawnAgent({ hubUrl: hub.url, workerId: 'w-grants', env: { HANDOFF_LIVE_SESSION_MAX_CONCURRENT_PER_WORKER: '4' } });
  });

  afterEach(async () => {
    for (const id of runs.splice(0)) await rest(hub.url, 'POST', `/api/task-runs/${id}/cancel`, grantee, {});
  });

  after(async function () {
    this.timeout(30_000);
    for (const v of viewers) v.close();
    for (const c of clis) c.kill('SIGKILL');
    await agent?.stop('SIGTERM', 10_000);
    await hub?.close();
    removeDir(agent?.dataDir);
  });

  async function liveRun(): Promise<TaskRunDto> {
    const run = await createRunAt(hub.url, [ECHO_STEP]);
    runs.push(run.id);
    await waitRunAt(hub.url, run.id, ['running'], 30_000);
    await waitSessionAt(hub.url, run.id, ['ready']);
    return run;
  }

  async function grantWrite(runId: string, token = grantee): Promise<GrantWriteResult> {
    const res = await rest<GrantWriteResult>(hub.url, 'POST', `/api/task-runs/${runId}/live-session/grant-write`, token, { ttlMinutes: 5 });
    expect(res.status, res.text).to.equal(200);
    minted.push(res.body.grantToken);
    return res.body;
  }

  async function viewer(token: string, grant?: string): Promise<TestViewer> {
    const v = await TestViewer.connect(hub.url, token, grant ? { grant } : {});
    viewers.push(v);
    return v;
  }

  /**
   * Types `marker` as the grantee (who may write) after the attacker's input was dropped, and waits
   * for the pty to echo it: whatever the attacker sent before reached the pty first, or never.
   */
  async function controlLine(runId: string, grant: string, marker: string): Promise<TestViewer> {
    const v = await viewer(grantee, grant);
    expect((await v.join(runId)).canWrite, 'the grantee with its grant').to.equal(true);
    v.sendInput(TASK_PANE, `${marker}\r`);
    await v.waitForOutput(TASK_PANE, (b) => b.toString().includes(`got:[${marker}]`), 10_000, `the pty to echo ${marker}`);
    return v;
  }

  /** The attacker joins with the grant: read-only with a reason, its keys dropped, and the pty never sees them. */
  async function expectNoWrite(runId: string, grant: string, attackerToken: string, typed: string, reason: RegExp): Promise<void> {
    const attacker = await viewer(attackerToken, grant);
    const joined = await attacker.join(runId);
    expect(joined.canWrite, `${typed}: canWrite at join`).to.equal(false);
    expect((await attacker.waitForNotice('grant_refused')).message).to.match(reason);
    attacker.sendInput(TASK_PANE, `${typed}\r`);
    await attacker.waitForNotice('read_only');
    const control = await controlLine(runId, grant, `grantee-line-${++controlLines}`);
    const seen = control.pane(TASK_PANE).liveOutput().toString() + (await control.pane(TASK_PANE).serialize());
    expect(seen, 'the attacker\'s keys reached the pty').not.to.include(typed);
    const attach = (await eventsAt(hub.url, runId)).filter((e) => e.action === 'rw_attach');
    expect(attach.map((e) => e.actorUserId), 'rw_attach only for the grantee').to.deep.equal(attach.map(() => 'op-grantee'));
  }

  it('(a) a viewer-role token with an operator\'s grant types nothing — nor does the grantee\'s own viewer-role token', async () => {
    const run = await liveRun();
    const g = await grantWrite(run.id);
    await expectNoWrite(run.id, g.grantToken, operatorToken('viewer', 'mallory'), 'viewer-typed', /another operator|not yours|issued to/);
    await expectNoWrite(run.id, g.grantToken, operatorToken('viewer', 'op-grantee'), 'demoted-typed', /role viewer/);
  });

  it('(b) another operator with the first operator\'s grant types nothing', async () => {
    const run = await liveRun();
    const g = await grantWrite(run.id);
    await expectNoWrite(run.id, g.grantToken, operatorToken('operator', 'op-other'), 'other-typed', /another operator|not yours|issued to/);
    await expectNoWrite(run.id, g.grantToken, operatorToken('admin', 'root-admin'), 'admin-typed', /another operator|not yours|issued to/);
  });

  it('(c) the grantee with its own grant types into the run (positive control)', async () => {
    const run = await liveRun();
    const g = await grantWrite(run.id);
    await controlLine(run.id, g.grantToken, 'grantee-typed');
    const attach = (await eventsAt(hub.url, run.id)).find((e) => e.action === 'rw_attach');
    expect(attach?.actorUserId).to.equal('op-grantee');
  });

  it('(d) no grant in the links, in a URL query, on the attach command line or in the hub log', async () => {
    const run = await liveRun();
    const g = await grantWrite(run.id);
    const token = g.grantToken;
    const signature = token.split('.')[2] as string;
    // the links the hub hands out: the RW command carries no grant; the web link only in its fragment
    expect(g.attachRw, 'attachRw').not.to.include(signature);
    if (g.webRw) {
      const web = new URL(g.webRw);
      expect(web.search, 'webRw query').not.to.include(signature);
      expect(new URLSearchParams(web.hash.slice(1)).get('grant'), 'webRw fragment').to.equal(token);
    }
    const session = await rest<{ session: LiveSessionDto }>(hub.url, 'GET', `/api/task-runs/${run.id}/live-session`, grantee);
    const detail = await rest<{ taskRun: TaskRunDto }>(hub.url, 'GET', `/api/task-runs/${run.id}`, grantee);
    for (const [what, text] of [['live-session', session.text], ['task run', detail.text]] as const) expect(text, what).not.to.include(signature);

    // the old way is refused with the reason and what to use instead
    const old = startAttach(['attach', run.id, '--grant', token], {});
    const oldExit = await exitOf(old.proc, 15_000);
    expect(oldExit, `handoff attach --grant TOKEN: ${old.stderr()}`).to.equal(2);
    expect(old.stderr()).to.match(/command line/).and.to.match(/--grant-file/).and.to.match(/HANDOFF_GRANT/);

    // --grant-file and HANDOFF_GRANT: the grant is in no process's command line, and the keys reach the pty
    const dir = mkdtempSync(join(tmpdir(), 'handoff-grant-'));
    try {
      const file = join(dir, 'grant');
      writeFileSync(file, `${token}\n`, { mode: 0o600 });
      const ways: Array<[string, string[], Record<string, string>]> = [
        ['--grant-file', ['attach', run.id, '--grant-file', file], {}],
        ['HANDOFF_GRANT', ['attach', run.id], { HANDOFF_GRANT: token }],
      ];
      for (const [way, args, env] of ways) {
        const before = (await eventsAt(hub.url, run.id)).filter((e) => e.action === 'rw_attach').length;
        const cli = startAttach(args, env);
        await waitUntil(`${way}: the CLI to join with write`, async () => ((await eventsAt(hub.url, run.id)).filter((e) => e.action === 'rw_attach').length > before ? true : undefined), 15_000, 100);
        expect(cmdlineOf(cli.proc.pid as number), `${way}: the attach command line`).to.include('attach');
        for (const pid of allPids()) expect(cmdlineOf(pid), `${way}: pid ${pid} shows the grant`).not.to.include(signature);
        const marker = `cli-${way.replace(/\W/g, '')}`;
        cli.proc.stdin?.write(`${marker}\r`);
        await waitUntil(`${way}: the pty to echo what the CLI typed`, () => (cli.stdout().includes(`got:[${marker}]`) ? true : undefined), 15_000, 50);
        cli.proc.kill('SIGTERM');
        await exitOf(cli.proc, 10_000);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }

    // the hub's log: not one grant minted so far, whole or its signature
    const logs = hub.logs.join('\n');
    for (const t of minted) expect(logs, 'hub log').not.to.include(t.split('.')[2] as string);
  });

  it('(e) the grantee\'s revoked or expired grant stays refused', async () => {
    const run = await liveRun();
    const g = await grantWrite(run.id);
    // revoked: the holder is downgraded at once, a replay is refused
    const holder = await viewer(grantee, g.grantToken);
    expect((await holder.join(run.id)).canWrite).to.equal(true);
    expect((await rest(hub.url, 'POST', `/api/task-runs/${run.id}/live-session/revoke-write`, grantee, { reason: 'attack test' })).status).to.equal(200);
    await waitUntil('the holder to be downgraded', () => holder.rwChanges.find((c) => !c.canWrite), 5000);
    const replay = await viewer(grantee, g.grantToken);
    expect((await replay.join(run.id)).canWrite, 'a revoked grant').to.equal(false);
    expect((await replay.waitForNotice('grant_refused')).message).to.match(/revoked/);
    replay.sendInput(TASK_PANE, 'revoked-typed\r');
    await replay.waitForNotice('read_only');

    // expired: minted with the hub's secret for the grantee, generation current, expiry passed
    const session = (await rest<{ session: LiveSessionDto }>(hub.url, 'GET', `/api/task-runs/${run.id}/live-session`, grantee)).body.session;
    const expired = testTokens.mintGrant({ runId: run.id, sessionId: session.id, grantee: 'op-grantee', generation: session.rwGeneration, expiresAt: Date.now() - 1000 }).token;
    minted.push(expired);
    const late = await viewer(grantee, expired);
    expect((await late.join(run.id)).canWrite, 'an expired grant').to.equal(false);
    expect((await late.waitForNotice('grant_refused')).message).to.match(/expired/);
    late.sendInput(TASK_PANE, 'expired-typed\r');
    await late.waitForNotice('read_only');

    const fresh = await grantWrite(run.id);
    const control = await controlLine(run.id, fresh.grantToken, 'after-refused');
    const seen = control.pane(TASK_PANE).liveOutput().toString() + (await control.pane(TASK_PANE).serialize());
    expect(seen).not.to.include('revoked-typed');
    expect(seen).not.to.include('expired-typed');
  });

  /** `handoff attach` as a child process (pipes, no terminal), with the hub address and the grantee's token. */
  function startAttach(args: string[], env: Record<string, string>) {
    const base: NodeJS.ProcessEnv = {};
    for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('HANDOFF_')) base[k] = v;
    const proc = spawn(process.execPath, [HANDOFF, ...args], { env: { ...base, HANDOFF_HUB_URL: hub.url, HANDOFF_TOKEN: grantee, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
    clis.push(proc);
    let out = '';
    let err = '';
    proc.stdout.setEncoding('utf8').on('data', (s: string) => (out += s));
    proc.stderr.setEncoding('utf8').on('data', (s: string) => (err += s));
    return { proc, stdout: () => out, stderr: () => err };
  }
});

function exitOf(proc: ChildProcess, timeoutMs: number): Promise<number | null> {
  if (proc.exitCode !== null || proc.signalCode !== null) return Promise.resolve(proc.exitCode);
  return new Promise((resolveExit, reject) => {
    const t = setTimeout(() => reject(new Error(`process ${proc.pid} still running after ${timeoutMs} ms`)), timeoutMs);
    proc.once('exit', (code) => {
      clearTimeout(t);
      resolveExit(code);
    });
  });
}

/** Every process `ps` would list. */
function allPids(): number[] {
  return readdirSync('/proc').filter((n) => /^\d+$/.test(n)).map(Number);
}

function cmdlineOf(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
  } catch {
    return ''; // gone meanwhile, or not ours to read
  }
}
