/**
 * The live terminal of a run: one xterm per pane (task, and the operator shell during a
 * takeover) as tabs, each the sink of a pane of the run's ViewerLink (common/viewerLink.ts:
 * snapshot, offset-checked chunks, resync, rejoin). Read-only by default: keystrokes go out as `pane:input` only
 * while the tab holds a write grant, and the badge says so with the time left. The RW holder's
 * window size becomes the pty's (fit addon → `pane:resize`); read-only viewers scale the font
 * to show the pty's columns instead.
 */
import { FitAddon } from '@xterm/addon-fit';
import { SearchAddon } from '@xterm/addon-search';
import { WebLinksAddon } from '@xterm/addon-web-links';
import { Terminal } from '@xterm/xterm';
import { DEFAULT_COLS, DEFAULT_ROWS, OPERATOR_PANE, TASK_PANE } from '../../../common/protocol.ts';
import type { PaneSink, RwView, ViewerLink } from '../../../common/viewerLink.ts';
import { copyText, h } from '../dom.ts';
import { countdown } from '../format.ts';
import { StepMarks } from './stepMarks.ts';
import { focusAfter, LEAVE_HINT_RO, LEAVE_HINT_RW, terminalKeyHandler } from './terminalKeys.ts';
import { followSystemTheme, terminalOptions } from './xtermTheme.ts';
import { MAX_FONT_SIZE, MIN_FONT_SIZE, setTerminalFontSize, terminalFontSize } from '../prefs.ts';

interface PaneView {
  id: string;
  term: Terminal;
  fit: FitAddon;
  search: SearchAddon;
  host: HTMLElement;
  tab: HTMLButtonElement;
  marks: StepMarks;
  untheme: () => void;
}

// A Map, not an object: a worker names its panes, and `constructor` is a valid pane id.
const TITLES = new Map<string, string>([
  [TASK_PANE, 'task'],
  [OPERATOR_PANE, 'operator shell'],
]);
const encoder = new TextEncoder();

export class TerminalView {
  readonly el: HTMLElement;
  private readonly tabs: HTMLElement;
  private readonly body: HTMLElement;
  private readonly badge: HTMLElement;
  private readonly notice: HTMLElement;
  private readonly keyHint: HTMLElement;
  private readonly panes = new Map<string, PaneView>();
  private active: string = TASK_PANE;
  private rw: RwView = { canWrite: false, until: null };
  private ticker: ReturnType<typeof setInterval> | null = null;
  private noticeTimer: ReturnType<typeof setTimeout> | null = null;
  private fitTimer: ReturnType<typeof setTimeout> | null = null;
  private readonly observer: ResizeObserver;
  private ended = false;
  private fontSize = terminalFontSize();
  private readonly searchCount = h('span.search-count', { 'data-testid': 'search-count', 'aria-live': 'polite' });
  private readonly fontLabel = h('span.font-size', { 'data-testid': 'font-size', 'aria-live': 'polite' });

