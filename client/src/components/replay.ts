/**
 * Replay of a finished run's recording (GET …/recording, asciicast v2) in an xterm, with play /
 * pause, speed (1×, 2×, 4×), restart and skip-to-end. Idle gaps longer than 2 s are shortened
 * to 2 s, as asciinema's idle_time_limit does.
 */
import { Terminal } from '@xterm/xterm';
import { api, ApiError, retryOnNetwork } from '../api.ts';
import { append, h } from '../dom.ts';
import { countdown, errorText } from '../format.ts';
import { terminalOptions } from './xtermTheme.ts';

interface CastEvent {
  t: number;
  type: 'o' | 'r' | string;
  data: string;
}

const IDLE_LIMIT = 2;
const SPEEDS = [1, 2, 4];

export function parseAsciicast(text: string): { width: number; height: number; events: CastEvent[] } {
  const lines = text.split('\n').filter((l) => l.trim());
  const header = JSON.parse(lines[0] ?? '{}') as { version?: number; width?: number; height?: number };
  if (header.version !== 2) throw new Error('not an asciicast v2 recording');
  const events: CastEvent[] = [];
  let last = 0;
  let shift = 0;
  for (const line of lines.slice(1)) {
    let ev: unknown;
    try {
      ev = JSON.parse(line);
    } catch {
      continue; // a torn last line
    }
    if (!Array.isArray(ev) || typeof ev[0] !== 'number' || typeof ev[2] !== 'string') continue;
    const raw = ev[0];
    if (raw - last > IDLE_LIMIT) shift += raw - last - IDLE_LIMIT;
    last = raw;
    events.push({ t: raw - shift, type: String(ev[1]), data: ev[2] });
  }
  return { width: header.width ?? 80, height: header.height ?? 24, events };
}

export class Replay {
  readonly el: HTMLElement;
  private term: Terminal | null = null;
  private events: CastEvent[] = [];
  private duration = 0;
  private pos = 0;
  /** Playback position, seconds of (idle-shortened) recording time. */
  private vt = 0;
  private speed = 1;
  private playing = false;
  private startedAt = 0;
  private startVt = 0;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private readonly host = h('div.replay-host', { 'data-testid': 'replay-terminal' });
  private readonly status = h('span.muted.replay-status');
  private readonly progress = h('progress', { max: 1, value: 0, 'aria-label': 'replay position' });
  private readonly playBtn = h('button.primary', { type: 'button', 'data-action': 'replay-play', disabled: true }, 'Play');
  private readonly speedBtns: HTMLButtonElement[] = [];
  private failed = false;
  private destroyed = false;

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
    this.el = h(
      'section.panel.replay-panel',
      { 'data-testid': 'replay' },
      h('header.term-head', {}, h('h2', {}, 'Recording'), this.playBtn, speeds, restart, toEnd, this.progress, this.status),
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
      const cast = parseAsciicast(text);
      this.events = cast.events;
      this.duration = cast.events.at(-1)?.t ?? 0;
      this.term?.dispose();
      this.term = new Terminal({ ...terminalOptions, cols: cast.width, rows: cast.height, disableStdin: true, cursorBlink: false });
      this.term.open(this.host);
      this.pos = 0;
      this.vt = 0;
      this.playBtn.disabled = false;
      this.renderStatus();
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
    this.term?.dispose();
  }

  play(): void {
    if (!this.term) return;
    if (this.pos >= this.events.length) this.restart();
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
    if (this.playing) {
      this.vt = this.now();
      this.startVt = this.vt;
      this.startedAt = performance.now();
    }
    this.speed = s;
    for (const b of this.speedBtns) b.setAttribute('aria-pressed', String(Number(b.dataset.speed) === s));
    if (this.playing) {
      this.stopTimer();
      this.tick();
    }
  }

  restart(): void {
    this.stopTimer();
    this.term?.reset();
    this.pos = 0;
    this.vt = 0;
    this.startVt = 0;
    this.startedAt = performance.now();
    if (this.playing) this.tick();
    else this.renderStatus();
  }

  toEnd(): void {
    this.stopTimer();
    this.emitUntil(Number.POSITIVE_INFINITY);
    this.vt = this.duration;
    this.playing = false;
    this.playBtn.textContent = 'Play';
    this.renderStatus();
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
    const next = this.events[this.pos];
    if (!next) {
      this.playing = false;
      this.playBtn.textContent = 'Play';
      this.vt = this.duration;
      this.renderStatus();
      return;
    }
    const wait = Math.max(0, ((next.t - vt) / this.speed) * 1000);
    this.timer = setTimeout(() => this.tick(), Math.min(wait, 250));
  }

  private emitUntil(vt: number): void {
    const term = this.term;
    if (!term) return;
    while (this.pos < this.events.length) {
      const ev = this.events[this.pos] as CastEvent;
      if (ev.t > vt) break;
      if (ev.type === 'o') term.write(ev.data);
      else if (ev.type === 'r') {
        const m = /^(\d+)x(\d+)$/.exec(ev.data);
        if (m) term.resize(Number(m[1]), Number(m[2]));
      }
      this.pos++;
    }
  }

  private stopTimer(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  private renderStatus(): void {
    this.progress.value = this.duration ? this.vt / this.duration : this.pos >= this.events.length ? 1 : 0;
    this.status.textContent = `${countdown(this.vt * 1000)} / ${countdown(this.duration * 1000)}`;
  }
}
