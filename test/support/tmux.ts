/**
 * tmux as a person's terminal in tests: a private server (own socket and config) whose panes
 * run commands, take keys and pastes, and are read back — the screen with attributes
 * (`capture-pane -e`) and the terminal state tmux keeps for each pane (cursor, modes, scroll
 * region, tab stops). tmux is the independent emulator the late-join tests compare against
 * (architecture §5).
 */
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { waitUntil } from './wait.ts';

/** Quotes a string for sh. */
export const sh = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;

/** The PATH a pane gets: this Node first (the CLI runs on it). */
const PATH = `${dirname(process.execPath)}:${process.env.PATH ?? ''}`;

/**
 * Per-pane state tmux keeps, by format name: what later output does (cursor, modes, scroll
 * region, tab stops) and what the pane's keys send (cursor keys, keypad, mouse mode and encoding).
 * tmux 3.3 has no format for bracketed paste: tests check it with `paste-buffer -p`.
 */
export const PANE_STATE_FORMATS = [
  'cursor_x',
  'cursor_y',
  'cursor_flag',
  'insert_flag',
  'wrap_flag',
  'origin_flag',
  'keypad_cursor_flag',
  'keypad_flag',
  'mouse_standard_flag',
  'mouse_button_flag',
  'mouse_any_flag',
  'mouse_all_flag',
  'mouse_sgr_flag',
  'mouse_utf8_flag',
  'alternate_on',
  'alternate_saved_x',
  'alternate_saved_y',
  'scroll_region_upper',
  'scroll_region_lower',
  'pane_tabs',
] as const;
export type PaneStateFormat = (typeof PANE_STATE_FORMATS)[number];

export interface PaneState {
  /** The visible rows, each with its attributes as canonicalRows() writes what tmux captures (`capture-pane -e`). */
  rows: string[];
  flags: Record<PaneStateFormat, string>;
  /** The lines scrolled off the top, oldest first, with attributes (when asked for). */
  history?: string[];
}

export class Tmux {
  readonly socket = `handoff-test-${process.pid}-${randomUUID().slice(0, 8)}`;
  private readonly dir = mkdtempSync(join(tmpdir(), 'handoff-tmux-'));
  private readonly conf = join(this.dir, 'tmux.conf');
  private n = 0;

  constructor() {
    writeFileSync(this.conf, 'set -g remain-on-exit on\nset -g history-limit 5000\nset -g status off\n');
  }

  tmux(...args: string[]): string {
    return execFileSync('tmux', ['-L', this.socket, '-f', this.conf, ...args], { encoding: 'utf8', timeout: 10_000, stdio: ['ignore', 'pipe', 'pipe'] });
  }

  /** Runs a shell line in a new cols × rows terminal; answers the pane's name. */
  spawn(cmd: string, env: Record<string, string> = {}, size: { cols?: number; rows?: number } = {}): string {
    const name = `s${++this.n}`;
    const vars = Object.entries({ PATH, ...env })
      .map(([k, v]) => `${k}=${sh(v)}`)
      .join(' ');
    this.tmux('new-session', '-d', '-s', name, '-x', String(size.cols ?? 120), '-y', String(size.rows ?? 40), `env ${vars} sh -c ${sh(cmd)}`);
    return name;
  }

  /** Starts `cmd` in a 120×40 terminal; after it, the shell checks the tty modes came back and shows the exit status. */
  start(cmd: string, env: Record<string, string>): string {
    return this.spawn(`before=$(stty -g); ${cmd}; code=$?; [ "$before" = "$(stty -g)" ] && echo TTY-RESTORED; echo "EXIT=$code"; read _; exit $code`, env);
  }

  /** Screen and history as text, wrapped lines joined. */
  screen(name: string): string {
    return this.tmux('capture-pane', '-p', '-J', '-S', '-200', '-t', name);
  }

  /** The visible rows with attributes (canonicalRows), trailing blank rows dropped; line-drawing characters as the glyphs a person sees. */
  rows(name: string): string[] {
    const rows = this.captured(name);
    while (rows.length && rows[rows.length - 1] === '') rows.pop();
    return rows;
  }

  /** The lines scrolled off the top (the pane's history), oldest first, as rows() shows rows. */
  history(name: string): string[] {
    if (this.format(name, '#{history_size}') === '0') return [];
    return this.captured(name, '-S', '-', '-E', '-1');
  }

  private captured(name: string, ...range: string[]): string[] {
    return canonicalRows(this.tmux('capture-pane', '-p', '-e', '-N', ...range, '-t', name).replace(/\n$/, '').split('\n'));
  }

  format(name: string, fmt: string): string {
    return this.tmux('display-message', '-p', '-t', name, fmt).trim();
  }

