/**
 * A run's recording is the hub's when it relayed all of the output, the agent's when it did not
 * (issue 17: the agent uploaded every run's recording at its end, and the hub parsed it only to
 * throw it away when its own was as long). Real hub (PostgreSQL), agent and pty: a live run ends
 * with no upload and a complete recording; a run without a live session is uploaded and served.
 */
import { expect } from 'chai';
import type { TestAgent } from '../support/testAgent.ts';
import { createRun, startTestAgent, waitForRunStatus } from '../support/testAgent.ts';
import type { TestHub } from '../support/testHub.ts';
import { startTestHub } from '../support/testHub.ts';

describe('recordings: the agent uploads only what the hub did not record (postgres)', function () {
  this.timeout(60_000);
  let hub: TestHub;
  let agent: TestAgent;

  before(async () => {
    hub = await startTestHub('postgres');
    agent = startTestAgent(hub);
    await agent.ready();
  });
  after(async () => {
    await agent?.close();
    await hub?.close();
  });

  /** How many recording uploads the hub answered, by status (its /metrics). */
  async function uploads(): Promise<number> {
    const text = await (await fetch(`${hub.url}/metrics`)).text();
    let n = 0;
    for (const m of text.matchAll(/^handoff_http_requests_total\{([^}]*)\} (\d+)/gm)) if ((m[1] as string).includes('method="PUT"') && (m[1] as string).includes('/recording')) n += Number(m[2]);
    return n;
  }

  async function recording(runId: string): Promise<string> {
    const res = await fetch(`${hub.url}/api/task-runs/${runId}/recording`, { headers: { authorization: `Bearer ${hub.token('viewer')}` } });
    expect(res.status).to.equal(200);
    return res.text();
  }

  const lines = 'for i in $(seq 1 2000); do echo "line $i of the run"; done';

  it('a run relayed live throughout is recorded by the hub alone: no upload, every line in the recording', async () => {
    const before = await uploads();
    const run = await createRun(hub, [lines], { liveSession: true });
    await waitForRunStatus(hub, run.id, ['succeeded']);
    const cast = await recording(run.id);
    expect(cast).to.include('line 1 of the run').and.include('line 2000 of the run');
    // the agent's work on the run ends after its upload, if it makes one
    await agent.agent.finished.get(run.id);
    expect(await uploads(), 'uploads of the live run').to.equal(before);
  });

  it('a run without a live session has its recording uploaded by the agent', async () => {
    const before = await uploads();
    const run = await createRun(hub, [lines], { liveSession: false });
    await waitForRunStatus(hub, run.id, ['succeeded']);
    await agent.agent.finished.get(run.id);
    expect(await uploads(), 'uploads of the run that was not live').to.equal(before + 1);
    const cast = await recording(run.id);
    expect(cast).to.include('line 1 of the run').and.include('line 2000 of the run');
  });
});
