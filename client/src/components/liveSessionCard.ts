/**
 * The Live Session card of a run: the session's status and timestamps, how to attach
 * (read-only command with a copy button; the web link when the session offers one), and the
 * controls. Every button is shown only to a role that may use it (viewer: none; operator: all
 * but revoke session; admin: all), is disabled while its request is in flight, and shows the
 * hub's error message when it fails. The structure is built once; update() only toggles and
 * re-labels, so a live status change never re-enables a button whose request is still running.
 */
import type { GrantWriteResult, LiveSessionDto, TaskRunDto } from '../../../common/api.ts';
import { TERMINAL_RUN_STATUSES, TERMINAL_SESSION_STATUSES } from '../../../common/statuses.ts';
import { api } from '../api.ts';
import { actionButton, append, clear, confirmButton, copyText, h } from '../dom.ts';
import { age, countdown, errorText, shortClock } from '../format.ts';
import type { RwView, ViewerLink } from '../../../common/viewerLink.ts';
import type { Identity } from '../session.ts';
import { can } from '../session.ts';
import { dropDraft, keepDraft } from '../drafts.ts';

const TTL_CHOICES = [1, 5, 15, 30, 60, 120, 240];
const DEFAULT_TTL = 15;

export class LiveSessionCard {
  readonly el: HTMLElement;
  private run: TaskRunDto;
  private session: LiveSessionDto | null;
  private rw: RwView = { canWrite: false, until: null };
  private rwCommand: string | null = null;
  private readonly statusLine = h('div.session-status');
  private readonly times = h('dl.times');
  private readonly attach = h('div.attach');
  private readonly rwLine = h('div.rw-line', { 'data-testid': 'rw-line' });
  private readonly error = h('div.error', { role: 'alert', 'data-testid': 'card-error' });
  private readonly buttons: Record<string, HTMLElement> = {};
  private readonly ticker: ReturnType<typeof setInterval>;

  constructor(
    run: TaskRunDto,
    private readonly me: Identity,
    private readonly link: ViewerLink,
  ) {
    this.run = run;
    this.session = run.liveSession ?? null;
    const fail = (err: unknown) => this.showError(err);
    const ok = <T>(p: Promise<T>) => p.then((v) => (this.showError(null), v));
    const id = run.id;

    const ttl = h('select.ttl', { 'aria-label': 'write grant duration', 'data-testid': 'ttl' });
    for (const m of TTL_CHOICES) append(ttl, h('option', { value: m, selected: m === DEFAULT_TTL }, m < 60 ? `${m} min` : `${m / 60} h`));
    const summary = h('input.summary', { type: 'text', placeholder: 'summary for the agent (optional)', 'aria-label': 'resume summary', maxlength: 16384 });
    keepDraft(summary, `summary.${id}`);
    const hard = h('input', { type: 'checkbox', 'aria-label': 'hard pause (stop the step\u2019s processes)' });

    const grant = actionButton(
      'Grant write',
      async () => {
        this.takeGrant(await ok(api.grantWrite(id, Number(ttl.value))));
      },
      fail,
      'primary',
    );
    if (can(me, 'session.enable')) this.buttons.enable = actionButton('Enable', async () => this.update(this.run, await ok(api.enableSession(id))), fail, 'primary');
    if (can(me, 'session.grantWrite')) this.buttons.grant = h('span.group', {}, grant, ttl);
    if (can(me, 'session.revokeWrite')) this.buttons.revokeWrite = actionButton('Revoke write', async () => this.update(this.run, await ok(api.revokeWrite(id))), fail);
    if (can(me, 'runs.control')) {
      this.buttons.pause = h(
        'span.group',
        {},
        actionButton(
          'Pause',
          async () => {
            const next = await ok(api.control(id, 'pause', hard.checked ? { mode: 'hard' } : {}));
            hard.checked = false; // a hard pause is asked for each time, never carried over
            this.update(next, this.session);
          },
          fail,
        ),
        h('label.check', { title: 'hard pause: SIGSTOP the running step' }, hard, 'hard'),
      );
      this.buttons.resume = h(
        'span.group.wide',
        {},
        actionButton(
          'Resume',
          async () => {
            const text = summary.value.trim();
            const next = await ok(api.control(id, 'resume', text ? { summary: text } : {}));
            summary.value = '';
            dropDraft(`summary.${id}`);
            this.update(next, this.session);
          },
          fail,
          'primary',
        ),
        summary,
      );
      this.buttons.takeover = this.takeoverControl(id, ok, fail);
    }
    if (can(me, 'runs.cancel')) this.buttons.cancel = confirmButton('Cancel run', 'Really cancel?', async () => this.update(await ok(api.cancel(id)), this.session), fail, 'danger');
    if (can(me, 'session.revoke')) {
      this.buttons.revokeSession = confirmButton('Revoke session', 'Really revoke?', async () => this.update(this.run, await ok(api.revokeSession(id, 'revoked from the dashboard'))), fail, 'danger');
    }
    const controls = h('div.controls', { 'data-testid': 'controls' }, ...Object.values(this.buttons));
    this.el = h(
      'section.panel.session-card',
      { 'data-testid': 'live-session-card' },
      h('h2', {}, 'Live session'),
      this.statusLine,
      this.times,
      this.attach,
      this.rwLine,
      Object.keys(this.buttons).length > 0 ? controls : h('p.muted', {}, `Signed in as ${me.role}: watching only.`),
      this.error,
    );
    link.on('rw', (rw) => {
      this.rw = rw;
      if (!rw.canWrite) this.rwCommand = null;
      this.render();
    });
    this.ticker = setInterval(() => this.renderRw(), 500);
    this.render();
  }

