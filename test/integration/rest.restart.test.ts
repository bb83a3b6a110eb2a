/**
 * The embedded store keeps its data across a hub restart (architecture §8: the data folder holds the
 * embedded database), and so do the development secrets generated into it.
 */
import { expect } from 'chai';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import type { ControlEventDto, GrantWriteResult, LiveSessionDto, TaskRunDto } from '../../common/api.ts';
import { loadHubConfig } from '../../hub/config.ts';
import type { RunningHub } from '../../hub/hub.ts';
import { startHub } from '../../hub/hub.ts';
import { OpenApiContract } from '../support/openApiContract.ts';
import { STORES } from '../support/testHub.ts';

const describeIf = STORES.includes('embedded') ? describe : describe.skip;

describeIf('hub restart on the embedded store', function () {
  this.timeout(120_000);
  let dataDir: string;
  let hub: RunningHub | null = null;
  let contract: OpenApiContract | undefined;

  before(() => {
    dataDir = mkdtempSync(join(tmpdir(), 'handoff-restart-'));
  });
  after(async () => {
    await hub?.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  async function start(): Promise<RunningHub> {
    // No secrets configured: development generates them once into the data folder.
    const config = loadHubConfig({ NODE_ENV: 'development', HANDOFF_DATA_DIR: dataDir, HANDOFF_PORT: '0', HANDOFF_HOST: '127.0.0.1', HANDOFF_LOG_LEVEL: 'warn' });
    expect(config.databaseUrl).to.equal(undefined);
    const sink = new Writable({ write: (_c, _e, cb) => cb() });
    return startHub(config, { logDestination: sink });
  }

  async function call<T>(method: string, path: string, token: string, body?: unknown): Promise<{ status: number; body: T }> {
    const res = await fetch(`${hub!.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    // every answer is checked against the OpenAPI document the hub serves
    contract ??= await OpenApiContract.fetch(hub!.url);
    contract.check(method, path, { status: res.status, contentType: res.headers.get('content-type'), text });
    return { status: res.status, body: (text ? JSON.parse(text) : undefined) as T };
  }

  it('a run, its session, its RW data and its audit trail survive a restart; old tokens stay valid', async () => {
    hub = await start();
    expect(hub.database.embedded).to.equal(true);
    const operator = hub.ctx.tokens.mintOperator('olga', 'operator');
    const worker = hub.ctx.tokens.mintWorker('w-restart');

    const created = await call<{ taskRun: TaskRunDto }>('POST', '/api/task-runs', operator, { steps: ['echo persisted'] });
    expect(created.status).to.equal(201);
    const runId = created.body.taskRun.id;
    expect((await call('POST', '/api/task-runs/claim', worker, { workerId: 'w-restart' })).status).to.equal(200);
    const ready = await call<{ session: LiveSessionDto }>('POST', `/api/task-runs/${runId}/live-session/report`, worker, {
      workerId: 'w-restart',
      attempt: 1,
      status: 'ready',
      attachRo: 'ro-cmd',
      attachRw: 'rw-cmd-kept-encrypted',
    });
    expect(ready.status).to.equal(200);
    expect((await call('POST', `/api/task-runs/${runId}/operator-messages`, operator, { message: 'before restart' })).status).to.equal(201);
    const before = await call<{ taskRun: TaskRunDto }>('GET', `/api/task-runs/${runId}`, operator);
    const eventsBefore = await call<{ events: ControlEventDto[] }>('GET', `/api/task-runs/${runId}/events`, operator);

    await hub.close();
    hub = null;
    hub = await start();

    const after = await call<{ taskRun: TaskRunDto }>('GET', `/api/task-runs/${runId}`, operator);
    expect(after.status).to.equal(200);
    expect(after.body.taskRun).to.deep.equal(before.body.taskRun);
    expect(after.body.taskRun.status).to.equal('running');
    expect(after.body.taskRun.liveSession?.status).to.equal('ready');
    const eventsAfter = await call<{ events: ControlEventDto[] }>('GET', `/api/task-runs/${runId}/events`, operator);
    expect(eventsAfter.body.events).to.deep.equal(eventsBefore.body.events);
    // The encryption key persisted too: the sealed RW data still opens.
    const grant = await call<GrantWriteResult>('POST', `/api/task-runs/${runId}/live-session/grant-write`, operator, {});
    expect(grant.status).to.equal(200);
    expect(grant.body.attachRw).to.equal('rw-cmd-kept-encrypted');
    // And the worker carries on where it was.
    const done = await call<{ taskRun: TaskRunDto }>('POST', `/api/task-runs/${runId}/complete`, worker, { workerId: 'w-restart', attempt: 1, status: 'succeeded', exitCode: 0 });
    expect(done.body.taskRun.status).to.equal('succeeded');
  });
});