  state(name: string, withHistory = false): PaneState {
    const values = this.format(name, PANE_STATE_FORMATS.map((f) => `#{${f}}`).join('\t')).split('\t');
    const flags = Object.fromEntries(PANE_STATE_FORMATS.map((f, i) => [f, values[i] ?? ''])) as Record<PaneStateFormat, string>;
    return { rows: this.rows(name), flags, ...(withHistory ? { history: this.history(name) } : {}) };
  }

  keys(name: string, ...keys: string[]): void {
    this.tmux('send-keys', '-t', name, ...keys);
  }

  /** Pastes `text` as a person's terminal would (bracketed if the pane asked for it). */
  paste(name: string, text: string): void {
    this.tmux('set-buffer', '-b', 'test-paste', text);
    this.tmux('paste-buffer', '-p', '-d', '-b', 'test-paste', '-t', name);
  }

  resize(name: string, cols: number, rows: number): void {
    this.tmux('resize-window', '-t', name, '-x', String(cols), '-y', String(rows));
  }

  /** Waits until the command exited (the shell then waits for Enter, so the terminal's state stays readable); answers its exit status. */
  async exited(name: string, timeoutMs = 20_000): Promise<number> {
    const m = await waitUntil(`the command in ${name} to exit`, () => /^EXIT=(\d+)$/m.exec(this.screen(name)) ?? undefined, timeoutMs, 100);
    return Number(m[1]);
  }

