/**
 * The runs list: status, live-session status, worker, age, and a "needs operator" highlight
 * for runs waiting for input, paused or taken over (operatorNeeds.ts), counted in the tab title; live without reload (`runs:watch` → `run:status`); filter by
 * status; operators and admins can create a run (one step per line).
 */
import type { TaskRunDto } from '../../../common/api.ts';
import type { TaskRunStatus } from '../../../common/statuses.ts';
import { TASK_RUN_STATUSES } from '../../../common/statuses.ts';
import { api } from '../api.ts';
import { actionButton, append, h } from '../dom.ts';
import { age, errorText, shortId } from '../format.ts';
import { navigate } from '../nav.ts';
import { observeRun } from '../notifications.ts';
import { needsFlag, needsOperator } from '../operatorNeeds.ts';
import type { Identity } from '../session.ts';
import { can } from '../session.ts';
import { openLink } from '../socket.ts';
import { ConnectionBar } from '../components/connectionBar.ts';
import type { View } from './view.ts';

export function runListView(me: Identity): View {
  const params = new URLSearchParams(location.search);
  let filter: TaskRunStatus | '' = (TASK_RUN_STATUSES as readonly string[]).includes(params.get('status') ?? '') ? (params.get('status') as TaskRunStatus) : '';
  const runs = new Map<string, TaskRunDto>();
  const tbody = h('tbody');
  const status = h('p.muted', { 'aria-live': 'polite' });
  const error = h('div.error', { role: 'alert' });

  const select = h('select', { 'aria-label': 'filter by status', 'data-testid': 'status-filter' }, h('option', { value: '' }, 'all statuses'));
  for (const s of TASK_RUN_STATUSES) append(select, h('option', { value: s, selected: s === filter }, s));
  select.addEventListener('change', () => {
    filter = select.value as TaskRunStatus | '';
    history.replaceState(null, '', filter ? `/?status=${filter}` : '/');
    void reload();
  });

  const freshRow = (r: TaskRunDto) => {
    const s = r.liveSession;
    return h(
      'tr',
      { 'data-run-id': r.id, class: needsOperator(r) ? 'needs-operator' : null },
      h('td', { 'data-label': 'run' }, h('a.mono', { href: `/runs/${r.id}`, 'data-nav': true, title: r.id }, shortId(r.id))),
      h('td', { 'data-label': 'status' }, h(`span.badge.r-${r.status}`, { 'data-testid': 'run-status' }, r.status), needsFlag(r)),
      h('td', { 'data-label': 'session' }, s ? h(`span.badge.s-${s.status}`, { 'data-testid': 'session-status' }, s.status) : h('span.muted', {}, 'none')),
      h('td', { 'data-label': 'worker' }, r.workerId ?? h('span.muted', {}, '–')),
      h('td.steps', { 'data-label': 'steps',  title: r.steps.join('\n') }, r.steps[0] ?? '', r.steps.length > 1 ? h('span.muted', {}, ` (+${r.steps.length - 1})`) : null),
      h('td', { 'data-label': 'age' }, h('time', { datetime: r.createdAt, title: r.createdAt, 'data-age': r.createdAt }, age(r.createdAt))),
    );
  };

  // Rows are kept per run and only a changed run's cells are redone: rebuilding the table on
  // every live update took the keyboard focus away and detached rows under the pointer.
  const rows = new Map<string, { tr: HTMLTableRowElement; key: string }>();
  const row = (r: TaskRunDto): HTMLTableRowElement => {
    const key = JSON.stringify([r.status, r.workerId, r.payload.attention, r.payload.liveControl, r.liveSession?.status, r.steps.length]);
    const kept = rows.get(r.id);
    if (kept?.key === key) return kept.tr;
    const fresh = freshRow(r);
    if (!kept) {
      rows.set(r.id, { tr: fresh, key });
      return fresh;
    }
    kept.key = key;
    const focused = kept.tr.contains(document.activeElement);
    kept.tr.className = fresh.className;
    kept.tr.replaceChildren(...fresh.childNodes);
    // the run's link is the row's one focusable element: the operator stays on it
    if (focused) kept.tr.querySelector<HTMLElement>('a')?.focus();
    return kept.tr;
  };

  const render = () => {
    const list = [...runs.values()].sort((a, b) => b.createdAt.localeCompare(a.createdAt));
    const shown = new Set(list.map((r) => r.id));
    for (const [id, { tr }] of rows) {
      if (shown.has(id)) continue;
      tr.remove();
      rows.delete(id);
    }
    // in order, moving only rows that are out of place
    let at: ChildNode | null = tbody.firstChild;
    for (const r of list) {
      const tr = row(r);
      if (tr === at) at = tr.nextSibling;
      else tbody.insertBefore(tr, at);
    }
    status.textContent = list.length ? '' : filter ? `No ${filter} runs.` : 'No runs yet.';
    // the tab says how many runs wait for a person, even when it is in the background
    const waiting = list.filter(needsOperator).length;
    document.title = waiting ? `(${waiting}) need an operator \u00b7 handoff` : 'handoff \u00b7 runs';
  };

  const reload = async () => {
    try {
      const list = await api.listRuns(filter ? filter : undefined);
      runs.clear();
      for (const r of list) {
        runs.set(r.id, r);
        observeRun(r);
      }
      error.textContent = '';
      render();
    } catch (err) {
      error.textContent = `could not load runs: ${errorText(err)}`;
    }
  };

  const link = openLink(me.token);
  const conn = new ConnectionBar(link);
  link.watchRuns();
  // (re)connected: what changed while away comes with a fresh list
  link.on('state', (st) => st.kind === 'connected' && void reload());
  const socket = link.socket;
  socket.on('run:status', (_id, run, session) => {
    const merged: TaskRunDto = { ...run, liveSession: session };
    observeRun(merged);
    if (filter && run.status !== filter) runs.delete(run.id);
    else runs.set(run.id, merged);
    render();
  });

  let create: HTMLElement | null = null;
  if (can(me, 'runs.create')) {
    const steps = h('textarea', { rows: 4, placeholder: 'one shell command per line, e.g.\nnpm ci\nnpm test', 'aria-label': 'steps, one per line', 'data-testid': 'new-run-steps' });
    const live = h('input', { type: 'checkbox', checked: true });
    const createError = h('div.error', { role: 'alert' });
    const submit = actionButton(
      'Create run',
      async () => {
        const lines = steps.value.split('\n').map((l) => l.trim()).filter(Boolean);
        if (!lines.length) throw new Error('give at least one step');
        const run = await api.createRun(lines, live.checked);
        steps.value = '';
        createError.textContent = '';
        navigate(`/runs/${run.id}`);
      },
      (err) => (createError.textContent = errorText(err)),
      'primary',
    );
    create = h('details.panel.create-run', {}, h('summary', {}, 'New run'), steps, h('div.row', {}, h('label.check', {}, live, 'live session'), submit), createError);
  }

  void reload();
  const el = h(
    'main.page.runs-page',
    {},
    conn.el,
    h('div.page-head', {}, h('h1', {}, 'Runs'), h('label.filter', {}, 'Status ', select)),
    create,
    error,
    h(
      'table.runs',
      { 'data-testid': 'runs-table' },
      h('thead', {}, h('tr', {}, h('th', {}, 'run'), h('th', {}, 'status'), h('th', {}, 'live session'), h('th', {}, 'worker'), h('th', {}, 'steps'), h('th', {}, 'age'))),
      tbody,
    ),
    status,
  );
  return {
    el,
    destroy() {
      conn.destroy();
      link.close();
    },
  };
}
