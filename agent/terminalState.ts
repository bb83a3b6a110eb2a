/**
 * The terminal state a late joiner needs besides the cells (architecture §5): everything that
 * changes what later bytes do or what the viewer's keys send. `readTerminalState()` takes it from
 * a mirror's xterm (public API where it has it, xtermInternals.ts where not, ModeTracker for what
 * xterm itself ignores); stateSequences.ts turns it into the bytes that recreate it.
 */
import type { Terminal } from '@xterm/headless';
import type { AttrSource, XtermBuffer, XtermInternals } from './xtermInternals.ts';
import { charsetFinal, COLOR_MODE, COLOR_MODE_MASK } from './xtermInternals.ts';

export type Color = { kind: 'default' } | { kind: 'p16' | 'p256'; index: number } | { kind: 'rgb'; rgb: number };

export interface Attributes {
  bold: boolean;
  dim: boolean;
  italic: boolean;
  /** 0 none, 1 single, 2 double, 3 curly, 4 dotted, 5 dashed (SGR 4:n). */
  underline: number;
  blink: boolean;
  inverse: boolean;
  invisible: boolean;
  strikethrough: boolean;
  overline: boolean;
  /** DECSCA: erasing with DECSED / DECSEL spares the character. */
  protected: boolean;
  fg: Color;
  bg: Color;
  underlineColor: Color;
}

export interface SavedCursor {
  x: number;
  /** Screen row. */
  y: number;
  attrs: Attributes;
  /** Final byte of the set DECRC maps GL through ('B': ASCII). */
  charset: string;
}

/** What one screen buffer (normal or alternate) holds besides its cells. */
export interface BufferState {
  x: number;
  y: number;
  /** A character was printed in the last column: the next one wraps first (xterm keeps x = cols). */
  pendingWrap: { chars: string; width: number; attrs: Attributes } | null;
  /** 0-based, inclusive. */
  scrollTop: number;
  scrollBottom: number;
  /** Tab stop columns, ascending. */
  tabs: number[];
  saved: SavedCursor;
}

export type MouseProtocol = 'none' | 'x10' | 'vt200' | 'drag' | 'any';
export type MouseEncoding = 'default' | 'utf8' | 'sgr' | 'urxvt' | 'sgr-pixels';

export interface TerminalState {
  cols: number;
  rows: number;
  normal: BufferState;
  /** Set while the alternate screen is shown (the normal one waits behind it). */
  alternate: BufferState | null;
  attrs: Attributes;
  /** Final bytes designated as G0..G3, the set invoked into GL (0–3), and the set GL maps through. */
  charsets: { g: [string, string, string, string]; gl: number; glCharset: string };
  modes: {
    insert: boolean;
    origin: boolean;
    wraparound: boolean;
    reverseWraparound: boolean;
    /** LNM: LF also returns the carriage. */
    newline: boolean;
    applicationCursorKeys: boolean;
    applicationKeypad: boolean;
    bracketedPaste: boolean;
    focusEvents: boolean;
    synchronizedOutput: boolean;
    cursorHidden: boolean;
    /** ?12 (att610). */
    cursorBlinking: boolean;
  };
  /** DECSCUSR, if the program set one. */
  cursorStyle: { style: 'block' | 'underline' | 'bar'; blink: boolean } | null;
  mouse: { protocol: MouseProtocol; encoding: MouseEncoding };
  keyboard: { modifyOtherKeys: number; kittyFlags: number };
  title: string;
}

const MOUSE_ENCODINGS: Record<number, MouseEncoding> = { 1005: 'utf8', 1006: 'sgr', 1015: 'urxvt', 1016: 'sgr-pixels' };
const KITTY_STACK_MAX = 16;

/**
 * Follows, on a mirror's parser, the state xterm.js parses but does not keep (mouse encodings
 * 1005 / 1015, modifyOtherKeys, the kitty keyboard flags) and the window title. Its handlers
 * only look, and return false so xterm's own handling goes on; they run only for the
 * sequences they name, so the cost per byte of output stays the same.
 */
