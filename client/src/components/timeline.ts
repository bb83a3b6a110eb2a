/**
 * The audit timeline of a run: GET …/events, then live `run:event`; every event with its
 * actor, time and metadata. Events are keyed by id, so a reload after a reconnect never
 * shows one twice.
 */
import type { ControlEventDto } from '../../../common/api.ts';
import { api } from '../api.ts';
import { h } from '../dom.ts';
import { clock, errorText } from '../format.ts';
import type { ViewerLink } from '../../../common/viewerLink.ts';

export function actorOf(e: ControlEventDto): string {
  const m = e.metadata ?? {};
  // the provider's display name when it gave one (its subject is often an opaque id)
  if (e.actorUserId) return typeof m['name'] === 'string' && m['name'] ? m['name'] : e.actorUserId;
  if (typeof m['workerId'] === 'string') return `worker ${m['workerId']}`;
  return 'system';
}

function metaText(v: unknown): string {
  if (typeof v === 'string') return v.length > 300 ? `${v.slice(0, 300)}…` : v;
  return JSON.stringify(v);
}

/** The colour class of an event: a run_completed is red unless the run succeeded. */
export function actionClass(e: ControlEventDto): string {
  if (e.action === 'run_completed' && e.metadata?.['status'] !== 'succeeded') return 'a-run_completed-failed';
  return `a-${e.action}`;
}

export class Timeline {
  readonly el: HTMLElement;
  private readonly list = h('ol.timeline', { 'data-testid': 'timeline' });
  private readonly status = h('p.muted');
  private readonly seen = new Set<number>();
  private lastId = 0;

  constructor(
    private readonly runId: string,
    link: ViewerLink,
    private readonly onEvent: (e: ControlEventDto) => void = () => undefined,
  ) {
    this.el = h('section.panel.timeline-panel', {}, h('h2', {}, 'Audit timeline'), this.status, h('div.scroll', { tabindex: 0, role: 'region', 'aria-label': 'audit timeline', 'data-testid': 'timeline-scroll' }, this.list));
    link.socket.on('run:event', (e) => {
      if (e.taskRunId === runId) this.add(e);
    });
    // after a reconnect, fetch what was appended while away
    link.on('joined', () => void this.load());
  }

  async load(): Promise<void> {
    try {
      const events = await api.events(this.runId, this.lastId);
      for (const e of events) this.add(e);
      this.status.textContent = '';
    } catch (err) {
      this.status.textContent = `could not load the timeline: ${errorText(err)}`;
    }
  }

  add(e: ControlEventDto): void {
    if (this.seen.has(e.id)) return;
    this.seen.add(e.id);
    this.lastId = Math.max(this.lastId, e.id);
    this.onEvent(e);
    const meta = Object.entries(e.metadata ?? {}).map(([k, v]) => h('span.kv', {}, h('b', {}, k), '=', metaText(v)));
    const item = h(
      'li.event',
      { 'data-action': e.action, 'data-id': e.id },
      h('time', { datetime: e.createdAt, title: e.createdAt }, clock(e.createdAt)),
      h(`span.action.${actionClass(e)}`, {}, e.action),
      h('span.actor', {}, actorOf(e)),
      h('span.metas', {}, ...meta),
    );
    // keep id order even if a live event overtakes the initial load
    const after = [...this.list.children].find((c) => Number((c as HTMLElement).dataset.id) > e.id);
    const scroller = this.list.parentElement;
    const atEnd = !scroller || scroller.scrollTop + scroller.clientHeight >= scroller.scrollHeight - 4;
    this.list.insertBefore(item, after ?? null);
    if (scroller && atEnd && !after) scroller.scrollTop = scroller.scrollHeight;
  }
}