  close(): void {
    try {
      this.tmux('kill-server');
    } catch {
      // no server left
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** One cell's attributes, as the SGR parameters that set them from the default ('' for the default). */
interface Sgr {
  attrs: Map<string, string>;
  fg: string;
  bg: string;
  ul: string;
}

const freshSgr = (): Sgr => ({ attrs: new Map(), fg: '', bg: '', ul: '' });

/** Which attribute each SGR code sets, and which codes turn attributes off. */
const SETS: Record<string, string> = { '1': 'bold', '2': 'dim', '3': 'italic', '4': 'underline', '5': 'blink', '7': 'inverse', '8': 'hidden', '9': 'strike', '21': 'underline', '53': 'overline' };
const UNSETS: Record<string, string[]> = { '22': ['bold', 'dim'], '23': ['italic'], '24': ['underline'], '25': ['blink'], '27': ['inverse'], '28': ['hidden'], '29': ['strike'], '55': ['overline'] };

/** Applies one SGR sequence's parameters (`1;38;5;208`, `4:3`) to `st`. */
function applySgr(st: Sgr, params: string): void {
  const ps = params === '' ? ['0'] : params.split(';');
  for (let i = 0; i < ps.length; i++) {
    const p = ps[i] as string;
    const [code = '', ...sub] = p.split(':');
    const n = Number(code);
    if (code === '' || n === 0) Object.assign(st, freshSgr());
    else if (code === '4' && sub.length) {
      if (sub[0] === '0') st.attrs.delete('underline');
      else st.attrs.set('underline', `4:${sub[0]}`);
    } else if (code === '21') st.attrs.set('underline', '4:2');
    else if (SETS[code]) st.attrs.set(SETS[code] as string, code);
    else if (UNSETS[code]) for (const a of UNSETS[code] as string[]) st.attrs.delete(a);
    else if ((n >= 30 && n <= 37) || (n >= 90 && n <= 97)) st.fg = code;
    else if ((n >= 40 && n <= 47) || (n >= 100 && n <= 107)) st.bg = code;
    else if (n === 39) st.fg = '';
    else if (n === 49) st.bg = '';
    else if (n === 59) st.ul = '';
    else if (n === 38 || n === 48 || n === 58) {
      // a colour: its own sub-parameters (38:5:n), or the next parameters (38;5;n, 38;2;r;g;b)
      let colour: string;
      if (sub.length) colour = [code, ...sub].join(';');
      else {
        const take = ps[i + 1] === '5' ? 2 : ps[i + 1] === '2' ? 4 : 0;
        colour = ps.slice(i, i + 1 + take).join(';');
        i += take;
      }
      if (n === 38) st.fg = colour;
      else if (n === 48) st.bg = colour;
      else st.ul = colour;
    }
  }
}

const sgrKey = (st: Sgr): string => [...[...st.attrs.values()].sort(), st.fg, st.bg, st.ul].filter((v) => v !== '').join(';');

/** What of `st` a blank shows: its background and the lines drawn through it; with reverse video, its foreground too. */
function blankKey(st: Sgr): string {
  if (st.attrs.has('inverse')) return sgrKey(st);
  const lines = ['underline', 'strike', 'overline'].filter((a) => st.attrs.has(a)).map((a) => st.attrs.get(a) as string);
  return [...lines.sort(), st.bg, st.attrs.has('underline') ? st.ul : ''].filter((v) => v !== '').join(';');
}

/**
 * A captured row as the cells a person sees: tmux writes SGR changes from the previous cell, also
 * across rows, and a row's text ends where its last written or cleared cell does, so the same
 * screen can be captured differently (cleared cells after a reverse-video blank keep the blank,
 * a row's reset comes at its end or at the next row's start). Each row is rewritten from the
 * default attributes, each run of cells with its own attributes (of a blank, what a blank shows).
 * Trailing blanks that show at most a background are dropped: tmux captures a background-coloured
 * blank cleared at a row's end (`CSI K` after a colour) only where the row had been written
 * before, so whether one shows cannot be read back. `st` carries the attributes from row to row
 * as the capture does.
 */
function canonicalRow(row: string, st: Sgr): string {
  const cells: { text: string; key: string; bgOnly: boolean }[] = [];
  for (let i = 0; i < row.length; ) {
    // eslint-disable-next-line no-control-regex -- matching terminal escape sequences is the point
    const m = /^\x1b\[([0-9;:]*)m/.exec(row.slice(i, i + 64));
    if (m) {
      applySgr(st, m[1] as string);
      i += m[0].length;
      continue;
    }
    const ch = String.fromCodePoint(row.codePointAt(i) as number);
    cells.push({ text: ch, key: ch === ' ' ? blankKey(st) : sgrKey(st), bgOnly: ch === ' ' && blankKey({ ...st, bg: '' }) === '' });
    i += ch.length;
  }
  while (cells.at(-1)?.bgOnly) cells.pop();
  let out = '';
  let key = '';
  for (const c of cells) {
    if (c.key !== key) out += c.key === '' ? '\x1b[0m' : `\x1b[0;${c.key}m`;
    key = c.key;
    out += c.text;
  }
  return out;
}

/** Captured rows (`capture-pane -e -N`) as canonicalRow() writes them. */
export function canonicalRows(rows: string[]): string[] {
  const st = freshSgr();
  return rows.map((r) => canonicalRow(lineDrawingAsGlyphs(r), st));
}

/** DEC special graphics (ESC ( 0), 0x5f–0x7e: the glyph each byte shows. */
const DEC_GRAPHICS = ' ◆▒␉␌␍␊°±␤␋┘┐┌└┼⎺⎻─⎼⎽├┤┴┬│≤≥π≠£·';

/**
 * tmux keeps a character drawn through DEC special graphics as its ASCII byte and captures it
 * between SO and SI; the same glyph written as Unicode (e.g. by a snapshot) is captured as is.
 * Both look alike on a screen: compare them as the glyphs.
 */
export function lineDrawingAsGlyphs(row: string): string {
  let out = '';
  let acs = false;
  for (let i = 0; i < row.length; i++) {
    const ch = row[i] as string;
    if (ch === '\x0e') acs = true;
    else if (ch === '\x0f') acs = false;
    else if (ch === '\x1b') {
      // an escape sequence (SGR) is copied whole: its letters are no line drawing
      // eslint-disable-next-line no-control-regex -- matching terminal escape sequences is the point
      const m = /^\x1b\[[0-?]*[ -/]*[@-~]|^\x1b./.exec(row.slice(i));
      const seq = m ? m[0] : ch;
      out += seq;
      i += seq.length - 1;
    } else {
      const c = ch.charCodeAt(0);
      out += acs && c >= 0x5f && c <= 0x7e ? DEC_GRAPHICS[c - 0x5f] : ch;
    }
  }
  return out;
}

/** Row-by-row differences of two pane states (empty when equal), for a failure message. */
export function stateDifferences(want: PaneState, got: PaneState): string[] {
  const out: string[] = [];
  for (const f of PANE_STATE_FORMATS) {
    // the cursor saved by ?1049h is tmux's leftover once the alternate screen is off: the next ?1049h saves anew
    if (f.startsWith('alternate_saved_') && want.flags.alternate_on !== '1' && got.flags.alternate_on !== '1') continue;
    if (want.flags[f] !== got.flags[f]) out.push(`${f}: ${want.flags[f]} ≠ ${got.flags[f]}`);
  }
  const n = Math.max(want.rows.length, got.rows.length);
  for (let i = 0; i < n; i++) {
    const a = want.rows[i] ?? '';
    const b = got.rows[i] ?? '';
    if (a !== b) out.push(`row ${i + 1}:\n    want ${JSON.stringify(a)}\n    got  ${JSON.stringify(b)}`);
  }
  if (want.history && got.history) {
    if (want.history.length !== got.history.length) out.push(`history: ${want.history.length} lines ≠ ${got.history.length}`);
    const first = want.history.findIndex((line, i) => line !== got.history?.[i]);
    if (first >= 0) out.push(`history line ${first + 1}:\n    want ${JSON.stringify(want.history[first])}\n    got  ${JSON.stringify(got.history[first] ?? '')}`);
  }
  return out;
}
