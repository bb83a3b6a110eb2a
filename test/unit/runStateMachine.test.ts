/** The task run state machine (architecture §3): every allowed and every refused move, and what each writes. */
import { expect } from 'chai';
import type { TaskRunStatus } from '../../common/statuses.ts';
import { DEFAULT_LIVE_CONTROL, TASK_RUN_STATUSES } from '../../common/statuses.ts';
import type { TaskRun } from '../../hub/db/entities.ts';
import { isTerminalRun, moveRun, runTransitionProblem } from '../../hub/domain/runStateMachine.ts';

/** queued → running | cancelled; running → succeeded | failed | cancelled | queued (requeued); terminals never change. */
const ALLOWED: Record<TaskRunStatus, TaskRunStatus[]> = {
  queued: ['running', 'cancelled'],
  running: ['succeeded', 'failed', 'cancelled', 'queued'],
  succeeded: [],
  failed: [],
  cancelled: [],
};

/** The fields the machine reads and writes, as a row has them. */
function row(status: TaskRunStatus): TaskRun {
  return {
    id: 'r1',
    status,
    workerId: status === 'running' ? 'w1' : null,
    startedAt: status === 'queued' ? null : new Date(0),
    lastHeartbeatAt: status === 'running' ? new Date(0) : null,
    finishedAt: null,
    exitCode: null,
    attempts: 0,
    payload: { liveControl: { ...DEFAULT_LIVE_CONTROL, paused: true }, attention: { waitingForInput: true, since: new Date(0).toISOString() } },
  } as unknown as TaskRun;
}

describe('task run state machine', () => {
  it('knows the terminal states', () => {
    expect(TASK_RUN_STATUSES.filter(isTerminalRun)).to.deep.equal(['succeeded', 'failed', 'cancelled']);
  });

  for (const from of TASK_RUN_STATUSES) {
    for (const to of TASK_RUN_STATUSES) {
      const allowed = ALLOWED[from].includes(to);
      it(`${from} → ${to}: ${allowed ? 'allowed' : 'refused with 422, nothing written'}`, () => {
        const r = row(from);
        if (allowed) {
          expect(runTransitionProblem(from, to)).to.equal(null);
          moveRun(r, to);
          expect(r.status).to.equal(to);
        } else {
          expect(runTransitionProblem(from, to)).to.be.a('string');
          expect(() => moveRun(r, to)).to.throw().with.property('status', 422);
          expect(r).to.deep.equal(row(from));
        }
      });
    }
  }

  it('a finished run has an end time and exit code and waits for nobody', () => {
    const r = row('running');
    moveRun(r, 'failed', { exitCode: 3 });
    expect(r.finishedAt).to.be.instanceOf(Date);
    expect(r.exitCode).to.equal(3);
    expect(r.payload.attention).to.equal(undefined);
  });

  it('a requeued run has no worker, a fresh control state and the next attempt', () => {
    const r = row('running');
    moveRun(r, 'queued');
    expect([r.workerId, r.startedAt, r.lastHeartbeatAt, r.attempts]).to.deep.equal([null, null, null, 1]);
    expect(r.payload.liveControl).to.deep.equal(DEFAULT_LIVE_CONTROL);
    expect(r.payload.attention).to.equal(undefined);
  });

  it('says why: already finished, or not running', () => {
    expect(runTransitionProblem('succeeded', 'cancelled')).to.equal('task run is already succeeded');
    expect(runTransitionProblem('queued', 'failed')).to.equal('task run is queued, not running');
  });
});