  /**
   * The one place a write grant from the hub reaches this tab: the viewer link presents it (the
   * hub checks it at join) and the card shows the attach command (token masked). How the grant
   * is carried may change (docs/architecture.md §7); only this function then changes.
   */
  private takeGrant(res: GrantWriteResult): void {
    this.rwCommand = res.attachRw;
    this.session = res.session;
    this.link.useGrant(res.grantToken);
    this.update(this.run, res.session);
  }

  /**
   * Takeover in one step (issue 15): the button asks for the write grant's length, then takes
   * over and grants write together; the terminal keeps the task pane in front and focuses it.
   */
  private takeoverControl(id: string, ok: <T>(p: Promise<T>) => Promise<T>, fail: (err: unknown) => void): HTMLElement {
    const open = h('button.warn', { type: 'button', 'data-action': 'takeover', 'aria-expanded': 'false' }, 'Takeover');
    const ttl = h('select.ttl', { 'aria-label': 'write grant for the takeover', 'data-testid': 'takeover-ttl' });
    for (const m of TTL_CHOICES) append(ttl, h('option', { value: m, selected: m === DEFAULT_TTL }, m < 60 ? `${m} min` : `${m / 60} h`));
    const confirm = actionButton(
      'Take over with write',
      async () => {
        const run = await ok(api.control(id, 'takeover'));
        this.update(run, this.session);
        this.takeGrant(await ok(api.grantWrite(id, Number(ttl.value))));
        ask.hidden = true;
        open.setAttribute('aria-expanded', 'false');
      },
      fail,
      'warn',
    );
    confirm.dataset.action = 'takeover-confirm';
    const cancel = h('button', { type: 'button', 'data-action': 'takeover-cancel' }, 'Cancel');
    const ask = h(
      'div.takeover-ask',
      { hidden: true, 'data-testid': 'takeover-ask' },
      h('p', {}, 'The agent stops and you type into the run for:'),
      h('span.group', {}, ttl, confirm, cancel),
    );
    open.addEventListener('click', () => {
      ask.hidden = !ask.hidden;
      open.setAttribute('aria-expanded', String(!ask.hidden));
      if (!ask.hidden) ttl.focus();
    });
    cancel.addEventListener('click', () => {
      ask.hidden = true;
      open.setAttribute('aria-expanded', 'false');
      open.focus();
    });
    return h('span.group.takeover', {}, open, ask);
  }

  update(run: TaskRunDto, session: LiveSessionDto | null | undefined): void {
    this.run = run;
    if (session !== undefined) this.session = session;
    else if (run.liveSession !== undefined) this.session = run.liveSession;
    this.render();
  }

  destroy(): void {
    clearInterval(this.ticker);
  }

  clearError(): void {
    this.showError(null);
  }

  private showError(err: unknown): void {
    this.error.textContent = err ? errorText(err) : '';
  }

