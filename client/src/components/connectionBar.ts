/**
 * What the page's live link to the hub is doing, always on screen (issue 15): connected,
 * rejoining (connected, catching up), reconnecting (the first RECONNECTING_MS after a cut),
 * cut off (with how long), or refused.
 * While the link is down the page's live data is as of the cut, and the bar says so. When it
 * comes back after a cut, `onBack` callbacks run: views clear the errors the outage caused and
 * retry what failed.
 */
import type { LinkState, ViewerLink } from '../../../common/viewerLink.ts';
import { h } from '../dom.ts';
import { countdown, shortClock } from '../format.ts';

const RECONNECTING_MS = 10_000;

export class ConnectionBar {
  readonly el: HTMLElement;
  private readonly text = h('span.conn-text');
  private readonly ticker: ReturnType<typeof setInterval>;
  private readonly back: Array<() => void> = [];
  private wasDown = false;

  constructor(private readonly link: ViewerLink) {
    this.el = h('div.conn-bar', { 'data-testid': 'connection', role: 'status', 'aria-live': 'polite' }, h('span.conn-dot', { 'aria-hidden': 'true' }), this.text);
    link.on('state', (st) => this.onState(st));
    this.ticker = setInterval(() => this.render(), 1000);
    this.render();
  }

  /** Runs `fn` every time the link is back after a cut. */
  onBack(fn: () => void): void {
    this.back.push(fn);
  }

  get down(): boolean {
    const k = this.link.state.kind;
    return k === 'cut_off' || k === 'refused';
  }

  destroy(): void {
    clearInterval(this.ticker);
  }

  private onState(st: LinkState): void {
    if (st.kind === 'cut_off') this.wasDown = true;
    if (st.kind === 'connected' && this.wasDown) {
      this.wasDown = false;
      for (const fn of this.back) fn();
    }
    this.render();
  }

  private render(): void {
    const st = this.link.state;
    const away = Date.now() - st.since;
    let state: string;
    let text: string;
    switch (st.kind) {
      case 'connected':
        state = 'connected';
        text = 'connected \u2014 live';
        break;
      case 'connecting':
        state = 'connecting';
        text = 'connecting to the hub…';
        break;
      case 'rejoining':
        state = 'rejoining'; // connected: fresh snapshots on the way, nothing is stale
        text = 'reconnected, catching up…';
        break;
      case 'cut_off':
        state = away < RECONNECTING_MS ? 'reconnecting' : 'cut_off';
        text =
          away < RECONNECTING_MS
            ? `reconnecting\u2026 (lost ${countdown(away)} ago)`
            : `cut off from the hub for ${countdown(away)} (since ${shortClock(new Date(st.since).toISOString())}) \u2014 retrying; what you see is as of then`;
        break;
      case 'refused':
        state = 'refused';
        text = `the hub refused this tab: ${st.reason}`;
        break;
      default:
        state = 'closed';
        text = 'closed';
    }
    this.el.dataset.state = state;
    this.text.textContent = text;
    document.body.classList.toggle('link-down', state === 'cut_off' || state === 'reconnecting');
  }
}
