/**
 * The parts of @xterm/headless's internals a late-join snapshot needs and its public API does
 * not give (architecture §5): saved cursor, scroll region, tab stops, character sets, cursor
 * visibility and style, mouse protocol, the current attributes. Typed here and nowhere else;
 * `xtermInternals()` checks every one of them and throws, naming what moved, if an xterm upgrade
 * renamed or removed it (test/unit/xtermInternals.test.ts fails loudly then).
 */
import xtermHeadless from '@xterm/headless';
import type { Terminal } from '@xterm/headless';

/** A character set as xterm keeps it (a translation table; undefined is ASCII). */
export type XtermCharset = Readonly<Record<string, string>>;

/**
 * Attributes as both xterm's AttributeData and the public IBufferCell answer them (the extended
 * ones only AttributeData has). Flags answer a non-zero number when set.
 */
export interface AttrSource {
  isBold(): number;
  isDim(): number;
  isItalic(): number;
  isUnderline(): number;
  isBlink(): number;
  isInverse(): number;
  isInvisible(): number;
  isStrikethrough(): number;
  isOverline(): number;
  getFgColorMode(): number;
  getBgColorMode(): number;
  getFgColor(): number;
  getBgColor(): number;
  isProtected?(): number;
  getUnderlineStyle?(): number;
  hasExtendedAttrs?(): number;
  /** underlineColor: -1 when none was set (SGR 58), else colour mode | value. */
  extended?: { underlineColor: number };
}

/** Colour modes of xterm's attribute words (common/buffer/Constants.ts, Attributes.CM_*). */
export const COLOR_MODE = { DEFAULT: 0, P16: 0x1000000, P256: 0x2000000, RGB: 0x3000000 } as const;
export const COLOR_MODE_MASK = 0x3000000;

export interface XtermBuffer {
  /** Cursor column; equals cols when a character was printed in the last column (the wrap is pending). */
  x: number;
  y: number;
  ybase: number;
  scrollTop: number;
  scrollBottom: number;
  savedX: number;
  /** Absolute line (ybase + y at the time of DECSC). */
  savedY: number;
  savedCurAttrData: AttrSource;
  savedCharset: XtermCharset | undefined;
  tabs: Readonly<Record<number, boolean | undefined>>;
}

export interface XtermInternals {
  buffers(): { active: XtermBuffer; normal: XtermBuffer; alt: XtermBuffer; altActive: boolean };
  cursorHidden(): boolean;
  /** DECSCUSR (undefined: never set, or reset with 0). */
  cursorStyle(): { style: 'block' | 'underline' | 'bar' | undefined; blink: boolean | undefined };
  /** 'X10' | 'VT200' | 'DRAG' | 'ANY' | '' (none). */
  mouseProtocol(): string;
  /** The attributes the next printed character gets. */
  currentAttributes(): AttrSource;
  /** G0..G3 designations, the invoked set (GL), and the set GL actually maps through (DECRC may leave it apart from G[glevel]). */
  charsets(): { g: Array<XtermCharset | undefined>; glevel: number; gl: XtermCharset | undefined };
}

interface Core {
  buffers: { active: XtermBuffer; normal: XtermBuffer; alt: XtermBuffer };
  coreService: { isCursorHidden: boolean; decPrivateModes: { cursorStyle?: 'block' | 'underline' | 'bar'; cursorBlink?: boolean } };
  coreMouseService: { activeProtocol: string };
  _inputHandler: { _curAttrData: AttrSource; selectCharset(collectAndFlag: string): boolean };
  _charsetService: { glevel: number; charset: XtermCharset | undefined; _charsets: Array<XtermCharset | undefined> };
}

const BUFFER_FIELDS = ['x', 'y', 'ybase', 'scrollTop', 'scrollBottom', 'savedX', 'savedY'] as const;

function fail(path: string): never {
  throw new Error(`@xterm/headless internals moved: ${path} is missing or of another type (update agent/xtermInternals.ts for this xterm version)`);
}

