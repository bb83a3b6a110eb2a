/**
 * Faults (issue #8): the network between agent and hub is cut for longer than the agent's
 * backlog. The agent (a real process, HANDOFF_AGENT_BACKLOG_BYTES = 64 KiB) reaches the hub
 * through a TCP proxy that the test cuts (connections reset, new ones refused) while the step
 * prints ~400 KB. The agent keeps the run going and drops what it must; when the link is back
 * it says hello, sends what it kept, and a viewer joined before the cut sees a gap, resyncs
 * from a snapshot and ends with the pty's screen (the agent's own recording): every line in
 * order, nothing garbled.
 */
import { expect } from 'chai';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { TASK_PANE } from '../../common/protocol.ts';
import { assertLifecycleIntegrity } from '../support/integrity.ts';
import type { AgentProcess } from '../support/processes.ts';
import { createRunAt, operatorToken, removeDir, sleep, spawnAgent, TcpProxy, waitRunAt, waitSessionAt } from '../support/processes.ts';
import type { HubProcess } from '../support/testHub.ts';
import { startTestHub } from '../support/testHub.ts';
import { screenLinesOfCast, trimTrailingEmpty } from '../support/screens.ts';
import { waitUntil } from '../support/wait.ts';
import type { TestDatabase } from '../support/testDatabase.ts';
import { createTestDatabase } from '../support/testDatabase.ts';
import { TestViewer } from '../support/viewerClient.ts';

const BACKLOG = 64 * 1024;
const BURST_LINES = 5000; // ~80 bytes each: ~400 KB, six times the backlog

describe('faults: agent cut off from the hub for longer than its backlog', function () {
  this.timeout(90_000);
  let db: TestDatabase;
  let hub: HubProcess | null = null;
  let proxy: TcpProxy | null = null;
  let agent: AgentProcess | null = null;
  const viewers: TestViewer[] = [];
  const tag = randomBytes(6).toString('hex');
  const gateBurst = `/tmp/handoff-fault-burst-${tag}`;
  const burstDone = `/tmp/handoff-fault-burstdone-${tag}`;
  const gateEnd = `/tmp/handoff-fault-end-${tag}`;

  before(async function () {
    this.timeout(40_000);
    db = await createTestDatabase();
    // grace well above the cut: the hub must not take the cut-off agent for lost
    hub = await startTestHub('postgres', { process: true, databaseUrl: db.url, env: { HANDOFF_HEARTBEAT_SECONDS: '1', HANDOFF_HEARTBEAT_GRACE_SECONDS: '20', HANDOFF_SWEEP_INTERVAL_MS: '200' } });
    proxy = await TcpProxy.start(hub.port);
    agent = spawnAgent({ hubUrl: `http://127.0.0.1:${proxy.port}`, workerId: 'w-cut', env: { HANDOFF_AGENT_BACKLOG_BYTES: String(BACKLOG) } });
  });

  after(async function () {
    this.timeout(30_000);
    for (const v of viewers) v.close();
    await proxy?.restore().catch(() => undefined);
    await agent?.stop('SIGTERM');
    await hub?.close();
    await proxy?.close();
    removeDir(agent?.dataDir);
    for (const f of [gateBurst, burstDone, gateEnd]) removeDir(f);
    await db?.drop();
  });

  const waitFile = (f: string) => `w=0; while [ ! -e ${f} ] && [ $w -lt 1200 ]; do sleep 0.05; w=$((w+1)); done`;

  it('keeps the run going, drops what it must, and the viewer resyncs to the pty’s screen', async () => {
    const h = hub!;
    const pad = 'x'.repeat(64);
    const step =
      `for i in $(seq 1 20); do echo "before $i"; done; ${waitFile(gateBurst)}; ` +
      `for i in $(seq 1 ${BURST_LINES}); do echo "burst $i ${pad}"; done; touch ${burstDone}; ${waitFile(gateEnd)}; ` +
      `for i in $(seq 1 20); do echo "after $i"; done`;
    const run = await createRunAt(h.url, [step]);
    await waitRunAt(h.url, run.id, ['running'], 30_000);
    await waitSessionAt(h.url, run.id, ['ready']);
    const viewer = await TestViewer.connect(h.url, operatorToken('viewer'));
    viewers.push(viewer);
    await viewer.join(run.id);
    await waitUntil('"before 20" on the viewer’s screen', async () => ((await viewer.panes.get(TASK_PANE)?.screenLines())?.includes('before 20') ? true : undefined), 10_000, 50);
    const pane = viewer.panes.get(TASK_PANE)!;
    const offsetBeforeCut = pane.offset ?? 0;

    // --- cut, then the burst
    await proxy!.cut();
    writeFileSync(gateBurst, '');
    await waitUntil('the burst to be printed', () => (existsSync(burstDone) ? true : undefined), 30_000, 50);
    await sleep(300); // negative wait: the burst, printed and read by the agent, must not reach the viewer while cut off
    expect(pane.offset, 'nothing reached the viewer while the agent was cut off').to.equal(offsetBeforeCut);
    const run1 = await waitRunAt(h.url, run.id, ['running'], 1000);
    expect(run1.status, 'the run is not failed while its agent is cut off').to.equal('running');

    // --- the link is back
    await proxy!.restore();
    await waitUntil(
      'the viewer to show the end of the burst',
      async () => ((await pane.screenLines()).includes(`burst ${BURST_LINES} ${pad}`) ? true : undefined),
      20_000,
      100,
    );
    expect(pane.gaps, `the viewer saw a gap and resynced (${viewer.describe(TASK_PANE)})`).to.be.greaterThan(0);
    expect(pane.snapshots.length, 'a resync snapshot after the join’s').to.be.greaterThan(1);

    writeFileSync(gateEnd, '');
    const done = await waitRunAt(h.url, run.id, ['succeeded', 'failed', 'cancelled'], 30_000);
    expect(done.status).to.equal('succeeded');
    await viewer.waitForEnded(10_000);

    const castPath = join(agent!.dataDir, 'runs', run.id, 'recording.cast');
    await waitUntil('the recording', () => (existsSync(castPath) ? true : undefined), 5000);
    const pty = trimTrailingEmpty(await screenLinesOfCast(readFileSync(castPath, 'utf8')));
    const seen = trimTrailingEmpty(await pane.screenLines());
    const expected = [
      ...Array.from({ length: 20 }, (_, i) => `before ${i + 1}`),
      ...Array.from({ length: BURST_LINES }, (_, i) => `burst ${i + 1} ${pad}`),
      ...Array.from({ length: 20 }, (_, i) => `after ${i + 1}`),
    ];
    expect(pty, 'the recording holds every line').to.deep.equal(expected);
    expect(seen.length, 'viewer lines').to.equal(expected.length);
    const wrong = seen.map((l, i) => [i, l, expected[i]] as const).filter(([, l, e]) => l !== e);
    expect(wrong.slice(0, 5), `${wrong.length} lines differ from the pty's`).to.deep.equal([]);
    await assertLifecycleIntegrity(db.url, { liveWorkers: ['w-cut'] });
  });
});
