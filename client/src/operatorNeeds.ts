/**
 * Why a run waits for a person, in one place for the runs list, the run page, its Live Session
 * card, the tab titles and the notifications: its terminal waits for input (the agent's report,
 * payload.attention), it is taken over, or it is paused. A finished run needs nobody.
 */
import type { TaskRunDto } from '../../common/api.ts';
import { TERMINAL_RUN_STATUSES } from '../../common/statuses.ts';
import { h } from './dom.ts';

export type OperatorNeed = 'waiting for input' | 'taken over' | 'paused';

/** What the run needs, most pressing first; empty when it needs nobody. */
export function operatorNeeds(run: TaskRunDto): OperatorNeed[] {
  if (TERMINAL_RUN_STATUSES.includes(run.status)) return [];
  const lc = run.payload.liveControl;
  const needs: OperatorNeed[] = [];
  if (run.payload.attention?.waitingForInput) needs.push('waiting for input');
  if (lc?.takeover) needs.push('taken over');
  else if (lc?.paused) needs.push('paused');
  return needs;
}

export function needsOperator(run: TaskRunDto): boolean {
  return operatorNeeds(run).length > 0;
}

/** Since when the terminal waits for input, if it does. */
export function waitingSince(run: TaskRunDto): string | null {
  return operatorNeeds(run).includes('waiting for input') ? (run.payload.attention?.since ?? null) : null;
}

/** The orange flag of a run that needs an operator ("waiting for input — needs operator"), or null. */
export function needsFlag(run: TaskRunDto, testId = 'needs-operator'): HTMLElement | null {
  const needs = operatorNeeds(run);
  if (!needs.length) return null;
  const since = waitingSince(run);
  return h('span.flag', { 'data-testid': testId, 'data-needs': needs.join(','), title: since ? `the terminal waits for input since ${since}` : 'an operator is needed' }, needs.join(' \u00b7 '), ' \u2014 needs operator');
}
