/**
 * The bytes that recreate a TerminalState in a terminal that has just been reset and fed the
 * cells (architecture §5, late join). Portable sequences only — what xterm, tmux and screen all
 * understand (ESC = for the keypad, not ?66h) — ordered so that each holds once the viewer has
 * written them all:
 *
 *  1. tab stops (they move the cursor along a row);
 *  2. the saved cursor (DECSC: placed, coloured and charset-mapped, then saved);
 *  3. scroll region, then origin mode (each homes the cursor);
 *  4. the cursor, origin-relative; a pending wrap by printing the last column's character again;
 *  5. attributes, character sets, insert / wrap modes — none of them moves the cursor;
 *  6. what the keys send (cursor keys, keypad, paste, focus, mouse, keyboard), cursor
 *     visibility and style, the title, and synchronized output last (it holds the screen).
 *
 * With the alternate screen on, the normal screen's saved cursor is set up before switching
 * (?1049h saves it for the program's ?1049l), then the alternate cells follow.
 */
import type { Attributes, BufferState, Color, TerminalState } from './terminalState.ts';

const ESC = '\x1b';
const CSI = '\x1b[';
/** G0..G3 designators. */
const DESIGNATE = ['(', ')', '*', '+'];
/** Locking shifts into GL: SI, SO, LS2, LS3. */
const SHIFT = ['\x0f', '\x0e', `${ESC}n`, `${ESC}o`];

/** SGR codes of a colour: `base` 30 foreground, 40 background, 58 underline (which has only the extended forms). */
function colorCodes(c: Color, base: 30 | 40 | 58): Array<number | string> {
  const extended = base === 58 ? 58 : base + 8;
  switch (c.kind) {
    case 'default':
      return base === 58 ? [] : [base + 9];
    case 'p16':
      if (base === 58) return [58, 5, c.index];
      return [c.index < 8 ? base + c.index : base + 60 + c.index - 8];
    case 'p256':
      return [extended, 5, c.index];
    case 'rgb':
      return [extended, 2, (c.rgb >>> 16) & 0xff, (c.rgb >>> 8) & 0xff, c.rgb & 0xff];
  }
}

/** SGR setting exactly `a` (from any previous attributes), plus DECSCA. */
export function sgr(a: Attributes): string {
  const codes: Array<number | string> = [0];
  if (a.bold) codes.push(1);
  if (a.dim) codes.push(2);
  if (a.italic) codes.push(3);
  if (a.underline === 1) codes.push(4);
  else if (a.underline > 1) codes.push(`4:${a.underline}`);
  if (a.blink) codes.push(5);
  if (a.inverse) codes.push(7);
  if (a.invisible) codes.push(8);
  if (a.strikethrough) codes.push(9);
  if (a.overline) codes.push(53);
  if (a.fg.kind !== 'default') codes.push(...colorCodes(a.fg, 30));
  if (a.bg.kind !== 'default') codes.push(...colorCodes(a.bg, 40));
  if (a.underlineColor.kind !== 'default') codes.push(...colorCodes(a.underlineColor, 58));
  return `${CSI}${codes.join(';')}m${a.protected ? `${CSI}1"q` : ''}`;
}

const isDefaultColor = (c: Color) => c.kind === 'default';
function isDefault(a: Attributes): boolean {
  return (
    !a.bold && !a.dim && !a.italic && a.underline === 0 && !a.blink && !a.inverse && !a.invisible && !a.strikethrough && !a.overline && !a.protected && isDefaultColor(a.fg) && isDefaultColor(a.bg) && isDefaultColor(a.underlineColor)
  );
}

const cup = (row: number, col: number) => `${CSI}${row + 1};${col + 1}H`;

/** Every 8 columns (xterm also counts column 0, where a stop changes nothing). */
function defaultTabs(cols: number, tabs: number[]): boolean {
  const stops = tabs.filter((c) => c > 0);
  return stops.length === Math.ceil(cols / 8) - 1 && stops.every((c, i) => c === (i + 1) * 8);
}

function tabStops(cols: number, tabs: number[]): string {
  if (defaultTabs(cols, tabs)) return '';
  // clear all, then set each: CHA + HTS
  return `${CSI}3g${tabs
    .filter((c) => c > 0)
    .map((c) => `${CSI}${c + 1}G${ESC}H`)
    .join('')}\r`;
}

function savedIsDefault(b: BufferState): boolean {
  return b.saved.x === 0 && b.saved.y === 0 && b.saved.charset === 'B' && isDefault(b.saved.attrs);
}

/** Places, colours and maps the cursor as `b` saved it, and saves it (origin mode off, full region: positions are absolute). */
function saveCursor(b: BufferState, rowOffset = 0): string {
  return `${cup(b.saved.y - rowOffset, b.saved.x)}${sgr(b.saved.attrs)}${ESC}(${b.saved.charset}\x0f${ESC}7`;
}

