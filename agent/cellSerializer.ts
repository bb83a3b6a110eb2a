/**
 * A screen buffer's cells as the bytes that draw them in a fresh terminal: the late-join
 * snapshot's cells (stateSequences.ts writes the rest of the state around them). The algorithm is
 * @xterm/addon-serialize 0.14's (MIT; blanks skipped or erased, wrapped rows rejoined, trailing
 * empty rows left out), with each cell's attributes written whole by sgr(): that addon writes a
 * 256-colour index below 16 as the 16-colour code (bold `38;5;1` becomes bold `31`, which a
 * terminal showing bold as bright draws in another colour), and drops underline styles and
 * underline colours; a terminal compared with the run's (test/e2e/lateJoinPrograms.test.ts) shows
 * the difference.
 */
import type { IBuffer, IBufferCell, IBufferLine } from '@xterm/headless';
import { sgr } from './stateSequences.ts';
import { attributesOf } from './terminalState.ts';
import type { AttrSource } from './xtermInternals.ts';

/** The cells xterm hands out answer the attribute methods of its AttributeData (xtermInternals.ts). */
const attrs = (cell: IBufferCell): AttrSource => cell as unknown as AttrSource;

function sameBg(a: IBufferCell, b: IBufferCell): boolean {
  return a.getBgColorMode() === b.getBgColorMode() && a.getBgColor() === b.getBgColor();
}

function sameStyle(a: IBufferCell, b: IBufferCell): boolean {
  if (!sameBg(a, b) || a.getFgColorMode() !== b.getFgColorMode() || a.getFgColor() !== b.getFgColor()) return false;
  if (
    a.isBold() !== b.isBold() ||
    a.isDim() !== b.isDim() ||
    a.isItalic() !== b.isItalic() ||
    a.isUnderline() !== b.isUnderline() ||
    a.isBlink() !== b.isBlink() ||
    a.isInverse() !== b.isInverse() ||
    a.isInvisible() !== b.isInvisible() ||
    a.isStrikethrough() !== b.isStrikethrough() ||
    a.isOverline() !== b.isOverline()
  )
    return false;
  if (!a.isUnderline()) return true;
  const x = attrs(a);
  const y = attrs(b);
  return x.getUnderlineStyle?.() === y.getUnderlineStyle?.() && (x.hasExtendedAttrs?.() ? x.extended?.underlineColor : -1) === (y.hasExtendedAttrs?.() ? y.extended?.underlineColor : -1);
}

/** SGR drawing later cells with `cell`'s attributes (DECSCA protection is not kept per cell). */
const styleOf = (cell: IBufferCell): string => sgr({ ...attributesOf(attrs(cell)), protected: false });

/**
 * The last `rows + scrollback` lines of `buffer` (all of them when scrollback is undefined) as
 * the bytes that draw them from the top of a fresh, cols-wide terminal with default attributes.
 * Where the cursor is left and with which attributes is for the caller to set.
 */
export function serializeCells(buffer: IBuffer, cols: number, rows: number, scrollback?: number): string {
  const total = buffer.length;
  const count = scrollback === undefined ? total : Math.max(0, Math.min(scrollback + rows, total));
  return new CellWriter(buffer, rows).write(total - count, total - 1, cols);
}

class CellWriter {
  private readonly out: string[] = [];
  private readonly separators: string[] = [];
  private row = '';
  /** Blank cells not written yet: skipped (CSI C) or, with a background, erased (CSI X) once something follows. */
  private blanks = 0;
  /** The attributes later cells are drawn with, and where they were read from (the cell is reused). */
  private readonly style: IBufferCell;
  private styleRow = 0;
  private styleCol = 0;
  /** A cell with default attributes, to see whether a blank shows a background. */
  private readonly background: IBufferCell;
  private firstRow = 0;
  private lastContentRow = 0;
  private readonly lastChar: IBufferCell;
  private readonly secondLastChar: IBufferCell;
  private readonly nextFirstChar: IBufferCell;

  constructor(
    private readonly buffer: IBuffer,
    private readonly screenRows: number,
  ) {
    this.style = buffer.getNullCell();
    this.background = buffer.getNullCell();
    this.lastChar = buffer.getNullCell();
    this.secondLastChar = buffer.getNullCell();
    this.nextFirstChar = buffer.getNullCell();
  }

