/**
 * Several hubs, one deployment (issue #7): two real hub processes on one PostgreSQL database
 * and the machine's Redis. The agent sits on hub A, viewers on hub B (and A): the stream, late
 * join, RW input, controls and messages cross hubs; the sweeper lock moves when its hub dies.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import type { ControlEventDto, GrantWriteResult, TaskRunDto } from '../../common/api.ts';
import { TASK_PANE } from '../../common/protocol.ts';
import { startAgent } from '../../agent/agent.ts';
import type { RunningAgent } from '../../agent/agent.ts';
import { loadAgentConfig } from '../../agent/agentConfig.ts';
import { TokenService } from '../../hub/auth/tokens.ts';
import type { HubProcess } from '../support/testHub.ts';
import { startTestHub } from '../support/testHub.ts';
import { waitUntil } from '../support/wait.ts';
import { createTestDatabase } from '../support/testDatabase.ts';
import type { TestDatabase } from '../support/testDatabase.ts';
import { TEST_JWT_SECRET } from '../support/testHub.ts';
import { TestViewer } from '../support/viewerClient.ts';

const REDIS_URL = process.env.HANDOFF_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

/** A gauge or counter from the hub's /metrics (null when absent). */
async function metric(hub: HubProcess, name: string): Promise<number | null> {
  const text = await (await fetch(`${hub.url}/metrics`)).text();
  const m = new RegExp(`^${name}(?:\\{[^}]*\\})? ([0-9.e+-]+)$`, 'm').exec(text);
  return m?.[1] !== undefined ? Number(m[1]) : null;
}