export class ModeTracker {
  mouseEncoding: MouseEncoding = 'default';
  modifyOtherKeys = 0;
  private kitty: number[] = [];
  title = '';

  constructor(term: Terminal) {
    const p = term.parser;
    const each = (params: (number | number[])[], fn: (n: number) => void) => {
      for (const v of params) fn(typeof v === 'number' ? v : (v[0] ?? 0));
    };
    p.registerCsiHandler({ prefix: '?', final: 'h' }, (params) => {
      each(params, (n) => {
        const enc = MOUSE_ENCODINGS[n];
        if (enc) this.mouseEncoding = enc;
      });
      return false;
    });
    p.registerCsiHandler({ prefix: '?', final: 'l' }, (params) => {
      // as xterm.js: resetting any encoding goes back to the default one
      each(params, (n) => {
        if (MOUSE_ENCODINGS[n]) this.mouseEncoding = 'default';
      });
      return false;
    });
    // XTMODKEYS: CSI > 4 ; Pv m sets modifyOtherKeys, CSI > 4 m and CSI > 4 n reset it
    p.registerCsiHandler({ prefix: '>', final: 'm' }, (params) => {
      if (first(params) === 4) this.modifyOtherKeys = num(params[1]);
      return false;
    });
    p.registerCsiHandler({ prefix: '>', final: 'n' }, (params) => {
      if (first(params) === 4) this.modifyOtherKeys = 0;
      return false;
    });
    // kitty keyboard protocol: push (CSI > f u), pop (CSI < n u), set (CSI = f ; mode u)
    p.registerCsiHandler({ prefix: '>', final: 'u' }, (params) => {
      this.kitty.push(first(params));
      if (this.kitty.length > KITTY_STACK_MAX) this.kitty.shift();
      return false;
    });
    p.registerCsiHandler({ prefix: '<', final: 'u' }, (params) => {
      this.kitty.splice(-Math.max(1, first(params)));
      return false;
    });
    p.registerCsiHandler({ prefix: '=', final: 'u' }, (params) => {
      const flags = first(params);
      const mode = num(params[1]) || 1;
      const cur = this.kittyFlags;
      const next = mode === 1 ? flags : mode === 2 ? cur | flags : mode === 3 ? cur & ~flags : cur;
      if (this.kitty.length) this.kitty[this.kitty.length - 1] = next;
      else this.kitty.push(next);
      return false;
    });
    p.registerEscHandler({ final: 'c' }, () => {
      this.mouseEncoding = 'default';
      this.modifyOtherKeys = 0;
      this.kitty = [];
      return false;
    });
    term.onTitleChange((t) => (this.title = t));
  }

  get kittyFlags(): number {
    return this.kitty[this.kitty.length - 1] ?? 0;
  }
}

function num(v: number | number[] | undefined): number {
  return typeof v === 'number' ? v : (v?.[0] ?? 0);
}

function first(params: (number | number[])[]): number {
  return num(params[0]);
}

function color(mode: number, value: number): Color {
  if (mode === COLOR_MODE.P16) return { kind: 'p16', index: value };
  if (mode === COLOR_MODE.P256) return { kind: 'p256', index: value };
  if (mode === COLOR_MODE.RGB) return { kind: 'rgb', rgb: value };
  return { kind: 'default' };
}