  constructor(private readonly link: ViewerLink) {
    this.tabs = h('div.pane-tabs', { role: 'tablist' });
    this.badge = h('span.rw-badge.ro', { 'data-testid': 'rw-badge', 'aria-live': 'polite' }, 'read-only');
    this.notice = h('span.term-notice', { 'aria-live': 'polite' });
    const search = h('input.term-search', { type: 'search', placeholder: 'Search output', title: 'Enter: next match, Shift+Enter: previous', 'aria-label': 'search the terminal output (Enter: next, Shift+Enter: previous)', 'data-testid': 'term-search' });
    search.addEventListener('input', () => {
      if (!search.value) this.searchCount.textContent = '';
    });
    search.addEventListener('keydown', (ev) => {
      if (ev.key !== 'Enter') return;
      const p = this.panes.get(this.active);
      if (!p || !search.value) return;
      const opts = { caseSensitive: false, decorations: { matchOverviewRuler: '#e3b341', activeMatchColorOverviewRuler: '#ff7b72', matchBackground: '#6e5b1e', activeMatchBackground: '#9e6a03' } };
      if (ev.shiftKey) p.search.findPrevious(search.value, opts);
      else p.search.findNext(search.value, opts);
    });
    this.body = h('div.term-body');
    this.keyHint = h('p.term-keys', { 'data-testid': 'term-keys' }, LEAVE_HINT_RO);
    const copyAll = h('button.small', { type: 'button', 'data-action': 'copy-output', title: 'copy the whole output of this pane' }, 'Copy all');
    copyAll.addEventListener('click', () => void copyText(this.text(this.active)).then(() => this.flash('output copied')));
    const download = h('button.small', { type: 'button', 'data-action': 'download-output', title: 'download the output of this pane as text' }, 'Download .txt');
    download.addEventListener('click', () => this.download());
    const smaller = h('button.small', { type: 'button', 'data-action': 'font-smaller', 'aria-label': 'A\u2212 smaller terminal text' }, 'A\u2212');
    smaller.addEventListener('click', () => this.setFont(this.fontSize - 1));
    const larger = h('button.small', { type: 'button', 'data-action': 'font-larger', 'aria-label': 'A+ larger terminal text' }, 'A+');
    larger.addEventListener('click', () => this.setFont(this.fontSize + 1));
    const focus = h('button.small', { type: 'button', 'data-action': 'focus-mode', 'aria-pressed': 'false', title: 'the terminal alone on the screen' }, 'Focus');
    focus.addEventListener('click', () => {
      const on = this.el.classList.toggle('focus-mode');
      document.body.classList.toggle('has-focus-mode', on);
      focus.setAttribute('aria-pressed', String(on));
      focus.textContent = on ? 'Exit focus' : 'Focus';
      this.layoutSoon();
    });
    this.fontLabel.textContent = `${this.fontSize}px`;
    this.el = h(
      'section.panel.terminal-panel',
      { 'data-can-write': 'false' },
      h('header.term-head', {}, this.tabs, this.badge, this.notice, search, this.searchCount, h('span.group', { role: 'group', 'aria-label': 'terminal text size' }, smaller, this.fontLabel, larger), copyAll, download, focus),
      this.body,
      this.keyHint,
      h('p.term-empty', {}, 'Waiting for the run\u2019s terminal…'),
    );
    this.observer = new ResizeObserver(() => this.layoutSoon());
    this.observer.observe(this.body);

    const s = link.socket;
    link.on('rw', (rw) => this.setRw(rw));
    link.on('joined', () => {
      this.ended = false;
      this.el.classList.remove('ended');
      this.layoutSoon();
    });
    link.on('paneResized', (paneId, cols, rows) => {
      const p = this.panes.get(paneId);
      if (p && (p.term.cols !== cols || p.term.rows !== rows)) {
        p.term.resize(cols, rows);
        this.layoutSoon();
      }
    });
    s.on('notice', (runId, _code, message) => {
      if (runId === link.runId) this.flash(message);
    });
    s.on('session:ended', (runId, status, reason) => {
      if (runId !== link.runId) return;
      this.ended = true;
      this.el.classList.add('ended');
      this.showNotice(`live session ${status}: ${reason}`);
    });
  }

  /** The link's sink factory: a tab and an xterm per pane. */
  readonly sink = (paneId: string, cols: number, rows: number): PaneSink => {
    const p = this.ensurePane(paneId, cols || DEFAULT_COLS, rows || DEFAULT_ROWS);
    return {
      write: (d) => p.term.write(d),
      mark: (step, line) => p.marks.place(step, line),
      reset: (c, r) => {
        p.marks.clear();
        p.term.reset();
        if (p.term.cols !== c || p.term.rows !== r) p.term.resize(c, r);
        this.layoutSoon();
      },
    };
  };

  /** The run's takeover began or ended: either way the task pane comes (back) to the front. */
  setTakeover(on: boolean): void {
    const op = this.panes.get(OPERATOR_PANE);
    if (op) op.tab.textContent = on ? TITLES.get(OPERATOR_PANE) ?? OPERATOR_PANE : `${TITLES.get(OPERATOR_PANE) ?? OPERATOR_PANE} (closed)`;
    if (!on && this.active !== TASK_PANE) this.activate(TASK_PANE);
  }