function checkBuffer(b: unknown, path: string): void {
  if (typeof b !== 'object' || b === null) fail(path);
  const rec = b as Record<string, unknown>;
  for (const f of BUFFER_FIELDS) if (typeof rec[f] !== 'number') fail(`${path}.${f}`);
  if (typeof rec.tabs !== 'object' || rec.tabs === null) fail(`${path}.tabs`);
  checkAttrs(rec.savedCurAttrData, `${path}.savedCurAttrData`);
  if (!('savedCharset' in rec)) fail(`${path}.savedCharset`);
}

function checkAttrs(a: unknown, path: string): void {
  if (typeof a !== 'object' || a === null) fail(path);
  const rec = a as Record<string, unknown>;
  for (const m of ['isBold', 'getFgColorMode', 'getFgColor', 'getUnderlineStyle', 'hasExtendedAttrs', 'isProtected']) if (typeof rec[m] !== 'function') fail(`${path}.${m}()`);
  const ext = rec.extended as Record<string, unknown> | undefined;
  if (typeof ext?.underlineColor !== 'number') fail(`${path}.extended.underlineColor`);
}

/** Typed, checked access to `term`'s internals; throws at once if any of them moved. */
export function xtermInternals(term: Terminal): XtermInternals {
  const core = (term as unknown as { _core?: Core })._core;
  if (!core) fail('Terminal._core');
  const c = core as unknown as Record<string, Record<string, unknown> | undefined>;
  checkBuffer(c.buffers?.normal, '_core.buffers.normal');
  checkBuffer(c.buffers?.alt, '_core.buffers.alt');
  if (typeof c.coreService?.isCursorHidden !== 'boolean') fail('_core.coreService.isCursorHidden');
  if (typeof c.coreService?.decPrivateModes !== 'object') fail('_core.coreService.decPrivateModes');
  if (typeof c.coreMouseService?.activeProtocol !== 'string') fail('_core.coreMouseService.activeProtocol');
  checkAttrs(c._inputHandler?._curAttrData, '_core._inputHandler._curAttrData');
  if (typeof c._inputHandler?.selectCharset !== 'function') fail('_core._inputHandler.selectCharset()');
  if (typeof c._charsetService?.glevel !== 'number') fail('_core._charsetService.glevel');
  if (!Array.isArray(c._charsetService?._charsets)) fail('_core._charsetService._charsets');
  return {
    buffers: () => ({ active: core.buffers.active, normal: core.buffers.normal, alt: core.buffers.alt, altActive: core.buffers.active === core.buffers.alt }),
    cursorHidden: () => core.coreService.isCursorHidden,
    cursorStyle: () => ({ style: core.coreService.decPrivateModes.cursorStyle, blink: core.coreService.decPrivateModes.cursorBlink }),
    mouseProtocol: () => core.coreMouseService.activeProtocol,
    // read each time: a soft reset replaces the object
    currentAttributes: () => core._inputHandler._curAttrData,
    charsets: () => ({ g: [0, 1, 2, 3].map((i) => core._charsetService._charsets[i]), glevel: core._charsetService.glevel, gl: core._charsetService.charset }),
  };
}

/** Final bytes of the character sets xterm knows (ESC ( F designates F as G0); B is ASCII. */
const CHARSET_FINALS = '0AB4C5RQKYE6ZH7=';
let finals: Map<XtermCharset, string> | null = null;

/**
 * The final byte that designates `charset` ('B' for ASCII). xterm keeps a designation as its
 * table object, not the byte: the tables are learnt once from a scratch terminal, designating
 * each set in turn.
 */
export function charsetFinal(charset: XtermCharset | undefined): string {
  if (!charset) return 'B';
  if (!finals) {
    const probe = new xtermHeadless.Terminal({ cols: 10, rows: 2, allowProposedApi: true });
    const core = (probe as unknown as { _core: Core })._core;
    const learnt = new Map<XtermCharset, string>();
    for (const f of CHARSET_FINALS) {
      core._inputHandler.selectCharset(`(${f}`);
      const cs = core._charsetService._charsets[0];
      if (cs && !learnt.has(cs)) learnt.set(cs, f);
    }
    probe.dispose();
    finals = learnt;
  }
  return finals.get(charset) ?? 'B';
}