export function attributesOf(a: AttrSource): Attributes {
  const style = a.getUnderlineStyle?.();
  const ul = a.hasExtendedAttrs?.() && a.extended && a.extended.underlineColor !== -1 ? a.extended.underlineColor : null;
  const ulMode = ul === null ? COLOR_MODE.DEFAULT : ul & COLOR_MODE_MASK;
  return {
    bold: a.isBold() !== 0,
    dim: a.isDim() !== 0,
    italic: a.isItalic() !== 0,
    underline: a.isUnderline() === 0 ? 0 : style || 1,
    blink: a.isBlink() !== 0,
    inverse: a.isInverse() !== 0,
    invisible: a.isInvisible() !== 0,
    strikethrough: a.isStrikethrough() !== 0,
    overline: a.isOverline() !== 0,
    protected: (a.isProtected?.() ?? 0) !== 0,
    fg: color(a.getFgColorMode(), a.getFgColor()),
    bg: color(a.getBgColorMode(), a.getBgColor()),
    underlineColor: ul === null ? { kind: 'default' } : color(ulMode, ul & (ulMode === COLOR_MODE.RGB ? 0xffffff : 0xff)),
  };
}

function bufferState(term: Terminal, b: XtermBuffer, active: boolean): BufferState {
  const cols = term.cols;
  const tabs: number[] = [];
  for (let c = 0; c < cols; c++) if (b.tabs[c]) tabs.push(c);
  let pendingWrap: BufferState['pendingWrap'] = null;
  if (active && b.x >= cols) {
    // what sits in the last column is printed again there, which leaves the wrap pending
    const line = term.buffer.active.getLine(b.ybase + b.y);
    let cell = line?.getCell(cols - 1);
    if (cell && cell.getWidth() === 0 && cols > 1) cell = line?.getCell(cols - 2);
    if (cell) pendingWrap = { chars: cell.getChars() || ' ', width: Math.max(1, cell.getWidth()), attrs: attributesOf(cell) };
  }
  return {
    x: Math.min(b.x, cols - 1),
    y: b.y,
    pendingWrap,
    scrollTop: b.scrollTop,
    scrollBottom: b.scrollBottom,
    tabs,
    saved: { x: Math.min(b.savedX, cols - 1), y: Math.max(0, b.savedY - b.ybase), attrs: attributesOf(b.savedCurAttrData), charset: charsetFinal(b.savedCharset) },
  };
}

export function readTerminalState(term: Terminal, internals: XtermInternals, tracked: ModeTracker): TerminalState {
  const buffers = internals.buffers();
  const m = term.modes;
  const cs = internals.charsets();
  const style = internals.cursorStyle();
  const protocol = internals.mouseProtocol();
  return {
    cols: term.cols,
    rows: term.rows,
    normal: bufferState(term, buffers.normal, !buffers.altActive),
    alternate: buffers.altActive ? bufferState(term, buffers.alt, true) : null,
    attrs: attributesOf(internals.currentAttributes()),
    charsets: { g: [charsetFinal(cs.g[0]), charsetFinal(cs.g[1]), charsetFinal(cs.g[2]), charsetFinal(cs.g[3])], gl: cs.glevel, glCharset: charsetFinal(cs.gl) },
    modes: {
      insert: m.insertMode,
      origin: m.originMode,
      wraparound: m.wraparoundMode,
      reverseWraparound: m.reverseWraparoundMode,
      newline: term.options.convertEol === true,
      applicationCursorKeys: m.applicationCursorKeysMode,
      applicationKeypad: m.applicationKeypadMode,
      bracketedPaste: m.bracketedPasteMode,
      focusEvents: m.sendFocusMode,
      synchronizedOutput: m.synchronizedOutputMode,
      cursorHidden: internals.cursorHidden(),
      cursorBlinking: term.options.cursorBlink === true,
    },
    cursorStyle: style.style ? { style: style.style, blink: style.blink === true } : null,
    mouse: { protocol: protocol === 'X10' ? 'x10' : protocol === 'VT200' ? 'vt200' : protocol === 'DRAG' ? 'drag' : protocol === 'ANY' ? 'any' : 'none', encoding: tracked.mouseEncoding },
    keyboard: { modifyOtherKeys: tracked.modifyOtherKeys, kittyFlags: tracked.kittyFlags },
    title: tracked.title,
  };
}
