/**
 * Operator messages beside the terminal: the stream (past messages from the audit events,
 * then live `run:message`) and, for operators, a composer (POST …/operator-messages). The
 * agent gets every message in the run's operator inbox.
 */
import type { ControlEventDto } from '../../../common/api.ts';
import type { OperatorMessage } from '../../../common/protocol.ts';
import { api } from '../api.ts';
import { actionButton, h } from '../dom.ts';
import { clock, errorText } from '../format.ts';
import { dropDraft, keepDraft } from '../drafts.ts';
import type { ViewerLink } from '../../../common/viewerLink.ts';

export class Messages {
  readonly el: HTMLElement;
  private readonly list = h('ol.messages', { 'data-testid': 'messages' });
  private readonly empty = h('p.muted.empty', {}, 'No operator messages yet.');
  private readonly seen = new Set<number>();
  private readonly composer: HTMLFormElement | null = null;
  private readonly input: HTMLTextAreaElement;
  private readonly error = h('div.error', { role: 'alert' });

  constructor(
    private readonly runId: string,
    link: ViewerLink,
    canSend: boolean,
  ) {
    this.input = h('textarea', { rows: 3, placeholder: 'Message the agent and every viewer (Enter sends, Shift+Enter for a new line)', 'aria-label': 'operator message', 'data-testid': 'message-input' });
    keepDraft(this.input, `message.${runId}`);
    const send = actionButton('Send', () => this.send(), (err) => (this.error.textContent = errorText(err)), 'primary');
    this.input.addEventListener('keydown', (ev) => {
      if (ev.key === 'Enter' && !ev.shiftKey && !ev.isComposing) {
        ev.preventDefault();
        send.click();
      }
    });
    if (canSend) {
      this.composer = h('form.composer', {}, this.input, h('div.composer-actions', {}, send), this.error);
      this.composer.addEventListener('submit', (ev) => ev.preventDefault());
    }
    this.el = h('section.panel.messages-panel', {}, h('h2', {}, 'Operator messages'), h('div.scroll', { tabindex: 0, role: 'region', 'aria-label': 'operator messages', 'data-testid': 'messages-scroll' }, this.empty, this.list), this.composer);
    link.socket.on('run:message', (m: OperatorMessage) => {
      if (m.runId === runId) this.add(m);
    });
  }

  clearError(): void {
    this.error.textContent = '';
  }

  /** Past messages come from the audit events (action send_message). */
  addFromEvents(events: ControlEventDto[]): void {
    for (const e of events) {
      if (e.action !== 'send_message') continue;
      this.add({ id: e.id, runId: e.taskRunId, from: e.actorUserId, message: String(e.metadata['message'] ?? ''), createdAt: e.createdAt });
    }
  }

  add(m: OperatorMessage): void {
    if (this.seen.has(m.id)) return;
    this.seen.add(m.id);
    this.empty.hidden = true;
    const item = h('li.message', { 'data-id': m.id }, h('div.msg-head', {}, h('b', {}, m.from ?? 'system'), ' ', h('time', { datetime: m.createdAt }, clock(m.createdAt))), h('div.msg-body', {}, m.message));
    const after = [...this.list.children].find((c) => Number((c as HTMLElement).dataset.id) > m.id);
    this.list.insertBefore(item, after ?? null);
    const scroller = this.list.parentElement;
    if (scroller && !after) scroller.scrollTop = scroller.scrollHeight;
  }

  private async send(): Promise<void> {
    const text = this.input.value.trim();
    if (!text) return;
    this.error.textContent = '';
    const event = await api.message(this.runId, text);
    this.input.value = '';
    dropDraft(`message.${this.runId}`);
    this.addFromEvents([event]);
  }
}