/**
 * Always written, the full screen too: a viewer whose terminal is bigger than the pane (read-only,
 * it cannot size the pane) then scrolls at the pane's last row, as the program's terminal does.
 */
function region(b: BufferState): string {
  return `${CSI}${b.scrollTop + 1};${b.scrollBottom + 1}r`;
}

/** The state of the buffer on screen, written after its cells. */
function activeBuffer(s: TerminalState, b: BufferState): string {
  let out = tabStops(s.cols, b.tabs);
  const origin = s.modes.origin;
  // DECSC also saves origin mode (tmux, xterm): save with it on when the position allows
  const saveInRegion = origin && b.saved.y >= b.scrollTop && b.saved.y <= b.scrollBottom;
  const saved = !savedIsDefault(b);
  if (saved && !saveInRegion) out += saveCursor(b);
  out += region(b);
  if (origin) out += `${CSI}?6h`;
  const top = origin ? b.scrollTop : 0;
  if (saved && saveInRegion) out += saveCursor(b, top);
  // the cells were written with ASCII in GL and default attributes: so is the last column's character
  if (saved) out += `${ESC}(B\x0f`;
  if (b.pendingWrap) out += `${cup(b.y - top, s.cols - b.pendingWrap.width)}${sgr(b.pendingWrap.attrs)}${b.pendingWrap.chars}`;
  else out += cup(b.y - top, b.x);
  out += sgr(s.attrs);
  const { gl, glCharset } = s.charsets;
  // xterm.js's DECRC restores the set GL maps through but not its designation; DEC terminals
  // (and tmux) restore the designation: designate what GL maps through
  const g = s.charsets.g.map((f, i) => (i === gl ? glCharset : f));
  g.forEach((f, i) => {
    if (f !== 'B') out += `${ESC}${DESIGNATE[i]}${f}`;
  });
  if (gl !== 0) out += SHIFT[gl];
  return out;
}

function modes(s: TerminalState): string {
  const m = s.modes;
  let out = '';
  if (m.insert) out += `${CSI}4h`;
  if (m.newline) out += `${CSI}20h`;
  if (!m.wraparound) out += `${CSI}?7l`;
  if (m.reverseWraparound) out += `${CSI}?45h`;
  if (m.applicationCursorKeys) out += `${CSI}?1h`;
  if (m.applicationKeypad) out += `${ESC}=`;
  if (m.bracketedPaste) out += `${CSI}?2004h`;
  if (m.focusEvents) out += `${CSI}?1004h`;
  const protocol = { none: 0, x10: 9, vt200: 1000, drag: 1002, any: 1003 }[s.mouse.protocol];
  if (protocol) out += `${CSI}?${protocol}h`;
  const encoding = { default: 0, utf8: 1005, sgr: 1006, urxvt: 1015, 'sgr-pixels': 1016 }[s.mouse.encoding];
  if (encoding) out += `${CSI}?${encoding}h`;
  if (s.keyboard.modifyOtherKeys) out += `${CSI}>4;${s.keyboard.modifyOtherKeys}m`;
  if (s.keyboard.kittyFlags) out += `${CSI}=${s.keyboard.kittyFlags};1u`;
  if (m.cursorHidden) out += `${CSI}?25l`;
  if (m.cursorBlinking) out += `${CSI}?12h`;
  if (s.cursorStyle) {
    const n = { block: 1, underline: 3, bar: 5 }[s.cursorStyle.style] + (s.cursorStyle.blink ? 0 : 1);
    out += `${CSI}${n} q`;
  }
  if (s.title) out += `${ESC}]2;${s.title.replace(/[\x00-\x1f\x7f]/g, '')}\x07`; // eslint-disable-line no-control-regex -- a control character would end the OSC early
  if (m.synchronizedOutput) out += `${CSI}?2026h`;
  return out;
}

/**
 * The snapshot: each screen's cells (cellSerializer.ts; the alternate one's when it is on, else
 * null), with the state around them.
 */
export function withState(cells: { normal: string; alternate: string | null }, s: TerminalState): string {
  if (!s.alternate) return cells.normal + activeBuffer(s, s.normal) + modes(s);
  const n = s.normal;
  // behind the alternate screen: the normal one's tab stops and region, and its saved cursor —
  // ?1049h saves the cursor as it is, for the program's ?1049l
  const behind = tabStops(s.cols, n.tabs) + region(n) + cup(n.saved.y, n.saved.x) + sgr(n.saved.attrs) + `${ESC}(${n.saved.charset}\x0f`;
  // the alternate cells were serialized for a fresh screen: default attributes, ASCII, no region
  const fresh = `${CSI}0m${ESC}(B${CSI}r${CSI}H${CSI}2J`;
  return cells.normal + behind + `${CSI}?1049h` + fresh + (cells.alternate ?? '') + activeBuffer(s, s.alternate) + modes(s);
}
