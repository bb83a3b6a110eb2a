/**
 * Replay of a finished run's recording (GET …/recording, asciicast v2) in an xterm: our own
 * small player over xterm.js rather than asciinema-player, so the replay renders with the same
 * terminal, fonts, theme and search as the live view, adds no second terminal emulator to the
 * bundle and needs no change to the page's CSP.
 *
 * It opens on the final frame (what the run ended with); the position slider seeks (the
 * screen is rebuilt from the start up to that instant); play / pause, speed, an idle limit
 * (long silences shortened, as asciinema's idle_time_limit), restart and skip to end; step
 * markers (`m` events) become buttons that jump to where each step began; output wider than
 * the panel scrolls sideways, or "Fit width" scales the font to show every column.
 */
import { Terminal } from '@xterm/xterm';
import { stepMarkerLabel } from '../../../common/protocol.ts';
import { api, ApiError, retryOnNetwork } from '../api.ts';
import { append, clear, h } from '../dom.ts';
import { countdown, errorText } from '../format.ts';
import { MIN_FONT_SIZE, terminalFontSize } from '../prefs.ts';
import { followSystemTheme, terminalOptions } from './xtermTheme.ts';

export interface CastEvent {
  /** Seconds since the start, as recorded. */
  t: number;
  type: 'o' | 'r' | 'm' | string;
  data: string;
}

export interface Cast {
  width: number;
  height: number;
  events: CastEvent[];
}

const SPEEDS = [0.5, 1, 2, 4, 8];
/** Idle limits offered, seconds (0: none, the recording's own pace). */
const IDLE_LIMITS = [0, 0.5, 1, 2, 5];
const DEFAULT_IDLE_LIMIT = 2;

export function parseAsciicast(text: string): Cast {
  const lines = text.split('\n').filter((l) => l.trim());
  const header = JSON.parse(lines[0] ?? '{}') as { version?: number; width?: number; height?: number };
  if (header.version !== 2) throw new Error('not an asciicast v2 recording');
  const events: CastEvent[] = [];
  for (const line of lines.slice(1)) {
    let ev: unknown;
    try {
      ev = JSON.parse(line);
    } catch {
      continue; // a torn last line
    }
    if (!Array.isArray(ev) || typeof ev[0] !== 'number' || typeof ev[2] !== 'string') continue;
    events.push({ t: ev[0], type: String(ev[1]), data: ev[2] });
  }
  return { width: header.width ?? 80, height: header.height ?? 24, events };
}

/** Playback times with every silence longer than `limit` seconds cut to `limit` (0: none). */
export function idleLimited(events: CastEvent[], limit: number): number[] {
  const out: number[] = [];
  let last = 0;
  let shift = 0;
  for (const ev of events) {
    if (limit > 0 && ev.t - last > limit) shift += ev.t - last - limit;
    last = ev.t;
    out.push(ev.t - shift);
  }
  return out;
}

export class Replay {
  readonly el: HTMLElement;
  private term: Terminal | null = null;
  private untheme: () => void = () => undefined;
  private cast: Cast = { width: 80, height: 24, events: [] };
  /** Playback instant of each event (idle limit applied). */
  private times: number[] = [];
  private duration = 0;
  /** Index of the next event to write. */
  private pos = 0;
  /** Playback position, seconds. */
  private vt = 0;
  private speed = 1;
  private idleLimit = DEFAULT_IDLE_LIMIT;
  private fitWidth = false;
  private playing = false;
  private startedAt = 0;
  private startVt = 0;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private failed = false;
  private destroyed = false;
  private readonly host = h('div.replay-host', { 'data-testid': 'replay-terminal', tabindex: 0, role: 'region', 'aria-label': 'recorded terminal' });
  private readonly status = h('span.muted.replay-status', { 'data-testid': 'replay-time' });
  private readonly slider = h('input.replay-seek', { type: 'range', min: 0, max: 0, step: 0.05, value: 0, 'aria-label': 'replay position', 'data-testid': 'replay-seek', disabled: true });
  private readonly playBtn = h('button.primary', { type: 'button', 'data-action': 'replay-play', disabled: true }, 'Play');
  private readonly speedBtns: HTMLButtonElement[] = [];
  private readonly markers = h('div.replay-markers', { 'data-testid': 'replay-markers', hidden: true });
  private readonly fitBtn = h('button', { type: 'button', 'data-action': 'replay-fit', 'aria-pressed': 'false' }, 'Fit width');

