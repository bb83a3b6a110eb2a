/**
 * Operator intervention end to end (issue #4): RW grants enforced live over the socket, soft and
 * hard pause, takeover with the operator's shell pane, operator messages, cancel while paused,
 * and the whole takeover story. Real hub (PostgreSQL), real agent, real ptys, real sockets.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'chai';
import jwt from 'jsonwebtoken';
import type { ControlEventDto, GrantWriteResult, TaskRunDto } from '../../common/api.ts';
import { OPERATOR_PANE, TASK_PANE } from '../../common/protocol.ts';
import type { TestAgent } from '../support/testAgent.ts';
import { createRun, startTestAgent, waitForRunStatus, waitForSessionStatus } from '../support/testAgent.ts';
import { sleep, waitSteady, waitUntil } from '../support/wait.ts';
import type { TestHub } from '../support/testHub.ts';
import { startTestHub } from '../support/testHub.ts';
import { TestViewer } from '../support/viewerClient.ts';

describe('operator intervention (e2e)', function () {
  this.timeout(60_000);
  let hub: TestHub;
  let agent: TestAgent;
  const viewers: TestViewer[] = [];

  before(async () => {
    hub = await startTestHub('postgres', { env: { HANDOFF_LIVE_SESSION_MAX_CONCURRENT_PER_WORKER: '8' } });
    agent = startTestAgent(hub, { env: { HANDOFF_LIVE_SESSION_MAX_CONCURRENT_PER_WORKER: '8' } });
    await agent.ready();
  });
  afterEach(() => {
    for (const v of viewers.splice(0)) v.close();
  });
  after(async () => {
    await agent?.close();
    await hub?.close();
  });

  const viewer = async (grant?: string, role: 'viewer' | 'operator' | 'admin' = 'operator') => {
    const v = await TestViewer.connect(hub.url, hub.token(role, `${role}-alice`), grant ? { grant } : {});
    viewers.push(v);
    return v;
  };
  const control = (runId: string, body: Record<string, unknown>) => hub.api<{ taskRun: TaskRunDto }>('POST', `/api/task-runs/${runId}/control`, hub.token('operator', 'op-bob'), body);
  // a grant is bound to its grantee: the operator who types (viewer()'s operator-alice) asks for it
  const grantWrite = async (runId: string, ttlMinutes = 1) => {
    const res = await hub.api<GrantWriteResult>('POST', `/api/task-runs/${runId}/live-session/grant-write`, hub.token('operator', 'operator-alice'), { ttlMinutes });
    expect(res.status, res.text).to.equal(200);
    return res.body;
  };
  const events = async (runId: string) => (await hub.api<{ events: ControlEventDto[] }>('GET', `/api/task-runs/${runId}/events`, hub.token('viewer'))).body.events;
  const artifactDir = (runId: string) => join(agent.dataDir, 'runs', runId);
  const readyRun = async (steps: string[]) => {
    const run = await createRun(hub, steps);
    await waitForSessionStatus(hub, run.id, ['ready']);
    return run;
  };
  const text = (b: Buffer) => b.toString('utf8');
  /** Waits until the pane's screen (snapshot + live output, as a terminal shows it) contains `needle`. */
  const screenShows = (v: TestViewer, paneId: string, needle: string, timeoutMs = 10_000) =>
    waitUntil(
      `"${needle}" on the ${paneId} screen`,
      async () => {
        const p = v.panes.get(paneId);
        if (!p?.stream.synced) return undefined;
        return (await p.screenLines()).join('\n').includes(needle) ? true : undefined;
      },
      timeoutMs,
      50,
    );

  describe('RW grants over the socket', () => {
    it('drops input from a viewer without a grant and tells it so', async () => {
      const run = await readyRun(['read -t 3 line; echo "got:[$line]"']);
      const v = await viewer();
      const join = await v.join(run.id);
      expect(join.canWrite).to.equal(false);
      v.sendInput(TASK_PANE, 'hello\r');
      await v.waitForNotice('read_only');
      await v.waitForOutput(TASK_PANE, (b) => text(b).includes('got:['), 10_000);
      expect(text(v.pane(TASK_PANE).liveOutput())).to.include('got:[]');
      await waitForRunStatus(hub, run.id, ['succeeded']);
    });

    it('passes input from a viewer holding a grant, and records rw_attach / rw_detach with bytes', async () => {
      const run = await readyRun(['read line; echo "got:[$line]"']);
      const g = await grantWrite(run.id);
      const v = await viewer(g.grantToken);
      const join = await v.join(run.id);
      expect(join.canWrite).to.equal(true);
      expect(Date.parse(join.rwUntil as string)).to.be.closeTo(Date.parse(g.grantedUntil), 1000);
      v.sendInput(TASK_PANE, 'fix\r');
      await v.waitForOutput(TASK_PANE, (b) => text(b).includes('got:[fix]'));
      await waitForRunStatus(hub, run.id, ['succeeded']);
      v.close();
      const ev = await waitUntil('rw_detach', async () => {
        const e = await events(run.id);
        return e.some((x) => x.action === 'rw_detach') ? e : undefined;
      });
      const attach = ev.find((e) => e.action === 'rw_attach');
      const detach = ev.find((e) => e.action === 'rw_detach');
      expect(attach?.actorUserId).to.equal('operator-alice');
      expect(detach?.metadata['bytes']).to.equal(4);
    });

    it('downgrades a viewer whose grant expires, without a reconnect, and drops further input', async () => {
      const run = await readyRun(['read -t 5 line; echo "got:[$line]"']);
      const session = await waitForSessionStatus(hub, run.id, ['ready']);
      // The API's minimum TTL is a minute; mint a 1.5 s grant with the hub's own key for this test.
      const { token } = hub.hub.ctx.tokens.mintGrant({ runId: run.id, sessionId: session.id, grantee: 'operator-alice', generation: session.rwGeneration, expiresAt: Date.now() + 1500 });
      const v = await viewer(token);
      expect((await v.join(run.id)).canWrite).to.equal(true);
      const connectedAs = v.socket.id;
      const change = await waitUntil('rw:changed', () => v.rwChanges.find((c) => !c.canWrite), 5000);
      expect(change.reason).to.match(/expired/);
      expect(v.socket.id).to.equal(connectedAs);
      v.sendInput(TASK_PANE, 'late\r');
      await v.waitForNotice('read_only');
      expect(text(v.pane(TASK_PANE).liveOutput()), 'the step still reads when the input is dropped').to.not.include('got:[');
      await v.waitForOutput(TASK_PANE, (b) => text(b).includes('got:['), 15_000);
      expect(text(v.pane(TASK_PANE).liveOutput())).to.include('got:[]');
    });

    it('revoke-write downgrades every holder at once', async () => {
      const run = await readyRun(['read -t 6 line; echo "got:[$line]"']);
      const a = await viewer((await grantWrite(run.id)).grantToken);
      const b = await viewer((await grantWrite(run.id)).grantToken);
      await a.join(run.id);
      await b.join(run.id);
      const res = await hub.api('POST', `/api/task-runs/${run.id}/live-session/revoke-write`, hub.token('operator'), { reason: 'enough' });
      expect(res.status).to.equal(200);
      for (const v of [a, b]) await waitUntil('downgrade', () => v.rwChanges.find((c) => !c.canWrite && /revoked/.test(c.reason ?? '')), 3000);
      a.sendInput(TASK_PANE, 'nope\r');
      await a.waitForNotice('read_only');
      expect(text(a.pane(TASK_PANE).liveOutput()), 'the step still reads when the input is dropped').to.not.include('got:[');
      await a.waitForOutput(TASK_PANE, (buf) => text(buf).includes('got:['), 15_000);
      expect(text(a.pane(TASK_PANE).liveOutput())).to.include('got:[]');
      expect((await events(run.id)).map((e) => e.action)).to.include('revoke_rw');
    });

    it('refuses a grant for run A on run B', async () => {
      const runA = await readyRun(['sleep 5']);
      const runB = await readyRun(['read -t 3 line; echo "got:[$line]"']);
      const v = await viewer((await grantWrite(runA.id)).grantToken);
      expect((await v.join(runB.id)).canWrite).to.equal(false);
      v.sendInput(TASK_PANE, 'cross\r');
      await v.waitForNotice('read_only');
      await v.waitForOutput(TASK_PANE, (b) => text(b).includes('got:['), 10_000);
      expect(text(v.pane(TASK_PANE).liveOutput())).to.include('got:[]');
    });

    it('refuses a forged or re-signed grant at the handshake', async () => {
      const run = await readyRun(['sleep 3']);
      const real = (await grantWrite(run.id)).grantToken;
      const claims = jwt.decode(real) as Record<string, unknown>;
      const resigned = jwt.sign(claims, 'another-secret-another-secret-another', { algorithm: 'HS256' });
      const [h, , sig] = real.split('.');
      const tampered = `${h}.${Buffer.from(JSON.stringify({ ...claims, run: '00000000-0000-4000-8000-000000000000' })).toString('base64url')}.${sig}`;
      const none = `${Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url')}.${real.split('.')[1]}.`;
      for (const bad of [resigned, tampered, none]) {
        let refused: Error | null = null;
        try {
          viewers.push(await TestViewer.connect(hub.url, hub.token('operator'), { grant: bad }));
        } catch (err) {
          refused = err as Error;
        }
        expect(refused?.message).to.match(/unauthorized/);
      }
    });

    it('does not let a viewer-role token call grant-write', async () => {
      const run = await readyRun(['sleep 2']);
      const res = await hub.api('POST', `/api/task-runs/${run.id}/live-session/grant-write`, hub.token('viewer'), {});
      expect(res.status).to.equal(403);
    });
  });

  /** The run once its agent acknowledged the control state asked last (payload.liveControl.appliedAt). */
  const controlApplied = (runId: string): Promise<TaskRunDto> =>
    waitUntil('the agent to apply the control', async () => {
      const r = (await hub.api<{ taskRun: TaskRunDto }>('GET', `/api/task-runs/${runId}`, hub.token('viewer'))).body.taskRun;
      return r.payload.liveControl?.appliedAt ? r : undefined;
    });

  describe('pause, resume, takeover, messages, cancel', () => {
    it('soft pause holds the next step (it did not start) and shows the banner; resume starts it', async () => {
      const run = await readyRun(['sleep 1; echo first', 'date +%s%N > second.txt; echo second']);
      const v = await viewer();
      await v.join(run.id);
      expect((await control(run.id, { action: 'pause' })).status).to.equal(200);
      await v.waitForOutput(TASK_PANE, (b) => text(b).includes('== PAUSED FOR OPERATOR =='));
      await v.waitForOutput(TASK_PANE, (b) => text(b).includes('first'), 5000);
      // step 1 is over: unpaused, step 2 would start right away
      await waitUntil('step 1 to finish', async () => ((await events(run.id)).some((e) => e.action === 'step_finished' && e.metadata['index'] === 0) ? true : undefined));
      await sleep(500); // negative wait: the next step must not start while paused
      expect(existsSync(join(artifactDir(run.id), 'second.txt')), 'step 2 must not start while paused').to.equal(false);
      expect((await events(run.id)).filter((e) => e.action === 'step_started').map((e) => e.metadata['index']), 'step 2 did not start').to.deep.equal([0]);
      const applied = await controlApplied(run.id);
      expect(applied.payload.liveControl?.paused).to.equal(true);
      const resumedAt = Date.now();
      expect((await control(run.id, { action: 'resume', summary: 'looked fine' })).status).to.equal(200);
      await waitForRunStatus(hub, run.id, ['succeeded']);
      const startedNs = Number(readFileSync(join(artifactDir(run.id), 'second.txt'), 'utf8').trim()) / 1e6;
      expect(startedNs).to.be.at.least(resumedAt - 50);
      const inbox = readFileSync(join(artifactDir(run.id), 'operator_inbox.jsonl'), 'utf8');
      expect(inbox).to.include('looked fine');
    });

    it('hard pause stops the output of a busy loop; resume restarts it', async () => {
      const run = await readyRun(['for i in $(seq 1 2000); do echo "tick $i"; sleep 0.01; done']);
      const v = await viewer();
      await v.join(run.id);
      await v.waitForOutput(TASK_PANE, (b) => b.length > 200);
      await control(run.id, { action: 'pause', mode: 'hard' });
      await v.waitForOutput(TASK_PANE, (b) => text(b).includes('== PAUSED FOR OPERATOR =='));
      await controlApplied(run.id); // the agent stopped the step's processes
      // bytes the loop wrote before it stopped may still be on their way: wait until they stop coming
      const stoppedAt = await waitSteady('the output to stop', () => v.pane(TASK_PANE).liveByteCount, 300);
      await sleep(500); // negative wait: nothing may arrive while hard-paused (the loop prints every 10 ms)
      expect(v.pane(TASK_PANE).liveByteCount, 'no output while hard-paused').to.equal(stoppedAt);
      await control(run.id, { action: 'resume' });
      await v.waitForOutput(TASK_PANE, (b) => b.length > stoppedAt + 100, 5000, 'output after resume');
      await hub.api('POST', `/api/task-runs/${run.id}/cancel`, hub.token('operator'), {});
      await waitForRunStatus(hub, run.id, ['cancelled']);
    });

    it('a control reaches each viewer once as asked and once as applied; the agent acknowledges it once', async () => {
      const run = await readyRun(['for i in $(seq 1 600); do echo "tick $i"; sleep 0.01; done']);
      const v = await viewer();
      await v.join(run.id);
      await v.waitForOutput(TASK_PANE, (b) => b.length > 100);
      await control(run.id, { action: 'pause', mode: 'hard' });
      const controls = () => v.events.filter((e) => e.name === 'run:control').map((e) => e.args[1] as { appliedAt?: string | null; paused: boolean });
      await waitUntil('the applied state', () => controls().find((c) => c.appliedAt), 5000);
      const detail = await hub.api<{ taskRun: TaskRunDto }>('GET', `/api/task-runs/${run.id}`, hub.token('viewer'));
      const appliedAt = detail.body.taskRun.payload.liveControl?.appliedAt;
      expect(appliedAt).to.be.a('string');
      // negative wait: no storm of run:control (it was ~170 events a second) and no second ack,
      // short of the run's end
      await sleep(700);
      expect(controls().map((c) => [c.paused, Boolean(c.appliedAt)])).to.deep.equal([
        [true, false],
        [true, true],
      ]);
      const again = await hub.api<{ taskRun: TaskRunDto }>('GET', `/api/task-runs/${run.id}`, hub.token('viewer'));
      expect(again.body.taskRun.payload.liveControl?.appliedAt, 'a repeated ack would move appliedAt').to.equal(appliedAt);
      await hub.api('POST', `/api/task-runs/${run.id}/cancel`, hub.token('operator'), {});
      await waitForRunStatus(hub, run.id, ['cancelled']);
    });

    it('takeover opens the operator shell pane in the run workspace, writable with the grant', async () => {
      const run = await readyRun(['sleep 30']);
      const v = await viewer((await grantWrite(run.id)).grantToken);
      await v.join(run.id);
      await control(run.id, { action: 'takeover' });
      await waitUntil('operator pane', () => v.paneOpens.find((p) => p.paneId === OPERATOR_PANE), 5000);
      await screenShows(v, OPERATOR_PANE, '[operator]', 5000);
      v.sendInput(OPERATOR_PANE, 'echo "run=$HANDOFF_RUN_ID cwd=$PWD"\r');
      await v.waitForOutput(OPERATOR_PANE, (b) => text(b).includes(`run=${run.id} cwd=${artifactDir(run.id)}`), 5000);
      await hub.api('POST', `/api/task-runs/${run.id}/cancel`, hub.token('operator'), {});
      await waitForRunStatus(hub, run.id, ['cancelled']);
    });

    it('operator messages land in the inbox file and in every viewer', async () => {
      const run = await readyRun(['sleep 2; cat "$HANDOFF_OPERATOR_INBOX"']);
      const a = await viewer();
      const b = await viewer(undefined, 'viewer');
      await a.join(run.id);
      await b.join(run.id);
      const res = await hub.api('POST', `/api/task-runs/${run.id}/operator-messages`, hub.token('operator', 'op-bob'), { message: 'try the staging DB' });
      expect(res.status).to.equal(201);
      for (const v of [a, b]) await waitUntil('run:message', () => v.events.find((e) => e.name === 'run:message'), 3000);
      await a.waitForOutput(TASK_PANE, (buf) => text(buf).includes('try the staging DB'), 10_000, 'the step reading its inbox');
      const line = JSON.parse(readFileSync(join(artifactDir(run.id), 'operator_inbox.jsonl'), 'utf8').trim().split('\n')[0] as string) as Record<string, unknown>;
      expect(line).to.include({ type: 'message', from: 'op-bob', message: 'try the staging DB' });
    });

    for (const mode of ['soft', 'hard'] as const) {
      it(`cancel during a ${mode} pause ends the run cancelled and leaves no process behind`, async () => {
        const marker = `1000.${process.pid}${mode === 'soft' ? 1 : 2}`;
        const run = await readyRun([`sleep ${marker} & sleep ${marker}`, 'echo never']);
        await waitUntil('sleep running', () => (pgrep(marker).length >= 2 ? true : undefined), 5000);
        await control(run.id, { action: 'pause', mode });
        await controlApplied(run.id);
        const res = await hub.api<{ taskRun: TaskRunDto }>('POST', `/api/task-runs/${run.id}/cancel`, hub.token('operator'), {});
        expect(res.status).to.equal(200);
        await waitForSessionStatus(hub, run.id, ['ended']);
        await waitUntil('processes gone', () => (pgrep(marker).length === 0 ? true : undefined), 5000);
        expect((await waitForRunStatus(hub, run.id, ['cancelled'])).status).to.equal('cancelled');
      });
    }
  });

  it('the takeover story: stuck → pause → grant → operator types the fix → resume with summary → succeeds', async () => {
    const run = await readyRun(['read -p "answer? " ans; [ "$ans" = fix ]', 'echo "done after takeover"']);
    const v = await viewer();
    await v.join(run.id);
    await screenShows(v, TASK_PANE, 'answer?');
    await control(run.id, { action: 'pause' });
    const g = await grantWrite(run.id, 1);
    const rw = await viewer(g.grantToken);
    expect((await rw.join(run.id)).canWrite).to.equal(true);
    rw.sendInput(TASK_PANE, 'fix\r');
    // the step has read the answer when the terminal echoed it
    await screenShows(v, TASK_PANE, 'fix', 5000);
    expect((await control(run.id, { action: 'resume', summary: 'typed the answer' })).status).to.equal(200);
    const done = await waitForRunStatus(hub, run.id, ['succeeded', 'failed']);
    expect(done.status).to.equal('succeeded');
    await v.waitForOutput(TASK_PANE, (b) => text(b).includes('done after takeover'), 5000, 'the second step, after resume');
    const timeline = await events(run.id);
    const actions = timeline.map((e) => e.action);
    for (const a of ['create_session', 'session_ready', 'pause', 'grant_rw', 'rw_attach', 'resume', 'run_completed', 'session_ended']) expect(actions, a).to.include(a);
    expect(actions.indexOf('pause')).to.be.below(actions.indexOf('grant_rw'));
    expect(actions.indexOf('grant_rw')).to.be.below(actions.indexOf('resume'));
    const resume = timeline.find((e) => e.action === 'resume');
    expect(resume?.actorUserId).to.equal('op-bob');
    expect(resume?.metadata['summary']).to.equal('typed the answer');
    expect(timeline.find((e) => e.action === 'grant_rw')?.actorUserId).to.equal('operator-alice');
    expect(timeline.find((e) => e.action === 'rw_attach')?.actorUserId).to.equal('operator-alice');
  });
});

function pgrep(pattern: string): number[] {
  try {
    return execFileSync('pgrep', ['-f', pattern], { encoding: 'utf8' }).trim().split('\n').filter(Boolean).map(Number);
  } catch {
    return [];
  }
}
