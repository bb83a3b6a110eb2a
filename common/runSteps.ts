/**
 * A run's steps from its audit events (step_started / step_finished, run_claimed), folded in id
 * order. Pure: the hub serves it (GET …/steps) and the dashboard folds live `run:event`s with it.
 * Steps run in order, so a step that starts clears what later steps held (a requeued run's new
 * attempt begins at step 0 again); a new claim clears them all.
 */
import type { ControlEventDto, RunStepDto } from './api.ts';

export function emptySteps(commands: readonly string[]): RunStepDto[] {
  return commands.map((command, index) => ({ index, command, startedAt: null, finishedAt: null, exitCode: null }));
}

/** Applies one audit event; true when it changed a step. */
export function foldStepEvent(steps: RunStepDto[], e: ControlEventDto): boolean {
  if (e.action === 'run_claimed') return steps.map(reset).some(Boolean);
  if (e.action !== 'step_started' && e.action !== 'step_finished') return false;
  const index = e.metadata['index'];
  const step = typeof index === 'number' ? steps[index] : undefined;
  if (!step) return false;
  if (e.action === 'step_started') {
    Object.assign(step, { startedAt: e.createdAt, finishedAt: null, exitCode: null });
    steps.slice(step.index + 1).forEach(reset);
  } else {
    const code = e.metadata['exitCode'];
    Object.assign(step, { finishedAt: e.createdAt, exitCode: typeof code === 'number' ? code : null });
  }
  return true;
}

/** Back to not begun; true if it had begun. */
function reset(step: RunStepDto): boolean {
  const had = step.startedAt !== null;
  Object.assign(step, { startedAt: null, finishedAt: null, exitCode: null });
  return had;
}

export function stepsOf(commands: readonly string[], events: readonly ControlEventDto[]): RunStepDto[] {
  const steps = emptySteps(commands);
  for (const e of [...events].sort((a, b) => a.id - b.id)) foldStepEvent(steps, e);
  return steps;
}
