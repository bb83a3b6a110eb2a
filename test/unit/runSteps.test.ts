/** A run's steps from its audit events (common/runSteps.ts): what the run page and GET …/steps show. */
import { expect } from 'chai';
import type { ControlEventDto } from '../../common/api.ts';
import { stepsOf } from '../../common/runSteps.ts';

let nextId = 1;
const ev = (action: string, metadata: Record<string, unknown> = {}, createdAt = `2024-05-01T10:00:0${nextId % 10}.000Z`): ControlEventDto => ({ id: nextId++, taskRunId: 'r', actorUserId: null, action, metadata, createdAt });

describe('run steps from the audit', () => {
  it('gives each step its start, end and exit code; a step not begun has none', () => {
    const claimed = ev('run_claimed');
    const started = ev('step_started', { index: 0 });
    const finished = ev('step_finished', { index: 0, exitCode: 0 });
    const second = ev('step_started', { index: 1 });
    const steps = stepsOf(['make', 'make test', 'make deploy'], [claimed, started, finished, ev('send_message', { message: 'x' }), second]);
    expect(steps).to.deep.equal([
      { index: 0, command: 'make', startedAt: started.createdAt, finishedAt: finished.createdAt, exitCode: 0 },
      { index: 1, command: 'make test', startedAt: second.createdAt, finishedAt: null, exitCode: null },
      { index: 2, command: 'make deploy', startedAt: null, finishedAt: null, exitCode: null },
    ]);
  });

  it('shows the latest attempt of a requeued run, whatever order the events come in', () => {
    const events = [
      ev('run_claimed'),
      ev('step_started', { index: 0 }),
      ev('step_finished', { index: 0, exitCode: 0 }),
      ev('step_started', { index: 1 }),
      ev('worker_lost'),
      ev('run_claimed'),
      ev('step_started', { index: 0 }),
    ];
    const steps = stepsOf(['a', 'b'], [...events].reverse());
    expect(steps[0]).to.include({ startedAt: events[6]!.createdAt, finishedAt: null, exitCode: null });
    expect(steps[1]).to.include({ startedAt: null });
  });

  it('ignores an index the run does not have', () => {
    expect(stepsOf(['a'], [ev('step_started', { index: 5 }), ev('step_finished', { index: 'x' })])).to.deep.equal([{ index: 0, command: 'a', startedAt: null, finishedAt: null, exitCode: null }]);
  });
});
