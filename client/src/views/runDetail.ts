/**
 * A run's page: header (status, worker, times, steps), the Live Session card, the live terminal
 * (or, once the run is over, its recording), operator messages beside it, and the audit timeline.
 * Steps sit beside the card; a step's button seeks the recording.
 * Everything updates live over one viewer link (common/viewerLink.ts), which presents the grant
 * of a `#grant=` address (grant-write's webRw) when there is one.
 *
 * Test hook (documented in client/README.md): while this page is mounted,
 * `window.__handoffUseGrant(grantToken)` makes the tab use an RW grant token exactly as it does
 * with the one grant-write returns (reconnect with it, join again). Tests use it to inject a
 * grant shorter than the API's one-minute minimum; the hub accepts a grant only from its grantee,
 * so the hook gives a page nothing its operator could not get anyway.
 */
import type { LiveSessionDto, TaskRunDto } from '../../../common/api.ts';
import type { PaneSinkFactory } from '../../../common/viewerLink.ts';
import { TERMINAL_RUN_STATUSES } from '../../../common/statuses.ts';
import { api, ApiError, retryOnNetwork } from '../api.ts';
import { ConnectionBar } from '../components/connectionBar.ts';
import { append, clear, h } from '../dom.ts';
import { age, clock, errorText, shortId } from '../format.ts';
import { openLink } from '../socket.ts';
import { takeGrantFromAddress } from '../grantFromAddress.ts';
import type { Identity } from '../session.ts';
import { can } from '../session.ts';
import { LiveSessionCard } from '../components/liveSessionCard.ts';
import { Messages } from '../components/messages.ts';
import { Replay } from '../components/replay.ts';
import { TerminalView } from '../components/terminalView.ts';
import { StepList } from '../components/steps.ts';
import { Timeline } from '../components/timeline.ts';
import { observeRun } from '../notifications.ts';
import { needsFlag, operatorNeeds } from '../operatorNeeds.ts';
import type { View } from './view.ts';

declare global {
  interface Window {
    __handoffUseGrant?: (grantToken: string) => void;
  }
}

const isOver = (r: TaskRunDto) => TERMINAL_RUN_STATUSES.includes(r.status);

