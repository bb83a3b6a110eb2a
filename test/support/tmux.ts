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
  /** The visible rows, each with its SGR attributes as tmux renders them (`capture-pane -e`). */
  rows: string[];
  flags: Record<PaneStateFormat, string>;
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

  /** The visible rows with attributes, trailing blank rows dropped; line-drawing characters as the glyphs a person sees. */
  rows(name: string): string[] {
    const rows = this.tmux('capture-pane', '-p', '-e', '-t', name).split('\n').map(lineDrawingAsGlyphs).map(withoutTrailingResets);
    while (rows.length && rows[rows.length - 1] === '') rows.pop();
    return rows;
  }

  format(name: string, fmt: string): string {
    return this.tmux('display-message', '-p', '-t', name, fmt).trim();
  }

  state(name: string): PaneState {
    const values = this.format(name, PANE_STATE_FORMATS.map((f) => `#{${f}}`).join('\t')).split('\t');
    const flags = Object.fromEntries(PANE_STATE_FORMATS.map((f, i) => [f, values[i] ?? ''])) as Record<PaneStateFormat, string>;
    return { rows: this.rows(name), flags };
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

/** SGR codes that set an attribute back to its default: blanks after them look like no cell was written. */
// eslint-disable-next-line no-control-regex -- matching terminal escape sequences is the point
const TRAILING_RESETS = /(?:\x1b\[(?:(?:0|22|23|24|25|27|28|29|39|49|59)(?:;(?:0|22|23|24|25|27|28|29|39|49|59))*)?m)+$/;

/**
 * tmux ends a captured row with the SGR of its last written cells even when they are trimmed
 * blanks: blanks written with default attributes (a program clearing with spaces) and cleared
 * cells look the same on a screen, so resets at the end of a row are dropped.
 */
export function withoutTrailingResets(row: string): string {
  return row.replace(TRAILING_RESETS, '');
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
  return out;
}
