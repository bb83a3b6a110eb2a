/**
 * docs/protocol.md is enough to write a worker and a viewer (issue 13.5): the Python agent and
 * viewer of test/python, written from the page alone, run a task end to end against a real hub.
 * The agent claims the run, opens its pane, streams, answers run:snapshot, applies a soft pause
 * and acknowledges it once, resumes and completes; the viewer joins late and gets the snapshot
 * plus the live output, every byte once and in order.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'chai';
import type { ControlEventDto, TaskRunDto } from '../../common/api.ts';
import type { LiveControl } from '../../common/statuses.ts';
import { PythonClient, pythonClientsMissing } from '../support/pythonClient.ts';
import { createRun, getRun, waitForRunStatus, waitForSessionStatus } from '../support/testAgent.ts';
import type { TestHub } from '../support/testHub.ts';
import { startTestHub } from '../support/testHub.ts';

const missing = pythonClientsMissing();

describe('a Python agent and viewer written from docs/protocol.md (e2e)', function () {
  this.timeout(60_000);
  let hub: TestHub | undefined;
  const clients: PythonClient[] = [];

  before(function () {
    if (missing) {
      console.log(`      skipped: ${missing}`);
      this.skip();
    }
  });
  after(async () => {
    for (const c of clients.splice(0)) await c.stop();
    await hub?.close();
  });

  const python = (script: string, args: string[], env: Record<string, string>) => {
    const c = new PythonClient(script, args, env);
    clients.push(c);
    return c;
  };

  it('claims, streams, answers snapshots, applies a pause once, completes; a late viewer sees the snapshot and the live output', async () => {
    hub = await startTestHub('postgres');
    const h = hub;
    const workerId = 'py-worker';
    const agent = python('agent.py', [], { HANDOFF_HUB_URL: h.url, HANDOFF_WORKER_TOKEN: h.workerToken(workerId), HANDOFF_WORKER_ID: workerId, HANDOFF_DATA_DIR: h.dataDir });
    await agent.next('hello');

    // The first step prints, then waits for a file the test writes once the pause is in force.
    const gate = join(h.dataDir, 'gate');
    const run = await createRun(h, [`printf 'line-one\\n'; while [ ! -e '${gate}' ]; do sleep 0.05; done; printf 'step-one-done\\n'`, `printf 'after-pause\\n'`], { liveSession: true });
    await agent.next('claimed', (e) => e.runId === run.id);
    await agent.next('output', (e) => e.runId === run.id);
    await waitForSessionStatus(h, run.id, ['ready']);

    // A viewer joins late: the snapshot holds what was printed before it came.
    const viewer = python('viewer.py', [h.url, run.id], { HANDOFF_TOKEN: h.token('viewer', 'py-viewer') });
    const joined = await viewer.next('joined');
    const panes = joined['panes'] as Array<{ paneId: string; offset: number; data: string }>;
    expect(panes.map((p) => p.paneId)).to.deep.equal(['task']);
    expect(panes[0]!.offset).to.be.above(0);
    expect(panes[0]!.data).to.contain('line-one');
    await viewer.next('resynced', (e) => e.paneId === 'task');

    // Soft pause: applied by the agent, acknowledged, the hub marks it applied.
    const control = (body: Record<string, unknown>) => h.api<{ taskRun: TaskRunDto }>('POST', `/api/task-runs/${run.id}/control`, h.token('operator', 'py-op'), body);
    const paused = await control({ action: 'pause', mode: 'soft' });
    expect(paused.status, paused.text).to.equal(200);
    const pauseAt = paused.body.taskRun.payload.liveControl!.updatedAt;
    await agent.next('applied', (e) => e.updatedAt === pauseAt && e.paused === true);
    await viewer.next('control', (e) => (e.liveControl as LiveControl).updatedAt === pauseAt && !!(e.liveControl as LiveControl).appliedAt);
    expect((await getRun(h, run.id)).payload.liveControl?.appliedAt).to.be.a('string');

    // The step ends; the agent holds before the next one.
    writeFileSync(gate, '');
    await agent.next('held', (e) => e.step === 1);

    const resumed = await control({ action: 'resume', summary: 'carry on' });
    expect(resumed.status, resumed.text).to.equal(200);
    const resumeAt = resumed.body.taskRun.payload.liveControl!.updatedAt;
    await agent.next('applied', (e) => e.updatedAt === resumeAt && e.paused === false);
    // Everything the hub sent the agent before the resume has been handled (one socket, in
    // order): the hub's echo of the applied pause did not make the agent acknowledge it again.
    expect(agent.count('applied', (e) => e.updatedAt === pauseAt)).to.equal(1);

    const completed = await agent.next('completed', (e) => e.runId === run.id);
    expect(completed['status']).to.equal('succeeded');
    const done = await viewer.next('done');
    const output = completed['output'] as string;
    expect(output).to.equal('line-one\r\nstep-one-done\r\nafter-pause\r\n');
    // snapshot + live output: every byte the agent printed, once and in order
    expect((done['text'] as Record<string, string>)['task']).to.equal(output);
    expect((done['offsets'] as Record<string, number>)['task']).to.equal(Buffer.byteLength(output));
    expect(await viewer.exited).to.equal(0);

    // A viewer joining the finished run: its final status, the ended session, no snapshot.
    const late = python('viewer.py', [h.url, run.id], { HANDOFF_TOKEN: h.token('viewer', 'py-late') });
    const after = await late.next('joined');
    expect(after).to.include({ runStatus: 'succeeded', sessionStatus: 'ended', canWrite: false });
    expect(after['panes']).to.deep.equal([]);
    expect(await late.exited).to.equal(0);

    const final = await waitForRunStatus(h, run.id, ['succeeded']);
    expect(final.liveSession?.status).to.equal('ended');
    const events = (await h.api<{ events: ControlEventDto[] }>('GET', `/api/task-runs/${run.id}/events`, h.token('viewer'))).body.events.map((e) => e.action);
    expect(events).to.include.members(['run_claimed', 'session_starting', 'session_ready', 'pause', 'resume', 'run_completed', 'session_ended']);
    expect(events.filter((e) => e === 'step_started' || e === 'step_finished')).to.deep.equal(['step_started', 'step_finished', 'step_started', 'step_finished']);
    // the hub recorded the run from the output it relayed: the same bytes, with a marker per step
    const cast = await h.api('GET', `/api/task-runs/${run.id}/recording`, h.token('viewer'));
    expect(cast.status, cast.text).to.equal(200);
    const lines = cast.text.trim().split('\n').slice(1).map((l) => JSON.parse(l) as [number, string, string]);
    expect(lines.filter((e) => e[1] === 'o').map((e) => e[2]).join('')).to.equal(output);
    expect(lines.filter((e) => e[1] === 'm').length).to.equal(4);
    // the resume summary reached the inbox (written before the resume was acknowledged), in the page's record format
    const inbox = readFileSync(join(h.dataDir, 'runs', run.id, 'operator_inbox.jsonl'), 'utf8');
    expect(JSON.parse(inbox.trim())).to.include({ type: 'resume_summary', message: 'carry on' });
  });
});
