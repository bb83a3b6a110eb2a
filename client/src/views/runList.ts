/**
 * The runs list: status, live-session status, worker, age, and a "needs operator" highlight
 * for paused or taken-over runs; live without reload (`runs:watch` → `run:status`); filter by
 * status; operators and admins can create a run (one step per line).
 */
import type { TaskRunDto } from '../../../common/api.ts';
import type { TaskRunStatus } from '../../../common/statuses.ts';
import { TASK_RUN_STATUSES, TERMINAL_RUN_STATUSES } from '../../../common/statuses.ts';
import { api } from '../api.ts';
import { actionButton, append, clear, h } from '../dom.ts';
import { age, errorText, shortId } from '../format.ts';
import { navigate } from '../nav.ts';
import type { Identity } from '../session.ts';
import { can } from '../session.ts';
import { openLink } from '../socket.ts';
import { ConnectionBar } from '../components/connectionBar.ts';
import type { View } from './view.ts';

export function needsOperator(run: TaskRunDto): boolean {
  const lc = run.payload.liveControl;
  return !TERMINAL_RUN_STATUSES.includes(run.status) && !!(lc?.paused || lc?.takeover);
}

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

  const row = (r: TaskRunDto) => {
    const s = r.liveSession;
    const lc = r.payload.liveControl;
    const flag = needsOperator(r) ? h('span.flag', { title: 'paused or taken over: an operator is needed' }, lc?.takeover ? 'taken over' : 'paused', ' \u2014 needs operator') : null;
    return h(
      'tr',
      { 'data-run-id': r.id, class: needsOperator(r) ? 'needs-operator' : null },
      h('td', { 'data-label': 'run' }, h('a.mono', { href: `/runs/${r.id}`, 'data-nav': true, title: r.id }, shortId(r.id))),
      h('td', { 'data-label': 'status' }, h(`span.badge.r-${r.status}`, { 'data-testid': 'run-status' }, r.status), flag),
      h('td', { 'data-label': 'session' }, s ? h(`span.badge.s-${s.status}`, { 'data-testid': 'session-status' }, s.status) : h('span.muted', {}, 'none')),
      h('td', { 'data-label': 'worker' }, r.workerId ?? h('span.muted', {}, '–')),
      h('td.steps', { 'data-label': 'steps',  title: r.steps.join('\n') }, r.steps[0] ?? '', r.steps.length > 1 ? h('span.muted', {}, ` (+${r.steps.length - 1})`) : null),
      h('td', { 'data-label': 'age' }, h('time', { datetime: r.createdAt, title: r.createdAt, 'data-age': r.createdAt }, age(r.createdAt))),
    );
  };

  const render = () => {
    clear(tbody);
    const list = [...runs.values()].sort((a, b) => b.createdAt.localeCompare(a.createdAt));
    for (const r of list) tbody.appendChild(row(r));
    status.textContent = list.length ? '' : filter ? `No ${filter} runs.` : 'No runs yet.';
    // the tab says how many runs wait for a person, even when it is in the background
    const waiting = list.filter(needsOperator).length;
    document.title = waiting ? `(${waiting}) need an operator \u00b7 handoff` : 'handoff \u00b7 runs';
  };

  const reload = async () => {
    try {
      const list = await api.listRuns(filter ? filter : undefined);
      runs.clear();
      for (const r of list) runs.set(r.id, r);
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
