/**
 * The sweepers (architecture §10) with short TTLs: session TTL → revoked (ttl_expired); RW grant past
 * rwGrantedUntil → rw_expired; no heartbeat past the grace → session error (worker_lost) and the
 * run failed, or queued again with HANDOFF_WORKER_LOST_POLICY=requeue.
 */
import { expect } from 'chai';
import type { GrantWriteResult, LiveSessionDto, TaskRunDto } from '../../common/api.ts';
import type { TestHub } from '../support/testHub.ts';
import { STORES, startTestHub } from '../support/testHub.ts';
import { eventsAt, getRunAt } from '../support/rest.ts';
import { sleep, waitFor } from '../support/wait.ts';

for (const store of STORES) {
  describe(`sweepers (${store})`, function () {
    this.timeout(60_000);
    /** Slow heartbeats (TTL and RW expiry only). */
    let ttlHub: TestHub;
    /** 1 s heartbeat, 1 s grace, lost runs fail. */
    let failHub: TestHub;
    /** 1 s heartbeat, 1 s grace, lost runs go back to the queue. */
    let requeueHub: TestHub;

    before(async () => {
      const fast = { HANDOFF_HEARTBEAT_SECONDS: '1', HANDOFF_HEARTBEAT_GRACE_SECONDS: '1' };
      const started = await Promise.allSettled([
        startTestHub(store, { env: { HANDOFF_HEARTBEAT_GRACE_SECONDS: '3600' } }),
        startTestHub(store, { env: { ...fast, HANDOFF_WORKER_LOST_POLICY: 'fail' } }),
        startTestHub(store, { env: { ...fast, HANDOFF_WORKER_LOST_POLICY: 'requeue' } }),
      ]);
      const hubs = started.map((s) => (s.status === 'fulfilled' ? s.value : null));
      [ttlHub, failHub, requeueHub] = hubs as [TestHub, TestHub, TestHub];
      const failed = started.find((s) => s.status === 'rejected');
      if (failed) {
        await Promise.all(hubs.map((x) => x?.close()));
        throw (failed as PromiseRejectedResult).reason;
      }
    });
    after(async () => {
      await Promise.all([ttlHub?.close(), failHub?.close(), requeueHub?.close()]);
    });

    async function claimReady(h: TestHub, workerId: string, extra: Record<string, unknown> = {}): Promise<TaskRunDto> {
      const created = await h.api<{ taskRun: TaskRunDto }>('POST', '/api/task-runs', h.token('operator', 'olga'), { steps: ['sleep 600'] });
      expect(created.status).to.equal(201);
      const claim = await h.api<{ taskRun: TaskRunDto }>('POST', '/api/task-runs/claim', h.workerToken(workerId), { workerId });
      expect(claim.status).to.equal(200);
      expect(claim.body.taskRun.id).to.equal(created.body.taskRun.id);
      const r = await h.api<{ session: LiveSessionDto }>('POST', `/api/task-runs/${created.body.taskRun.id}/live-session/report`, h.workerToken(workerId), {
        workerId,
        attempt: claim.body.taskRun.attempt,
        status: 'ready',
        attachRo: 'ro',
        attachRw: 'rw',
        ...extra,
      });
      expect(r.status, r.text).to.equal(200);
      return claim.body.taskRun;
    }


    it('a session past its TTL is revoked (ttl_expired); the run carries on headless', async () => {
      const h = ttlHub;
      const expiresAt = new Date(Date.now() + 1000).toISOString();
      const run = await claimReady(h, 'w-ttl', { expiresAt });
      const s0 = (await getRunAt(h.url, run.id)).liveSession as LiveSessionDto;
      expect(s0.status).to.equal('ready');
      expect(s0.expiresAt).to.equal(expiresAt);
      // A grant asked now is capped at the session's expiry.
      const g = await h.api<GrantWriteResult>('POST', `/api/task-runs/${run.id}/live-session/grant-write`, h.token('operator'), { ttlMinutes: 30 });
      expect(g.body.grantedUntil).to.equal(expiresAt);

      const session = await waitFor('the TTL sweep', async () => {
        const s = (await getRunAt(h.url, run.id)).liveSession;
        return s?.status === 'revoked' ? s : null;
      });
      expect(Date.parse(session.endedAt as string)).to.be.at.least(Date.parse(expiresAt));
      expect(session.rwGrantedUntil).to.equal(null);
      expect(session.rwGeneration).to.be.greaterThan(s0.rwGeneration); // every grant died with it

      const evs = await eventsAt(h.url, run.id);
      const revoke = evs.find((e) => e.action === 'revoke_session');
      const ttl = evs.find((e) => e.action === 'ttl_expired');
      expect(revoke, JSON.stringify(evs)).to.not.equal(undefined);
      expect(ttl, JSON.stringify(evs)).to.not.equal(undefined);
      expect(revoke?.actorUserId).to.equal(null);
      expect(ttl?.actorUserId).to.equal(null);
      expect(ttl?.metadata['expiresAt']).to.equal(expiresAt);
      expect(evs.filter((e) => e.action === 'ttl_expired')).to.have.length(1); // swept once
      expect(evs.filter((e) => e.action === 'rw_expired')).to.have.length(0); // the revoke cleared the grant itself

      const after = await getRunAt(h.url, run.id);
      expect(after.status).to.equal('running');
      expect((await h.api('POST', `/api/task-runs/${run.id}/live-session/grant-write`, h.token('operator'), {})).status).to.equal(422);
      // The agent acknowledging the revoke is a harmless repeat; claiming it is ready again is refused.
      const w = h.workerToken('w-ttl');
      expect((await h.api('POST', `/api/task-runs/${run.id}/live-session/report`, w, { workerId: 'w-ttl', attempt: 1, status: 'revoked' })).status).to.equal(200);
      expect((await h.api('POST', `/api/task-runs/${run.id}/live-session/report`, w, { workerId: 'w-ttl', attempt: 1, status: 'ready' })).status).to.equal(422);
      const done = await h.api<{ taskRun: TaskRunDto }>('POST', `/api/task-runs/${run.id}/complete`, w, { workerId: 'w-ttl', attempt: 1, status: 'succeeded', exitCode: 0 });
      expect(done.body.taskRun.status).to.equal('succeeded');
      expect(done.body.taskRun.liveSession?.status).to.equal('revoked');
    });

    it('an RW grant past rwGrantedUntil is expired (rw_expired); the session stays ready', async () => {
      const h = ttlHub;
      const run = await claimReady(h, 'w-rw');
      const g = await h.api<GrantWriteResult>('POST', `/api/task-runs/${run.id}/live-session/grant-write`, h.token('operator', 'olga'), { ttlMinutes: 1 });
      expect(g.status).to.equal(200);
      const until = g.body.grantedUntil;
      // A pass now (what the sweeper's timer runs every 200 ms) leaves a live grant alone.
      const live = await h.hub.sweeper.sweepOnce();
      expect(live, 'this hub runs the sweepers').to.not.equal(null);
      expect(live?.rw).to.equal(0);
      expect((await getRunAt(h.url, run.id)).liveSession?.rwGrantedUntil).to.equal(until);
      expect((await eventsAt(h.url, run.id)).filter((e) => e.action === 'rw_expired')).to.have.length(0);

      // Two minutes later, as far as the sweeper is concerned.
      const result = await h.hub.sweeper.sweepOnce(new Date(Date.now() + 2 * 60_000));
      expect(result, 'this hub runs the sweepers').to.not.equal(null);
      expect(result?.rw).to.be.at.least(1);
      expect(result?.lost).to.equal(0);

      const s = (await getRunAt(h.url, run.id)).liveSession as LiveSessionDto;
      expect(s.status).to.equal('ready');
      expect(s.rwGrantedUntil).to.equal(null);
      const expired = (await eventsAt(h.url, run.id)).filter((e) => e.action === 'rw_expired');
      expect(expired).to.have.length(1);
      expect(expired[0]?.actorUserId).to.equal(null);
      expect(expired[0]?.metadata['until']).to.equal(until);
      // Sweeping again changes nothing more.
      await h.hub.sweeper.sweepOnce(new Date(Date.now() + 3 * 60_000));
      expect((await eventsAt(h.url, run.id)).filter((e) => e.action === 'rw_expired')).to.have.length(1);
      // The sweep is counted in the metrics.
      const metrics = await (await fetch(`${h.url}/metrics`)).text();
      expect(metrics).to.match(/^handoff_sweeper_actions_total\{kind="rw_expired"\} [1-9]/m);
    });

    it('no heartbeat past the grace: session error (worker_lost) and the run failed', async () => {
      const h = failHub;
      const lost = await claimReady(h, 'w-lost');
      const alive = await claimReady(h, 'w-alive');
      const aliveToken = h.workerToken('w-alive');
      let beating = true;
      const beats = (async () => {
        while (beating) {
          const r = await h.api('POST', `/api/task-runs/${alive.id}/live-session/heartbeat`, aliveToken, { workerId: 'w-alive', attempt: alive.attempt });
          expect(r.status).to.equal(200);
          await sleep(250); // pacing: a worker's heartbeat cadence (four a second, well inside the 1 s grace)
        }
      })();
      try {
        const run = await waitFor('the lost worker sweep', async () => {
          const r = await getRunAt(h.url, lost.id);
          return r.status === 'failed' ? r : null;
        });
        expect(run.finishedAt).to.be.a('string');
        expect(run.liveSession?.status).to.equal('error');
        expect(run.liveSession?.errorMessage).to.contain('w-lost').and.to.contain('lost');
        const evs = await eventsAt(h.url, lost.id);
        const wl = evs.filter((e) => e.action === 'worker_lost');
        expect(wl).to.have.length(1);
        expect(wl[0]?.actorUserId).to.equal(null);
        expect(wl[0]?.metadata).to.include({ workerId: 'w-lost', outcome: 'failed' });
        const se = evs.find((e) => e.action === 'session_error');
        expect(se?.metadata).to.include({ reason: 'worker_lost', from: 'ready', to: 'error' });
        // The run that kept heartbeating through the same time is still running, and a whole
        // pass now (past the grace since the claim) does not find it lost either.
        const pass = await h.hub.sweeper.sweepOnce();
        expect(pass, 'this hub runs the sweepers').to.not.equal(null);
        expect(pass?.lost).to.equal(0);
        const a = await getRunAt(h.url, alive.id);
        expect(a.status).to.equal('running');
        expect(a.liveSession?.status).to.equal('ready');
      } finally {
        beating = false;
        await beats;
      }
      // The lost worker coming back late cannot claim success.
      const late = await h.api('POST', `/api/task-runs/${lost.id}/complete`, h.workerToken('w-lost'), { workerId: 'w-lost', attempt: lost.attempt, status: 'succeeded', exitCode: 0 });
      expect(late.status).to.equal(422);
      expect((await getRunAt(h.url, lost.id)).status).to.equal('failed');
    });

    it('with HANDOFF_WORKER_LOST_POLICY=requeue the lost run is queued again and another worker can claim it', async () => {
      const h = requeueHub;
      const lost = await claimReady(h, 'w-gone');
      const run = await waitFor('the requeue', async () => {
        const r = await getRunAt(h.url, lost.id);
        return r.status === 'queued' ? r : null;
      });
      expect(run.workerId).to.equal(null);
      expect(run.startedAt).to.equal(null);
      expect(run.finishedAt).to.equal(null);
      // The lost attempt's session ended in error; the next attempt gets a fresh one.
      expect(run.liveSession?.status).to.equal('disabled');
      const evs = await eventsAt(h.url, lost.id);
      expect(evs.find((e) => e.action === 'session_error')?.metadata).to.include({ reason: 'worker_lost' });
      const creates = evs.filter((e) => e.action === 'create_session');
      expect(creates).to.have.length(2);
      expect(creates[1]?.metadata).to.include({ sessionId: run.liveSession?.id, attempt: 2 });
      expect(evs.find((e) => e.action === 'worker_lost')?.metadata).to.include({ workerId: 'w-gone', outcome: 'requeued' });
      expect(evs.find((e) => e.action === 'run_requeued')?.metadata).to.include({ attempts: 1 });
      // The lost worker's attempt is over (fencing): refused as stale.
      expect(run.attempt, 'the next attempt').to.equal(lost.attempt + 1);
      expect((await h.api('POST', `/api/task-runs/${lost.id}/live-session/heartbeat`, h.workerToken('w-gone'), { workerId: 'w-gone', attempt: lost.attempt })).status).to.equal(409);
      const claim = await h.api<{ taskRun: TaskRunDto }>('POST', '/api/task-runs/claim', h.workerToken('w-next'), { workerId: 'w-next' });
      expect(claim.status).to.equal(200);
      expect(claim.body.taskRun.id).to.equal(lost.id);
      expect(claim.body.taskRun.workerId).to.equal('w-next');
      expect(claim.body.taskRun.attempt).to.equal(lost.attempt + 1);
      // …and can bring the new attempt's live session up.
      const ready = await h.api('POST', `/api/task-runs/${lost.id}/live-session/report`, h.workerToken('w-next'), { workerId: 'w-next', attempt: claim.body.taskRun.attempt, status: 'ready' });
      expect(ready.status).to.equal(200);
    });
  });
}