  private render(): void {
    const run = this.run;
    const s = this.session;
    clear(this.statusLine);
    clear(this.times);
    clear(this.attach);
    append(this.statusLine, h(`span.badge.s-${s?.status ?? 'none'}`, { 'data-testid': 'session-status' }, s ? s.status : 'not enabled'), s?.provider ? h('span.muted', {}, ` provider ${s.provider}`) : null);
    if (s) {
      const rows: Array<[string, string | null]> = [
        ['created', s.createdAt],
        ['ready', s.readyAt],
        ['expires', TERMINAL_SESSION_STATUSES.includes(s.status) ? null : s.expiresAt],
        ['last heartbeat', s.lastHeartbeatAt],
        ['ended', s.endedAt],
        ['write until', s.rwGrantedUntil],
      ];
      for (const [label, iso] of rows) {
        if (!iso) continue;
        append(this.times, h('dt', {}, label), h('dd', {}, h('time', { datetime: iso, title: iso }, shortClock(iso)), h('span.muted', {}, ' (', h('span', { 'data-age': iso, 'data-testid': `age-${label.replace(/\s+/g, '-')}` }, age(iso)), ')')));
      }
      if (s.workerHostname || s.workerId) append(this.times, h('dt', {}, 'worker'), h('dd', {}, `${s.workerId ?? '?'}${s.workerHostname ? ` @ ${s.workerHostname}` : ''}`));
      if (s.errorMessage) append(this.times, h('dt', {}, 'error'), h('dd.error-text', {}, s.errorMessage));
      if (s.attachRo) append(this.attach, commandRow('Attach read-only', s.attachRo, 'attach-ro'));
      // the web view is this very page: offered as an address to share, not as a link to itself
      if (s.webRo) append(this.attach, commandRow('Web view (share this address)', s.webRo, 'web-ro'));
    } else {
      append(this.times, h('p.muted', {}, 'This run has no live session: it runs headless.'));
    }
    if (this.rwCommand) append(this.attach, commandRow('Attach read-write (your grant)', this.rwCommand, 'attach-rw'));

    const runLive = !TERMINAL_RUN_STATUSES.includes(run.status);
    const live = !!s && !TERMINAL_SESSION_STATUSES.includes(s.status);
    const ready = s?.status === 'ready';
    const lc = run.payload.liveControl;
    const show = (key: string, on: boolean) => {
      const b = this.buttons[key];
      if (b) b.hidden = !on;
    };
    show('enable', runLive && !s);
    show('grant', runLive && ready);
    show('revokeWrite', runLive && ready && (this.rw.canWrite || !!s?.rwGrantedUntil));
    show('revokeSession', live);
    show('pause', runLive && !lc?.paused);
    show('resume', runLive && !!lc?.paused);
    show('takeover', runLive && !lc?.takeover);
    show('cancel', runLive);
    const grantBtn = this.buttons.grant?.querySelector('button');
    if (grantBtn) grantBtn.textContent = this.rw.canWrite ? 'Extend write' : 'Grant write';
    this.renderRw();
  }

  private renderRw(): void {
    const rw = this.rw;
    if (rw.canWrite && rw.until) {
      this.rwLine.className = 'rw-line rw';
      this.rwLine.textContent = `You may type until ${shortClock(rw.until)} \u2014 ${countdown(Date.parse(rw.until) - Date.now())} left`;
    } else {
      this.rwLine.className = 'rw-line ro';
      this.rwLine.textContent = rw.reason ? `Read-only (${rw.reason}).` : 'Read-only.';
    }
  }
}

/**
 * A command as shown on the page: a grant (any JWT in it) cut to its first characters, so that
 * it is not on screen or in a screenshot in full; Copy still copies the whole command.
 */
export function maskTokens(command: string): string {
  return command.replace(/eyJ[\w-]+\.[\w-]+\.[\w-]+/g, (t) => `${t.slice(0, 10)}\u2026`);
}

function commandRow(label: string, command: string, testId: string): HTMLElement {
  const code = h('code', { 'data-testid': testId, title: 'Copy copies the full command' }, maskTokens(command));
  const btn = h('button.copy', { type: 'button', 'aria-label': `copy: ${label}` }, 'Copy');
  btn.addEventListener('click', () => {
    void copyText(command).then(() => {
      btn.textContent = 'Copied';
      setTimeout(() => (btn.textContent = 'Copy'), 1500);
    });
  });
  return h('div.command', {}, h('div.command-label', {}, label), h('div.command-line', {}, code, btn));
}
