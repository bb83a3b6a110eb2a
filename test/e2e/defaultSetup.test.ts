/**
 * The default set-up as a newcomer meets it (issue 13): `handoff dev` with nothing configured
 * but a port, so the embedded store is in the default dot-folder `.data` of its working folder.
 * A run is replayed from the hub (asciicast v2 with a marker per step), its steps are on the
 * timeline, and stopping `handoff dev` ends or hands back its runs with a reason that says so.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import type { DevProcess } from '../support/processes.ts';
import { eventsAt, processesMatching, removeDir, rest, spawnDev } from '../support/processes.ts';
import { waitUntil } from '../support/wait.ts';

interface Run {
  id: string;
  status: string;
}
type CastEvent = [number, string, string];

function parseCast(text: string): { header: Record<string, unknown>; events: CastEvent[] } {
  const [first, ...rest] = text.split('\n').filter((l) => l.trim());
  return { header: JSON.parse(first as string) as Record<string, unknown>, events: rest.map((l) => JSON.parse(l) as CastEvent) };
}

describe('the default set-up: handoff dev on .data', function () {
  this.timeout(120_000);
  const cwd = mkdtempSync(join(tmpdir(), 'handoff-newcomer-'));
  const marker = `newcomer-${process.pid}`;
  let dev: DevProcess | null = null;

  const api = <T>(method: string, path: string, body?: unknown) => rest<T>(dev!.url, method, path, dev!.adminToken, body);
  const createRun = async (steps: string[]) => {
    const res = await api<{ taskRun: Run }>('POST', '/api/task-runs', { steps });
    expect(res.status, res.text).to.equal(201);
    return res.body.taskRun;
  };
  const waitStatus = (id: string, statuses: string[], timeoutMs = 30_000) =>
    waitUntil(`run ${id} to be ${statuses.join('/')}`, async () => {
      const r = await api<{ taskRun: Run }>('GET', `/api/task-runs/${id}`);
      return statuses.includes(r.body.taskRun.status) ? r.body.taskRun : undefined;
    }, timeoutMs);
  const eventsOf = (id: string) => eventsAt(dev!.url, id, dev!.adminToken);

  after(async () => {
    await dev?.stop('SIGKILL');
    for (const pid of await processesMatching(marker)) process.kill(pid, 'SIGKILL');
    removeDir(cwd);
  });

  it('replays a finished run from the hub, with a marker where each step began and ended', async () => {
    dev = await spawnDev(cwd);
    const run = await createRun(['echo "first é😀"', 'printf "second\\n"; exit 0']);
    await waitStatus(run.id, ['succeeded']);

    const res = await fetch(`${dev.url}/api/task-runs/${run.id}/recording`, { headers: { authorization: `Bearer ${dev.adminToken}` } });
    const text = await res.text();
    expect(res.status, text).to.equal(200);
    expect(res.headers.get('content-type')).to.contain('application/x-asciicast');
    const cast = parseCast(text);
    expect(cast.header).to.include({ version: 2, width: 120, height: 40 });
    const output = cast.events.filter((e) => e[1] === 'o').map((e) => e[2]).join('');
    expect(output).to.contain('first é😀');
    expect(output).to.contain('second');
    const markers = cast.events.filter((e) => e[1] === 'm').map((e) => e[2]);
    expect(markers).to.deep.equal(['step 1', 'step 1 exited 0', 'step 2', 'step 2 exited 0']);
    const times = cast.events.map((e) => e[0]);
    expect(times, 'event times never go back').to.deep.equal([...times].sort((a, b) => a - b));
    // 'first' is printed after step 1's start marker and before its end marker
    const at = (pred: (e: CastEvent) => boolean) => cast.events.findIndex(pred);
    expect(at((e) => e[1] === 'o' && e[2].includes('first'))).to.be.within(at((e) => e[2] === 'step 1') + 1, at((e) => e[2] === 'step 1 exited 0') - 1);

    const steps = (await eventsOf(run.id)).filter((e) => e.action.startsWith('step_'));
    expect(steps.map((e) => [e.action, e.metadata['index'], e.metadata['exitCode'] ?? null])).to.deep.equal([
      ['step_started', 0, null],
      ['step_finished', 0, 0],
      ['step_started', 1, null],
      ['step_finished', 1, 0],
    ]);
    expect(steps[0]?.metadata['command']).to.equal('echo "first é😀"');

    // A 404 says not_found.
    const missing = await api<{ error: { code: string } }>('GET', `/api/task-runs/${run.id}/nothing-here`);
    expect(missing.status).to.equal(404);
    expect(missing.body.error.code).to.equal('not_found');
  });

  it('SIGTERM finishes the runs (the default policy); a second SIGTERM cancels them and the timeline says handoff dev was stopped', async () => {
    const run = await createRun([`echo ready; bash -c 'sleep 300; : ${marker}'`]);
    await waitStatus(run.id, ['running']);
    await waitUntil('the step to run', async () => ((await processesMatching(marker)).length ? true : undefined), 15_000);
    dev!.proc.kill('SIGTERM');
    await waitUntil('handoff dev to say it finishes the run', () => (dev!.logs.some((l) => /SIGTERM: finishing 1 run/.test(l)) ? true : undefined), 10_000);
    expect(dev!.alive(), 'still up while its run runs').to.equal(true);
    expect((await waitStatus(run.id, ['running'])).status).to.equal('running');
    dev!.proc.kill('SIGTERM');
    await dev!.exited;
    expect(await processesMatching(marker), 'the cancelled step is gone').to.deep.equal([]);

    dev = await spawnDev(cwd);
    expect((await waitStatus(run.id, ['cancelled'])).status).to.equal('cancelled');
    const completed = (await eventsOf(run.id)).find((e) => e.action === 'run_completed');
    expect(completed?.metadata).to.include({ status: 'cancelled', reason: 'handoff dev stopped (SIGTERM) before the run finished' });
  });

  it('with HANDOFF_AGENT_SHUTDOWN=handback, SIGTERM hands the run back to the queue, saying why', async () => {
    await dev!.stop('SIGTERM');
    dev = await spawnDev(cwd, { HANDOFF_AGENT_SHUTDOWN: 'handback' });
    const run = await createRun([`bash -c 'sleep 300; : ${marker}'`]);
    await waitStatus(run.id, ['running']);
    await waitUntil('the step to run', async () => ((await processesMatching(marker)).length ? true : undefined), 15_000);
    dev.proc.kill('SIGTERM');
    await dev.exited;
    expect(await processesMatching(marker), 'the handed-back step is gone').to.deep.equal([]);

    // Started again: the timeline says why the run went back to the queue.
    dev = await spawnDev(cwd, { HANDOFF_AGENT_SHUTDOWN: 'handback' });
    const events = await waitUntil('the hand-back on the timeline', async () => {
      const ev = await eventsOf(run.id);
      return ev.some((e) => e.action === 'run_requeued') ? ev : undefined;
    });
    expect(events.find((e) => e.action === 'run_requeued')?.metadata['reason']).to.equal('handoff dev stopped (SIGTERM)');
    expect(events.find((e) => e.action === 'session_ended')?.metadata['reason']).to.equal('handoff dev stopped (SIGTERM)');
  });
});