  /** Brings the task pane to the front, scrolled to where step `index` began; false when it has no mark. */
  scrollToStep(index: number): boolean {
    const p = this.panes.get(TASK_PANE);
    if (!p) return false;
    this.activate(TASK_PANE);
    return p.marks.scrollTo(index);
  }

  /** Text of a pane's buffer (scrollback included), for tests and copy. */
  text(paneId = TASK_PANE): string {
    const p = this.panes.get(paneId);
    if (!p) return '';
    const buf = p.term.buffer.active;
    const lines: string[] = [];
    for (let i = 0; i < buf.length; i++) lines.push(buf.getLine(i)?.translateToString(true) ?? '');
    return lines.join('\n').replace(/\n+$/, '');
  }

  /** Saves a pane's output as a text file (scrollback included). */
  private download(): void {
    const blob = new Blob([`${this.text(this.active)}\n`], { type: 'text/plain;charset=utf-8' });
    const url = URL.createObjectURL(blob);
    const a = h('a', { href: url, download: `run-${this.link.runId?.slice(0, 8) ?? 'output'}-${this.active}.txt` });
    document.body.appendChild(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10_000);
  }

  destroy(): void {
    this.observer.disconnect();
    if (this.ticker) clearInterval(this.ticker);
    if (this.noticeTimer) clearTimeout(this.noticeTimer);
    if (this.fitTimer) clearTimeout(this.fitTimer);
    document.body.classList.remove('has-focus-mode');
    for (const p of this.panes.values()) {
      p.untheme();
      p.term.dispose();
    }
  }

  private ensurePane(paneId: string, cols = DEFAULT_COLS, rows = DEFAULT_ROWS): PaneView {
    const existing = this.panes.get(paneId);
    if (existing) return existing;
    this.el.classList.add('has-panes');
    const host = h('div.term-host', { 'data-pane': paneId, role: 'tabpanel' });
    this.body.appendChild(host);
    // a sideways wheel / trackpad swipe scrolls a pty wider than the window (xterm would take it for its scrollback)
    host.addEventListener(
      'wheel',
      (ev) => {
        if (Math.abs(ev.deltaX) <= Math.abs(ev.deltaY) || host.scrollWidth <= host.clientWidth) return;
        host.scrollLeft += ev.deltaX;
        ev.preventDefault();
        ev.stopPropagation();
      },
      { capture: true, passive: false },
    );
    const term = new Terminal({ ...terminalOptions, fontSize: this.fontSize, cols, rows });
    const fit = new FitAddon();
    const search = new SearchAddon();
    term.loadAddon(fit);
    term.loadAddon(search);
    search.onDidChangeResults(({ resultIndex, resultCount }) => {
      if (this.active !== paneId) return;
      this.searchCount.textContent = resultCount === 0 ? 'no results' : resultIndex >= 0 ? `${resultIndex + 1} of ${resultCount}` : `${resultCount} matches`;
    });
    term.loadAddon(new WebLinksAddon((_ev, uri) => window.open(uri, '_blank', 'noopener,noreferrer')));
    term.open(host);
    const tab = h('button.pane-tab', { type: 'button', role: 'tab', 'data-pane': paneId }, TITLES.get(paneId) ?? paneId);
    tab.addEventListener('click', () => this.activate(paneId));
    this.tabs.appendChild(tab);
    const view: PaneView = {
      id: paneId,
      term,
      fit,
      search,
      host,
      tab,
      marks: new StepMarks(term),
      untheme: followSystemTheme(term),
    };
    term.attachCustomKeyEventHandler(
      terminalKeyHandler(term, {
        canWrite: () => this.rw.canWrite,
        copy: (text) => void copyText(text).then(() => this.flash('copied')),
        paste: () => void this.paste(view),
        leave: () => focusAfter(this.el),
        refused: () => this.flash('read-only: ask for a write grant to type into this run'),
      }),
    );
    term.onData((d) => this.input(view, encoder.encode(d)));
    term.onBinary((d) => this.input(view, Uint8Array.from(d, (c) => c.charCodeAt(0) & 0xff)));
    this.panes.set(paneId, view);
    // the task pane stays in front (a takeover types into the task); the operator shell is a tab away
    if (this.panes.size === 1 || paneId === TASK_PANE) this.activate(paneId);
    else this.activate(this.active);
    return view;
  }