describe('scale-out: two hubs on one PostgreSQL and Redis', function () {
  this.timeout(90_000);
  const tokens = new TokenService(TEST_JWT_SECRET);
  const operator = tokens.mintOperator('op-carol', 'operator');
  let db: TestDatabase;
  let hubA: HubProcess;
  let hubB: HubProcess;
  let agent: RunningAgent;
  let agentDir: string;
  const viewers: TestViewer[] = [];

  const api = async <T>(hub: HubProcess, method: string, path: string, body?: unknown) => {
    const res = await fetch(`${hub.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${operator}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
    const text = await res.text();
    return { status: res.status, body: (text ? JSON.parse(text) : undefined) as T };
  };
  const createRun = async (hub: HubProcess, steps: string[]) => {
    const res = await api<{ taskRun: TaskRunDto }>(hub, 'POST', '/api/task-runs', { steps });
    expect(res.status).to.equal(201);
    return res.body.taskRun;
  };
  const waitRun = (hub: HubProcess, id: string, pred: (r: TaskRunDto) => boolean, what: string) =>
    waitUntil(what, async () => {
      const r = (await api<{ taskRun: TaskRunDto }>(hub, 'GET', `/api/task-runs/${id}`)).body.taskRun;
      return pred(r) ? r : undefined;
    }, 30_000, 100);
  const viewer = async (hub: HubProcess, grant?: string) => {
    const v = await TestViewer.connect(hub.url, operator, grant ? { grant } : {});
    viewers.push(v);
    return v;
  };

  before(async () => {
    db = await createTestDatabase();
    const env = { HANDOFF_REDIS_URL: REDIS_URL, HANDOFF_REDIS_CHANNEL_PREFIX: `handoff-test-${randomBytes(4).toString('hex')}`, HANDOFF_SWEEP_INTERVAL_MS: '200' };
    // Both start at once: the migration lock lets exactly one of them migrate.
    [hubA, hubB] = await Promise.all([startTestHub('postgres', { process: true, databaseUrl: db.url, env }), startTestHub('postgres', { process: true, databaseUrl: db.url, env })]);
    agentDir = mkdtempSync(join(tmpdir(), 'handoff-scale-agent-'));
    agent = startAgent(
      loadAgentConfig({ HANDOFF_HUB_URL: hubA.url, HANDOFF_WORKER_TOKEN: tokens.mintWorker('w-a'), HANDOFF_DATA_DIR: agentDir, HANDOFF_HEARTBEAT_SECONDS: '1', HANDOFF_LIVE_SESSION_MAX_CONCURRENT_PER_WORKER: '4' }),
      () => undefined,
    );
    await waitUntil('agent connected to hub A', () => (agent.link.isReady ? true : undefined), 10_000);
  });
  afterEach(() => {
    for (const v of viewers.splice(0)) v.close();
  });
  after(async () => {
    await agent?.close({ cancelRuns: true });
    await Promise.allSettled([hubA?.stop('SIGKILL'), hubB?.stop('SIGKILL')]);
    await Promise.all([hubA?.close(), hubB?.close()]);
    await db?.drop();
    if (agentDir) rmSync(agentDir, { recursive: true, force: true });
  });

  it('streams a run from the agent on hub A to a viewer on hub B, in order, and late join works across hubs', async () => {
    const run = await createRun(hubB, ['sleep 1; for i in $(seq 1 3000); do echo "line $i"; done; sleep 2']);
    await waitRun(hubB, run.id, (r) => r.liveSession?.status === 'ready', 'session ready');
    const early = await viewer(hubB);
    await early.join(run.id);
    await early.waitForOutput(TASK_PANE, (b) => b.toString().includes('line 3000'), 20_000);
    const late = await viewer(hubB);
    await late.join(run.id);
    await early.waitForQuiet(300);
    await late.waitForQuiet(300);
    const live = early.pane(TASK_PANE).liveOutput().toString();
    const expected = Array.from({ length: 3000 }, (_, i) => `line ${i + 1}\r\n`).join('');
    expect(live).to.equal(expected);
    expect(early.pane(TASK_PANE).gaps).to.equal(0);
    expect(await late.pane(TASK_PANE).serialize()).to.equal(await early.pane(TASK_PANE).serialize());
    await waitRun(hubA, run.id, (r) => r.status === 'succeeded', 'run succeeded');
  });

  it('RW input from hub B reaches the agent on hub A; revoke-write on A downgrades the viewer on B', async () => {
    const run = await createRun(hubA, ['read line; echo "got:[$line]"', 'read -t 5 again; echo "again:[$again]"']);
    await waitRun(hubA, run.id, (r) => r.liveSession?.status === 'ready', 'session ready');
    const grant = await api<GrantWriteResult>(hubB, 'POST', `/api/task-runs/${run.id}/live-session/grant-write`, { ttlMinutes: 5 });
    expect(grant.status).to.equal(200);
    const v = await viewer(hubB, grant.body.grantToken);
    expect((await v.join(run.id)).canWrite).to.equal(true);
    v.sendInput(TASK_PANE, 'fix\r');
    await v.waitForOutput(TASK_PANE, (b) => b.toString().includes('got:[fix]'), 10_000);
    expect((await api(hubA, 'POST', `/api/task-runs/${run.id}/live-session/revoke-write`, {})).status).to.equal(200);
    await waitUntil('downgrade on hub B', () => v.rwChanges.find((c) => !c.canWrite), 5000);
    v.sendInput(TASK_PANE, 'nope\r');
    await v.waitForOutput(TASK_PANE, (b) => b.toString().includes('again:['), 15_000);
    expect(v.pane(TASK_PANE).liveOutput().toString()).to.include('again:[]');
  });

  it('controls and messages sent to hub B reach the agent on hub A and viewers on both hubs', async () => {
    const run = await createRun(hubA, ['sleep 1', 'echo second-step', 'sleep 1']);
    await waitRun(hubA, run.id, (r) => r.liveSession?.status === 'ready', 'session ready');
    const onA = await viewer(hubA);
    const onB = await viewer(hubB);
    await onA.join(run.id);
    await onB.join(run.id);
    expect((await api(hubB, 'POST', `/api/task-runs/${run.id}/control`, { action: 'pause' })).status).to.equal(200);
    const applied = await waitRun(hubB, run.id, (r) => Boolean(r.payload.liveControl?.paused && r.payload.liveControl.appliedAt), 'pause applied by the agent');
    expect(applied.status).to.equal('running');
    expect((await api(hubB, 'POST', `/api/task-runs/${run.id}/operator-messages`, { message: 'hello from hub B' })).status).to.equal(201);
    for (const v of [onA, onB]) {
      await waitUntil('message', () => v.events.find((e) => e.name === 'run:message'), 5000);
      await waitUntil('control', () => v.events.find((e) => e.name === 'run:control'), 5000);
    }
    await waitUntil('inbox', () => {
      try {
        return readFileSync(join(agentDir, 'runs', run.id, 'operator_inbox.jsonl'), 'utf8').includes('hello from hub B') ? true : undefined;
      } catch {
        return undefined;
      }
    }, 5000);
    expect(onB.pane(TASK_PANE).liveOutput().toString()).to.not.include('second-step');
    expect((await api(hubB, 'POST', `/api/task-runs/${run.id}/control`, { action: 'resume' })).status).to.equal(200);
    await waitRun(hubA, run.id, (r) => r.status === 'succeeded', 'run succeeded');
    const events = (await api<{ events: ControlEventDto[] }>(hubA, 'GET', `/api/task-runs/${run.id}/events`)).body.events.map((e) => e.action);
    expect(events).to.include.members(['pause', 'send_message', 'resume', 'session_ended']);
  });

  it('a hub stopped with SIGTERM closes its sockets so clients reconnect elsewhere, and exits in time', async () => {
    const hubC = await startTestHub('postgres', { process: true, databaseUrl: db.url, env: { HANDOFF_REDIS_URL: REDIS_URL, HANDOFF_SHUTDOWN_TIMEOUT_MS: '5000' } });
    const v = await TestViewer.connect(hubC.url, operator);
    viewers.push(v);
    const reason = new Promise<string>((resolve) => v.socket.once('disconnect', (r) => resolve(r)));
    const started = Date.now();
    await hubC.stop('SIGTERM', 10_000);
    await hubC.close();
    expect((await hubC.exited).code).to.equal(0);
    expect(Date.now() - started).to.be.below(5000);
    // a transport close (not a server-side "go away") makes Socket.IO clients reconnect by themselves
    expect(await reason).to.equal('transport close');
  });

  it('exactly one hub runs the sweepers, and the lock moves when that hub is killed', async () => {
    const leaders = async () => Promise.all([metric(hubA, 'handoff_sweeper_leader'), metric(hubB, 'handoff_sweeper_leader')]);
    const [a, b] = await waitUntil('a leader', async () => {
      const l = await leaders();
      return l[0] === 1 || l[1] === 1 ? l : undefined;
    }, 10_000);
    expect((a ?? 0) + (b ?? 0)).to.equal(1);
    const [dead, alive] = a === 1 ? [hubA, hubB] : [hubB, hubA];
    await dead.stop('SIGKILL');
    await waitUntil('the other hub takes the lock', async () => ((await metric(alive, 'handoff_sweeper_leader')) === 1 ? true : undefined), 15_000, 200);
  });
});
