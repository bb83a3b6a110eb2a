/**
 * The run page's steps (issue 15): each with its command, start, duration and exit code, from the
 * step audit the timeline already holds (common/runSteps.ts, the same fold as GET …/steps). Events
 * are kept by id and the list recomputed, so a live event that overtakes the initial load, or a
 * reload after a reconnect, still gives the right list. Once the run's recording is on the page a
 * step is a button: it seeks the replay to where the step began.
 */
import type { ControlEventDto, RunStepDto } from '../../../common/api.ts';
import { stepsOf } from '../../../common/runSteps.ts';
import { append, clear, h } from '../dom.ts';
import { duration, shortClock } from '../format.ts';

const STEP_ACTIONS = new Set(['run_claimed', 'step_started', 'step_finished']);

/** Seeks the recording to where step `index` began; false when the recording has no mark of it. */
export type StepSeek = (index: number) => boolean;

export class StepList {
  readonly el: HTMLElement;
  private readonly list = h('ol.step-list', { 'data-testid': 'steps' });
  private readonly note = h('p.muted.step-note', { 'aria-live': 'polite' });
  private readonly events = new Map<number, ControlEventDto>();
  private seek: StepSeek | null = null;
  private over = false;

  constructor(private readonly commands: readonly string[]) {
    this.el = h('section.panel.steps-panel', { 'data-testid': 'steps-panel' }, h('h2', {}, `Steps (${commands.length})`), this.list, this.note);
    this.render();
  }

  /** Every audit event of the run goes through here; only the step ones matter. */
  add(e: ControlEventDto): void {
    if (!STEP_ACTIONS.has(e.action) || this.events.has(e.id)) return;
    this.events.set(e.id, e);
    this.render();
  }

  /** The live terminal holds marks: steps become buttons that scroll it to where each began. */
  setLiveSeek(seek: StepSeek): void {
    if (this.over) return;
    this.seek = seek;
    this.note.textContent = 'A step scrolls the terminal to where it began.';
    this.render();
  }

  /** The recording is shown (the run is over): steps become buttons that seek it. */
  setSeek(seek: StepSeek): void {
    this.seek = seek;
    this.over = true;
    this.note.textContent = 'A step shows the recording where it began.';
    this.render();
  }

  private render(): void {
    clear(this.list);
    const steps = stepsOf(this.commands, [...this.events.values()]);
    for (const s of steps) append(this.list, this.item(s));
  }

  private item(s: RunStepDto): HTMLElement {
    const running = !!s.startedAt && !s.finishedAt && !this.over;
    const state = s.finishedAt
      ? h(`span.badge.${s.exitCode === 0 ? 'r-succeeded' : 'r-failed'}`, { 'data-testid': 'step-exit' }, `exit ${s.exitCode ?? '?'}`)
      : running
        ? h('span.badge.r-running', { 'data-testid': 'step-exit' }, 'running')
        : h('span.muted', { 'data-testid': 'step-exit' }, s.startedAt ? 'no exit recorded' : 'not run');
    const length = s.startedAt && s.finishedAt ? duration(Date.parse(s.finishedAt) - Date.parse(s.startedAt)) : null;
    const when = s.startedAt
      ? h(
          'span.step-when',
          {},
          h('time', { datetime: s.startedAt, title: s.startedAt, 'data-testid': 'step-start' }, shortClock(s.startedAt)),
          ' \u00b7 ',
          running ? h('span', { 'data-elapsed': s.startedAt, 'data-testid': 'step-duration' }, duration(Date.now() - Date.parse(s.startedAt))) : h('span', { 'data-testid': 'step-duration' }, length ?? '–'),
        )
      : null;
    const command = h('code.step-command', {}, s.command);
    const seekable = this.seek && s.startedAt;
    const head = seekable
      ? h('button.step-seek', { type: 'button', 'data-step': s.index, title: this.over ? `show the recording as step ${s.index + 1} began` : `scroll the terminal to where step ${s.index + 1} began` }, h('span.step-no', {}, `${s.index + 1}`), command)
      : h('div.step-head', {}, h('span.step-no', {}, `${s.index + 1}`), command);
    if (seekable) {
      head.addEventListener('click', () => {
        const found = this.seek?.(s.index) ?? false;
        const where = this.over ? 'Recording' : 'Terminal';
        this.note.textContent = found ? `${where} at the start of step ${s.index + 1}.` : `The ${where.toLowerCase()} has no mark for step ${s.index + 1}${this.over ? '' : ' (its lines left the scrollback, or it ran on a full screen)'}.`;
      });
    }
    return h('li.step', { 'data-index': s.index, 'data-state': s.finishedAt ? (s.exitCode === 0 ? 'ok' : 'failed') : running ? 'running' : 'idle' }, head, h('div.step-meta', {}, state, when));
  }
}
