/** Claims are atomic (architecture §4, §6): many workers claiming at once never get the same run. */
import { expect } from 'chai';
import type { ControlEventDto, TaskRunDto } from '../../common/api.ts';
import type { TestHub } from '../support/testHub.ts';
import { STORES, startTestHub } from '../support/testHub.ts';
import { withContractCheck } from '../support/openApiContract.ts';

const RUNS = 30;
const CLAIMERS = 40;

for (const store of STORES) {
  describe(`REST claims under contention (${store})`, function () {
    this.timeout(120_000);
    let h: TestHub;

    before(async () => {
      // Capacity is not the limit here: each worker may hold up to 50 runs.
      h = await withContractCheck(await startTestHub(store, { env: { HANDOFF_LIVE_SESSION_MAX_CONCURRENT_PER_WORKER: '50' } }));
    });
    after(async () => {
      await h?.close();
    });

    it(`${CLAIMERS} parallel claimers over ${RUNS} runs: every run is claimed exactly once`, async () => {
      const operator = h.token('operator', 'olga');
      const created: string[] = [];
      for (let i = 0; i < RUNS; i++) {
        const r = await h.api<{ taskRun: TaskRunDto }>('POST', '/api/task-runs', operator, { steps: [`echo ${i}`] });
        expect(r.status).to.equal(201);
        created.push(r.body.taskRun.id);
      }

      const claimsBy = new Map<string, string[]>();
      const statuses: number[] = [];
      await Promise.all(
        Array.from({ length: CLAIMERS }, async (_, i) => {
          const workerId = `w-${i}`;
          const token = h.workerToken(workerId);
          const mine: string[] = [];
          claimsBy.set(workerId, mine);
          for (;;) {
            const r = await h.api<{ taskRun: TaskRunDto }>('POST', '/api/task-runs/claim', token, { workerId });
            statuses.push(r.status);
            if (r.status === 204) break;
            expect(r.status, r.text).to.equal(200);
            expect(r.body.taskRun.status).to.equal('running');
            expect(r.body.taskRun.workerId).to.equal(workerId);
            mine.push(r.body.taskRun.id);
          }
        }),
      );

      const all = [...claimsBy.values()].flat();
      expect(all).to.have.length(RUNS);
      expect(new Set(all).size).to.equal(RUNS); // nobody got a run twice
      expect([...all].sort()).to.deep.equal([...created].sort()); // and every run was taken
      expect(statuses.filter((s) => s === 204)).to.have.length(CLAIMERS);

      // The database agrees: every run is running, owned by the one worker that was told it got it.
      const owner = new Map<string, string>();
      for (const [w, ids] of claimsBy) for (const id of ids) owner.set(id, w);
      const viewer = h.token('viewer');
      const list = await h.api<{ taskRuns: TaskRunDto[] }>('GET', '/api/task-runs?limit=500', viewer);
      expect(list.body.taskRuns).to.have.length(RUNS);
      for (const run of list.body.taskRuns) {
        expect(run.status).to.equal('running');
        expect(run.workerId).to.equal(owner.get(run.id));
      }
      // And the audit trail records exactly one claim per run.
      for (const id of created) {
        const ev = await h.api<{ events: ControlEventDto[] }>('GET', `/api/task-runs/${id}/events`, viewer);
        const claims = ev.body.events.filter((e) => e.action === 'run_claimed');
        expect(claims, id).to.have.length(1);
        expect(claims[0]?.metadata['workerId']).to.equal(owner.get(id));
        expect(claims[0]?.actorUserId).to.equal(null);
      }
      // Nothing left to claim.
      expect((await h.api('POST', '/api/task-runs/claim', h.workerToken('late'), { workerId: 'late' })).status).to.equal(204);
    });

    it('a worker at HANDOFF_LIVE_SESSION_MAX_CONCURRENT_PER_WORKER running runs gets 204', async () => {
      const operator = h.token('operator', 'olga');
      const w = 'w-full';
      const token = h.workerToken(w);
      for (let i = 0; i < 51; i++) expect((await h.api('POST', '/api/task-runs', operator, { steps: ['true'] })).status).to.equal(201);
      const got = await Promise.all(Array.from({ length: 55 }, () => h.api('POST', '/api/task-runs/claim', token, { workerId: w })));
      expect(got.filter((r) => r.status === 200)).to.have.length(50);
      expect(got.filter((r) => r.status === 204)).to.have.length(5);
      // One run is still queued; another worker takes it.
      const other = await h.api<{ taskRun: TaskRunDto }>('POST', '/api/task-runs/claim', h.workerToken('w-other'), { workerId: 'w-other' });
      expect(other.status).to.equal(200);
    });
  });
}