  private activate(paneId: string): void {
    if (!this.panes.has(paneId)) return;
    this.active = paneId;
    for (const p of this.panes.values()) {
      const on = p.id === paneId;
      p.host.classList.toggle('active', on);
      p.tab.classList.toggle('active', on);
      p.tab.setAttribute('aria-selected', String(on));
    }
    this.el.dataset.activePane = paneId;
    this.layoutSoon();
  }

  private async paste(p: PaneView): Promise<void> {
    if (!this.rw.canWrite) {
      this.flash('read-only: nothing is pasted into the run');
      return;
    }
    let text: string;
    try {
      text = await navigator.clipboard.readText();
    } catch {
      this.flash('the browser refused to read the clipboard: use Shift+Insert or the browser\u2019s paste');
      return;
    }
    if (text) p.term.paste(text);
  }

  private input(p: PaneView, bytes: Uint8Array): void {
    if (!this.rw.canWrite) {
      this.flash('read-only: ask for a write grant to type into this run');
      return;
    }
    this.link.sendInput(p.id, bytes);
  }

  private setRw(rw: RwView): void {
    const was = this.rw.canWrite;
    this.rw = rw;
    this.el.dataset.canWrite = String(rw.canWrite);
    this.keyHint.textContent = rw.canWrite ? LEAVE_HINT_RW : LEAVE_HINT_RO;
    for (const p of this.panes.values()) p.term.options.cursorBlink = rw.canWrite;
    if (this.ticker) clearInterval(this.ticker);
    this.ticker = null;
    if (rw.canWrite) {
      this.ticker = setInterval(() => this.renderBadge(), 250);
      this.panes.get(this.active)?.term.focus();
    } else if (was) {
      this.flash(`back to read-only${rw.reason ? ` (${rw.reason})` : ''}`);
    }
    this.renderBadge();
    this.layoutSoon();
  }

  private renderBadge(): void {
    const rw = this.rw;
    if (rw.canWrite && rw.until) {
      const left = Date.parse(rw.until) - Date.now();
      if (left <= 0) {
        return; // the link drops to read-only on its own timer

      }
      this.badge.className = 'rw-badge rw';
      this.badge.textContent = `you are typing into a live run \u2014 ${countdown(left)} left`;
    } else {
      this.badge.className = 'rw-badge ro';
      this.badge.textContent = 'read-only';
    }
  }

  private flash(message: string): void {
    this.showNotice(message);
    if (this.noticeTimer) clearTimeout(this.noticeTimer);
    this.noticeTimer = setTimeout(() => {
      if (!this.ended) this.notice.textContent = '';
    }, 3000);
  }

  private showNotice(message: string): void {
    this.notice.textContent = message;
  }

  private layoutSoon(): void {
    if (this.fitTimer) clearTimeout(this.fitTimer);
    this.fitTimer = setTimeout(() => this.layout(), 60);
  }

  private setFont(n: number): void {
    this.fontSize = setTerminalFontSize(Math.max(MIN_FONT_SIZE, Math.min(MAX_FONT_SIZE, n)));
    this.fontLabel.textContent = `${this.fontSize}px`;
    this.layoutSoon();
  }

  /**
   * Every pane at the chosen font size. The RW holder's pty follows the window (fit); a
   * read-only viewer keeps the pty's size and scrolls sideways when it is wider than the window
   * (issue 15: a shrunk 7 px font was unreadable, a clipped right side unreachable).
   */
  private layout(): void {
    for (const v of this.panes.values()) if (v.term.options.fontSize !== this.fontSize) v.term.options.fontSize = this.fontSize;
    const p = this.panes.get(this.active);
    if (!p || !this.body.clientWidth || !this.rw.canWrite) return;
    const dims = p.fit.proposeDimensions();
    if (!dims || !Number.isFinite(dims.cols) || dims.cols < 20 || dims.rows < 5) return;
    const cols = Math.min(dims.cols, 500);
    const rows = Math.min(dims.rows, 200);
    if (cols !== p.term.cols || rows !== p.term.rows) {
      p.term.resize(cols, rows);
      this.link.resize(p.id, cols, rows);
    }
  }
}