  write(startRow: number, endRow: number, cols: number): string {
    const a = this.buffer.getNullCell();
    const b = this.buffer.getNullCell();
    let prev = a;
    this.firstRow = this.lastContentRow = startRow;
    for (let y = startRow; y <= endRow; y++) {
      const line = this.buffer.getLine(y);
      if (line) {
        const end = Math.min(cols, line.length);
        for (let x = 0; x < end; x++) {
          const cell = line.getCell(x, prev === a ? b : a);
          if (!cell) continue;
          this.cell(cell, y, x);
          prev = cell;
        }
      }
      this.rowEnd(y, y === endRow);
    }
    // without scrollback, rows after the last with content are left out
    const used = this.buffer.length - this.firstRow <= this.screenRows ? this.lastContentRow + 1 - this.firstRow : this.out.length;
    let text = '';
    for (let i = 0; i < used; i++) text += (this.out[i] as string) + (i + 1 < used ? (this.separators[i] as string) : '');
    return text;
  }

  private flushBlanks(): void {
    if (this.blanks === 0) return;
    if (!sameBg(this.style, this.background)) this.row += `\x1b[${this.blanks}X`;
    this.row += `\x1b[${this.blanks}C`;
    this.blanks = 0;
  }

  private cell(cell: IBufferCell, y: number, x: number): void {
    const width = cell.getWidth();
    if (width === 0) return; // the second half of a wide character
    const blank = cell.getChars() === '';
    // a blank shows only its background
    const changed = blank ? !sameBg(this.style, cell) : !sameStyle(cell, this.style);
    if (changed) {
      this.flushBlanks();
      this.lastContentRow = y;
      this.row += styleOf(cell);
      this.buffer.getLine(y)?.getCell(x, this.style);
      this.styleRow = y;
      this.styleCol = x;
    }
    if (blank) {
      this.blanks += width;
      return;
    }
    this.flushBlanks();
    this.row += cell.getChars();
    this.lastContentRow = y;
  }

  private rowEnd(y: number, last: boolean): void {
    // blanks with a background at the row's end are drawn, or the colour would be missing
    if (this.blanks > 0 && !sameBg(this.style, this.background)) this.row += `\x1b[${this.blanks}X`;
    let separator = '';
    if (!last) {
      // below the first screenful, a line feed scrolls with the current background (BCE)
      if (y - this.firstRow >= this.screenRows) this.buffer.getLine(this.styleRow)?.getCell(this.styleCol, this.background);
      const line = this.buffer.getLine(y) as IBufferLine;
      const next = this.buffer.getLine(y + 1) as IBufferLine;
      if (!next.isWrapped) separator = '\r\n';
      else if (!this.wrapsByItself(line, next)) {
        // print past the row's end to wrap, then erase what was printed
        separator = '-'.repeat(this.blanks + 1) + '\x1b[1D\x1b[1X';
        if (this.blanks > 0) separator += `\x1b[A\x1b[${line.length - this.blanks}C\x1b[${this.blanks}X\x1b[${line.length - this.blanks}D\x1b[B`;
        this.lastContentRow = y + 1;
      }
    }
    this.out.push(this.row);
    this.separators.push(separator);
    this.row = '';
    this.blanks = 0;
  }

  /** The next row continues this one because its printing reached the last column. */
  private wrapsByItself(line: IBufferLine, next: IBufferLine): boolean {
    const lastChar = line.getCell(line.length - 1, this.lastChar) as IBufferCell;
    const secondLast = line.getCell(line.length - 2, this.secondLastChar) as IBufferCell;
    const first = next.getCell(0, this.nextFirstChar) as IBufferCell;
    const wide = first.getWidth() > 1;
    if (!(first.getChars() && wide ? this.blanks <= 1 : this.blanks <= 0)) return false;
    if (!!(lastChar.getChars() || lastChar.getWidth() === 0) && sameBg(lastChar, first)) return true;
    return wide && !!(secondLast.getChars() || secondLast.getWidth() === 0) && sameBg(lastChar, first) && sameBg(secondLast, first);
  }
}