  constructor(private readonly runId: string) {
    this.playBtn.addEventListener('click', () => (this.playing ? this.pause() : this.play()));
    const restart = h('button', { type: 'button', 'data-action': 'replay-restart' }, 'Restart');
    restart.addEventListener('click', () => this.restart());
    const toEnd = h('button', { type: 'button', 'data-action': 'replay-end' }, 'Skip to end');
    toEnd.addEventListener('click', () => this.toEnd());
    const speeds = h('span.speeds', { role: 'group', 'aria-label': 'speed' });
    for (const s of SPEEDS) {
      const b = h('button.speed', { type: 'button', 'data-speed': s, 'aria-pressed': String(s === 1) }, `${s}\u00d7`);
      b.addEventListener('click', () => this.setSpeed(s));
      this.speedBtns.push(b);
      append(speeds, b);
    }
    const idle = h('select', { 'aria-label': 'idle limit', 'data-testid': 'replay-idle' });
    for (const l of IDLE_LIMITS) append(idle, h('option', { value: l, selected: l === DEFAULT_IDLE_LIMIT }, l ? `idle \u2264 ${l}s` : 'idle: as recorded'));
    idle.addEventListener('change', () => this.setIdleLimit(Number(idle.value)));
    this.slider.addEventListener('input', () => this.seek(Number(this.slider.value)));
    this.fitBtn.addEventListener('click', () => this.setFit(!this.fitWidth));
    this.el = h(
      'section.panel.replay-panel',
      { 'data-testid': 'replay' },
      h('header.term-head', {}, h('h2', {}, 'Recording'), this.playBtn, speeds, idle, restart, toEnd, this.fitBtn, this.status),
      h('div.replay-bar', {}, this.slider),
      this.markers,
      this.host,
    );
  }

  /** Loads the recording; a run that just finished may not have uploaded it yet (retries a few times). */
  async load(attempt = 0): Promise<void> {
    this.status.textContent = 'loading the recording…';
    this.failed = false;
    try {
      const text = await retryOnNetwork(
        () => api.recording(this.runId),
        () => !this.destroyed,
        (err) => (this.status.textContent = `${err.message} \u2014 retrying…`),
      );
      if (this.destroyed) return;
      this.cast = parseAsciicast(text);
      this.untheme();
      this.term?.dispose();
      this.term = new Terminal({ ...terminalOptions, fontSize: terminalFontSize(), cols: this.cast.width, rows: this.cast.height, disableStdin: true, cursorBlink: false });
      this.untheme = followSystemTheme(this.term);
      this.term.open(this.host);
      this.retime();
      this.renderMarkers();
      this.playBtn.disabled = false;
      this.slider.disabled = false;
      this.toEnd(); // open on the final frame: what the run ended with
    } catch (err) {
      if (err instanceof ApiError && err.status === 404 && attempt < 10) {
        this.status.textContent = 'the recording is not uploaded yet…';
        setTimeout(() => void this.load(attempt + 1), 1000);
        return;
      }
      this.failed = true;
      this.status.textContent = `no recording: ${errorText(err)}`;
    }
  }

  /** The link is back after a cut: a load that failed meanwhile is tried again. */
  retryIfFailed(): void {
    if (this.failed) void this.load();
  }

  destroy(): void {
    this.destroyed = true;
    this.stopTimer();
    this.untheme();
    this.term?.dispose();
  }

  play(): void {
    if (!this.term) return;
    if (this.pos >= this.cast.events.length) this.seek(0);
    this.playing = true;
    this.startedAt = performance.now();
    this.startVt = this.vt;
    this.playBtn.textContent = 'Pause';
    this.tick();
  }

  pause(): void {
    if (!this.playing) return;
    this.vt = this.now();
    this.playing = false;
    this.stopTimer();
    this.playBtn.textContent = 'Play';
    this.renderStatus();
  }

  setSpeed(s: number): void {
    this.rebase();
    this.speed = s;
    for (const b of this.speedBtns) b.setAttribute('aria-pressed', String(Number(b.dataset.speed) === s));
    this.reschedule();
  }

  /** A new idle limit: the same event stays on screen, at its new instant. */
  setIdleLimit(limit: number): void {
    this.rebase();
    this.idleLimit = limit;
    this.retime();
    this.vt = this.pos > 0 ? Math.min(this.duration, this.times[this.pos - 1] ?? 0) : 0;
    if (this.playing) this.startVt = this.vt;
    this.renderMarkers();
    this.reschedule();
    this.renderStatus();
  }

  restart(): void {
    this.seek(0);
    if (this.playing) {
      this.startVt = 0;
      this.startedAt = performance.now();
      this.reschedule();
    }
  }

  toEnd(): void {
    this.stopTimer();
    this.emitUntil(Number.POSITIVE_INFINITY);
    this.vt = this.duration;
    this.playing = false;
    this.playBtn.textContent = 'Play';
    this.renderStatus();
  }

  /** Shows the screen as it was at playback instant `t` (rebuilt from the start when going back). */
  seek(t: number, endIndex = Number.POSITIVE_INFINITY): void {
    const term = this.term;
    if (!term) return;
    const target = Math.max(0, Math.min(this.duration, t));
    if (target < this.vt || this.pos === 0) {
      term.reset();
      if (term.cols !== this.cast.width || term.rows !== this.cast.height) term.resize(this.cast.width, this.cast.height);
      this.pos = 0;
    }
    this.emitUntil(target, endIndex);
    this.vt = target;
    if (this.playing) {
      this.startVt = target;
      this.startedAt = performance.now();
      this.reschedule();
    }
    this.renderStatus();
  }