export function runDetailView(me: Identity, runId: string): View {
  const grantInAddress = takeGrantFromAddress();
  const head = h('div.run-head');
  const center = h('div.run-center');
  const side = h('aside.run-side');
  const right = h('div.run-right');
  const below = h('div.run-below');
  const error = h('div.error', { role: 'alert', 'data-testid': 'page-error' });
  const connSlot = h('div.conn-slot');
  const el = h('main.page.run-page', { 'data-run-id': runId }, connSlot, head, error, h('div.run-grid', {}, side, center, right), below);
  const cleanups: Array<() => void> = [];
  let destroyed = false;

  const start = async () => {
    let run: TaskRunDto;
    try {
      // the hub away (a restart): keep trying, and say so
      run = await retryOnNetwork(
        () => api.getRun(runId),
        () => !destroyed,
        (err) => (error.textContent = `could not load the run: ${errorText(err)} \u2014 retrying…`),
      );
      error.textContent = '';
    } catch (err) {
      error.textContent = err instanceof ApiError && err.status === 404 ? `Run ${runId} does not exist.` : `could not load the run: ${errorText(err)}`;
      return;
    }
    if (destroyed) return;
    observeRun(run);
    let session: LiveSessionDto | null = run.liveSession ?? null;

    // after the session ended, join again: the run's status, events and messages keep coming
    const link = openLink(me.token, { rejoinAfterEnd: true, grant: grantInAddress });
    cleanups.push(() => link.close());
    const conn = new ConnectionBar(link);
    cleanups.push(() => conn.destroy());
    append(connSlot, conn.el);
    const card = new LiveSessionCard(run, me, link);
    cleanups.push(() => card.destroy());
    const messages = new Messages(runId, link, can(me, 'runs.message'));
    const steps = new StepList(run.steps);
    const timeline = new Timeline(runId, link, (e) => {
      messages.addFromEvents([e]);
      steps.add(e);
    });
    append(side, card.el, steps.el);
    append(right, messages.el);
    append(below, timeline.el);

    // back after a cut: the errors the outage caused are stale
    conn.onBack(() => {
      error.textContent = '';
      card.clearError();
      messages.clearError();
      replay?.retryIfFailed();
    });
    let lastLive = Date.now();
    link.on('state', (st) => {
      if (st.kind === 'connected') lastLive = Date.now();
      else if (st.kind === 'cut_off') lastLive = st.since;
      renderHead();
    });

    let replay: Replay | null = null;
    const showReplay = () => {
      if (replay) return;
      replay = new Replay(runId);
      const r = replay;
      cleanups.push(() => r.destroy());
      append(center, r.el);
      steps.setSeek((index) => r.seekToStep(index));
      void r.load();
    };
    if (isOver(run)) {
      showReplay();
    }
    let sink: PaneSinkFactory = () => null;
    let terminal: TerminalView | null = null;
    if (!isOver(run)) {
      terminal = new TerminalView(link);
      const t = terminal;
      cleanups.push(() => t.destroy());
      append(center, t.el);
      sink = t.sink;
      steps.setLiveSeek((index) => t.scrollToStep(index));
    }

    const renderHead = () => {
      clear(head);
      const lc = run.payload.liveControl;
      const needs = operatorNeeds(run);
      document.title = `${needs.length ? `(${needs.join(', ')}) ` : ''}handoff \u00b7 run ${shortId(run.id)}`;
      append(
        head,
        h(
          'div.title-row',
          {},
          h('h1', {}, 'Run ', h('span.mono', { title: run.id }, shortId(run.id))),
          h(`span.badge.r-${run.status}`, { 'data-testid': 'run-status' }, run.status),
          conn.down ? h('span.stale', { 'data-testid': 'stale' }, `last known, as of ${clock(new Date(lastLive).toISOString())}`) : null,
          needsFlag(run),
          lc?.paused && lc.mode === 'hard' ? h('span.badge.warn', {}, 'hard pause') : null,
        ),
        h(
          'p.meta',
          {},
          h('span', {}, 'worker ', h('b', {}, run.workerId ?? '–')),
          h('span', {}, 'created ', h('time', { datetime: run.createdAt, title: run.createdAt }, clock(run.createdAt), ' (', h('span', { 'data-age': run.createdAt }, age(run.createdAt)), ')')),
          run.startedAt ? h('span', {}, 'started ', h('time', { title: run.startedAt }, clock(run.startedAt))) : null,
          run.finishedAt ? h('span', {}, 'finished ', h('time', { title: run.finishedAt }, clock(run.finishedAt))) : null,
          run.exitCode !== null ? h('span', {}, 'exit code ', h('b', {}, run.exitCode)) : null,
        ),
      );
    };
    renderHead();

    /** Every new state of the run goes through here: a takeover's start or end moves the terminal's tabs. */
    const setRun = (next: TaskRunDto) => {
      const was = !!run.payload.liveControl?.takeover;
      run = next;
      observeRun(run);
      const now = !!run.payload.liveControl?.takeover;
      if (was !== now) terminal?.setTakeover(now);
    };
    link.on('joined', (reply) => {
      setRun({ ...reply.run, liveSession: reply.session });
      session = reply.session;
      card.update(run, session);
      renderHead();
    });
    link.on('joinFailed', (err) => (error.textContent = `could not join the run's live stream: ${err.message}`));
    link.socket.on('run:status', (id, r, s) => {
      if (id !== runId) return;
      setRun({ ...r, liveSession: s });
      session = s;
      card.update(run, session);
      renderHead();
      if (isOver(run)) showReplay();
    });
    link.on('ended', (status) => {
      if (session && session.status !== status) session = { ...session, status: status as LiveSessionDto['status'] };
      card.update(run, session);
    });
    link.socket.on('run:control', (id, liveControl) => {
      if (id !== runId) return;
      setRun({ ...run, payload: { ...run.payload, liveControl } });
      card.update(run, session);
      renderHead();
    });

    link.join(runId, { sink }).catch(() => undefined); // a refusal is shown by joinFailed
    window.__handoffUseGrant = (grantToken: string) => link.useGrant(grantToken);
    cleanups.push(() => delete window.__handoffUseGrant);
  };
  void start();

  return {
    el,
    destroy() {
      destroyed = true;
      for (const fn of cleanups.reverse()) fn();
    },
  };
}
