/**
 * Abuse (issue #8): one viewer floods the hub — input frames, joins, resyncs — while another
 * viewer watches the same run. The flooder is rate-limited (it gets `notice` rate_limited and
 * its excess is dropped), the other viewer's output keeps flowing (no long stall, it keeps up
 * with the pty), and the hub stays up.
 */
import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import type { Socket } from 'socket.io-client';
import { TASK_PANE, VIEWER_NAMESPACE } from '../../common/protocol.ts';
import { assertLifecycleIntegrity } from '../support/integrity.ts';
import type { AgentProcess } from '../support/processes.ts';
import { connectSocket, createRunAt, operatorToken, removeDir, rest, sleep, spawnAgent, waitRunAt, waitSessionAt } from '../support/processes.ts';
import type { HubProcess } from '../support/testHub.ts';
import { startTestHub } from '../support/testHub.ts';
import { waitUntil } from '../support/wait.ts';
import type { TestDatabase } from '../support/testDatabase.ts';
import { createTestDatabase } from '../support/testDatabase.ts';
import { TestViewer } from '../support/viewerClient.ts';

const FLOOD_MS = 4000;

describe('abuse: a flooding viewer does not hurt the others', function () {
  this.timeout(90_000);
  let db: TestDatabase;
  let hub: HubProcess;
  let agent: AgentProcess;
  const viewers: TestViewer[] = [];
  const sockets: Socket[] = [];
  const gate = `/tmp/handoff-flood-gate-${randomBytes(6).toString('hex')}`;

  before(async function () {
    this.timeout(40_000);
    db = await createTestDatabase();
    hub = await startTestHub('postgres', { process: true, databaseUrl: db.url });
    agent = spawnAgent({ hubUrl: hub.url, workerId: 'w-flood' });
  });

  after(async function () {
    this.timeout(30_000);
    for (const v of viewers) v.close();
    for (const s of sockets) s.close();
    writeFileSync(gate, '');
    await agent?.stop('SIGTERM', 10_000);
    await hub?.close();
    removeDir(agent?.dataDir);
    removeDir(gate);
    await db?.drop();
  });

  it('rate-limits the flooder; the other viewer’s output keeps flowing', async () => {
    // a tick every 20 ms, with some scrollback so every snapshot costs the agent real work
    const step = `seq 1 3000 | sed 's/^/history /'; i=0; while [ ! -e ${gate} ] && [ $i -lt 3000 ]; do i=$((i+1)); echo "tick $i"; sleep 0.02; done`;
    const run = await createRunAt(hub.url, [step]);
    await waitRunAt(hub.url, run.id, ['running'], 30_000);
    await waitSessionAt(hub.url, run.id, ['ready']);

    const victim = await TestViewer.connect(hub.url, operatorToken('viewer'));
    viewers.push(victim);
    await victim.join(run.id);
    await victim.waitForOutput(TASK_PANE, (b) => /tick \d+/.test(b.toString()), 15_000, 'ticks');
    const vpane = victim.panes.get(TASK_PANE)!;
    const arrivals: number[] = [];
    victim.socket.on('pane:output', () => arrivals.push(Date.now()));

    // the flooder: a raw socket that joins, then floods input, joins and resyncs
    const flooder = await connectSocket(hub.url, VIEWER_NAMESPACE, { token: operatorToken('operator') });
    sockets.push(flooder);
    const notices: Array<{ code: string }> = [];
    flooder.on('notice', (_runId: string, code: string) => notices.push({ code }));
    const first = (await flooder.timeout(10_000).emitWithAck('run:join', run.id)) as { ok: boolean };
    expect(first.ok).to.equal(true);

    const floodStart = Date.now();
    const lastTickAt = (b: string) => Number([...b.matchAll(/tick (\d+)/g)].pop()?.[1] ?? 0);
    const tickAtStart = lastTickAt(vpane.liveOutput().toString());
    let inputs = 0;
    let joins = 0;
    let joinRefusals = 0;
    const refusalCodes = new Set<string>();
    let resyncs = 0;
    const frame = Buffer.from('x');
    let resyncRefusals = 0;
    const pendingAcks: Array<Promise<void>> = [];
    type Answer = { ok: boolean; error?: { code: string } };
    /** Every join and resync is answered, served or refused: one left without an answer fails the test. */
    const answered = (what: string, ack: Promise<Answer>, refused: () => void) =>
      ack.then(
        (a) => {
          if (a.ok) return;
          refused();
          refusalCodes.add(`${what}: ${a.error?.code ?? '?'}`);
        },
        (err: unknown) => {
          throw new Error(`the hub left a ${what} of the flood unanswered: ${(err as Error).message}`);
        },
      );
    while (Date.now() - floodStart < FLOOD_MS) {
      for (let k = 0; k < 500; k++) {
        flooder.emit('pane:input', run.id, TASK_PANE, frame);
        inputs++;
      }
      for (let k = 0; k < 25; k++) {
        joins++;
        pendingAcks.push(answered('run:join', flooder.timeout(15_000).emitWithAck('run:join', run.id) as Promise<Answer>, () => joinRefusals++));
        resyncs++;
        pendingAcks.push(answered('pane:resync', flooder.timeout(15_000).emitWithAck('pane:resync', run.id, TASK_PANE) as Promise<Answer>, () => resyncRefusals++));
      }
      await sleep(20); // pacing: the flood comes in bursts of 500 inputs and 50 requests every 20 ms
    }
    // the flood is over when the hub has answered all of it (a backlog of work hurts as much)
    await Promise.all(pendingAcks);
    const floodEnd = Date.now();
    const tickNow = lastTickAt(vpane.liveOutput().toString());

    // stalls seen by the victim during the flood
    const during = arrivals.filter((t) => t >= floodStart && t <= floodEnd);
    let worstGap = during.length ? during[0]! - floodStart : FLOOD_MS;
    for (let k = 1; k < during.length; k++) worstGap = Math.max(worstGap, during[k]! - during[k - 1]!);
    worstGap = Math.max(worstGap, floodEnd - (during[during.length - 1] ?? floodStart));
    const ticksDuring = tickNow - tickAtStart;
    process.stdout.write(
      `      flood ${FLOOD_MS} ms, answered after ${floodEnd - floodStart} ms: ${inputs} input frames, ${joins} joins (${joinRefusals} refused), ${resyncs} resyncs (${resyncRefusals} refused); ` +
        `victim got ${during.length} chunks, ${ticksDuring} ticks, worst stall ${worstGap} ms; flooder notices: ${[...new Set(notices.map((n) => n.code))].join(', ')}\n`,
    );
    expect(notices.map((n) => n.code), 'the flooder is told it is rate-limited').to.include('rate_limited');
    expect(joinRefusals, 'excess joins are refused').to.be.greaterThan(joins / 2);
    expect(resyncRefusals, 'excess resyncs are refused').to.be.greaterThan(resyncs / 2);
    expect([...refusalCodes].sort(), 'refused as rate_limited').to.deep.equal(['pane:resync: rate_limited', 'run:join: rate_limited']);
    // a newcomer is not punished for the flooder's sins
    const late = await TestViewer.connect(hub.url, operatorToken('viewer'));
    viewers.push(late);
    expect((await late.join(run.id)).panes.length, 'a late joiner gets its snapshot').to.be.greaterThan(0);
    expect(worstGap, 'longest stall of the other viewer during the flood').to.be.lessThan(1500);
    // ~50 ticks a second from the pty; a loaded machine may halve that, a starved viewer gets far less
    expect(ticksDuring, 'ticks that reached the other viewer during the flood').to.be.greaterThan(((floodEnd - floodStart) / 20) * 0.3);
    expect(hub.alive()).to.equal(true);
    expect((await rest(hub.url, 'GET', '/healthz', null)).status).to.equal(200);

    writeFileSync(gate, '');
    await waitRunAt(hub.url, run.id, ['succeeded'], 30_000);
    await waitUntil('the victim to see the end', () => (victim.ended.length ? true : undefined), 10_000);
    await assertLifecycleIntegrity(db.url, { liveWorkers: ['w-flood'] });
  });
});