  /**
   * Shows the screen as step `index` began (its `m` marker; the last one, for the latest attempt
   * of a requeued run) and brings the player into view; false when the recording has no such mark.
   */
  seekToStep(index: number): boolean {
    const label = stepMarkerLabel(index, 'start');
    const at = this.cast.events.findLastIndex((ev) => ev.type === 'm' && ev.data === label);
    if (!this.term || at < 0) return false;
    // up to the marker itself: output in the same millisecond after it belongs to the step
    this.seek(this.times[at] ?? 0, at + 1);
    this.el.scrollIntoView({ block: 'nearest' });
    return true;
  }

  private setFit(on: boolean): void {
    this.fitWidth = on;
    this.fitBtn.setAttribute('aria-pressed', String(on));
    this.el.classList.toggle('fit-width', on);
    this.applyFit();
  }

  /** Fit width: the font that shows every column in the panel; off: the chosen size, sideways scroll. */
  private applyFit(): void {
    const term = this.term;
    if (!term) return;
    const base = terminalFontSize();
    if (!this.fitWidth) {
      term.options.fontSize = base;
      return;
    }
    // the screen's width scales with the font: one measurement at the current size is enough
    const width = this.host.querySelector<HTMLElement>('.xterm-screen')?.getBoundingClientRect().width ?? 0;
    const avail = this.host.clientWidth - 12;
    const current = term.options.fontSize ?? base;
    if (width > 0 && avail > 0) term.options.fontSize = Math.max(MIN_FONT_SIZE - 2, Math.min(base, Math.floor(((current * avail) / width) * 2) / 2));
  }

  private retime(): void {
    this.times = idleLimited(this.cast.events, this.idleLimit);
    this.duration = this.times.at(-1) ?? 0;
    this.slider.max = String(this.duration);
  }

  private renderMarkers(): void {
    clear(this.markers);
    const marks = this.cast.events.map((ev, i) => ({ ev, at: this.times[i] ?? 0 })).filter((m) => m.ev.type === 'm');
    this.markers.hidden = marks.length === 0;
    if (!marks.length) return;
    append(this.markers, h('span.muted', {}, 'Jump to: '));
    marks.forEach((m, n) => {
      const b = h('button.small', { type: 'button', 'data-marker': n, title: `at ${countdown(m.at * 1000)}` }, m.ev.data || `marker ${n + 1}`);
      b.addEventListener('click', () => this.seek(m.at));
      append(this.markers, b);
    });
  }

  private rebase(): void {
    if (!this.playing) return;
    this.vt = this.now();
    this.startVt = this.vt;
    this.startedAt = performance.now();
  }

  private reschedule(): void {
    if (!this.playing) return;
    this.stopTimer();
    this.tick();
  }

  private now(): number {
    return this.startVt + ((performance.now() - this.startedAt) / 1000) * this.speed;
  }

  private tick(): void {
    if (!this.playing) return;
    const vt = this.now();
    this.emitUntil(vt);
    this.vt = Math.min(vt, this.duration);
    this.renderStatus();
    const next = this.times[this.pos];
    if (next === undefined) {
      this.playing = false;
      this.playBtn.textContent = 'Play';
      this.vt = this.duration;
      this.renderStatus();
      return;
    }
    const wait = Math.max(0, ((next - vt) / this.speed) * 1000);
    this.timer = setTimeout(() => this.tick(), Math.min(wait, 250));
  }

  /** Writes every event up to playback instant `vt` (and before index `endIndex`; output batched in one write). */
  private emitUntil(vt: number, endIndex = Number.POSITIVE_INFINITY): void {
    const term = this.term;
    if (!term) return;
    let out = '';
    while (this.pos < this.cast.events.length && this.pos < endIndex) {
      const ev = this.cast.events[this.pos] as CastEvent;
      if ((this.times[this.pos] ?? 0) > vt) break;
      if (ev.type === 'o') out += ev.data;
      else if (ev.type === 'r') {
        const m = /^(\d+)x(\d+)$/.exec(ev.data);
        if (m) {
          if (out) term.write(out);
          out = '';
          term.resize(Number(m[1]), Number(m[2]));
        }
      }
      this.pos++;
    }
    if (out) term.write(out, () => this.fitWidth && this.applyFit());
  }

  private stopTimer(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  private renderStatus(): void {
    this.slider.value = String(this.vt);
    this.slider.setAttribute('aria-valuetext', `${countdown(this.vt * 1000)} of ${countdown(this.duration * 1000)}`);
    this.status.textContent = `${countdown(this.vt * 1000)} / ${countdown(this.duration * 1000)}`;
  }
}
