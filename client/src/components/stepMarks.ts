/**
 * Where each step began in a live terminal (issue 15): an xterm marker on the line, drawn as a
 * thin rule over it, and a way to scroll the terminal back to it (the steps panel's buttons). Marks come in
 * order with the output (common/paneStream.ts): live as `pane:mark`, and for a late joiner in
 * the snapshot, as lines above the cursor.
 */
import type { IMarker, Terminal } from '@xterm/xterm';

export class StepMarks {
  private readonly marks = new Map<number, IMarker>();

  constructor(private readonly term: Terminal) {}

  /** Step `step` began `line` lines from the cursor's line; in order with the writes. */
  place(step: number, line: number): void {
    // an empty write runs its callback once everything written before it is parsed
    this.term.write('', () => this.add(step, line));
  }

  /** Scrolls the terminal so the step's first line is at the top; false when it has no mark (any more). */
  scrollTo(step: number): boolean {
    const m = this.marks.get(step);
    if (!m || m.isDisposed || m.line < 0) return false;
    this.term.scrollToLine(m.line);
    return true;
  }

  /** The terminal was reset (a fresh snapshot follows with its own marks). */
  clear(): void {
    for (const m of this.marks.values()) m.dispose();
    this.marks.clear();
  }

  private add(step: number, line: number): void {
    // the marks are lines of the normal screen: a full-screen program's has none
    if (this.term.buffer.active.type !== 'normal') return;
    // a step that begins again (the steps restart) replaces its mark and those after it
    for (const [s, m] of this.marks) {
      if (s < step) continue;
      m.dispose();
      this.marks.delete(s);
    }
    const marker = this.term.registerMarker(line);
    if (!marker) return;
    // One cell at the right edge: xterm renders a decorated cell as a span of its own, so a
    // decoration across the row would cut its text into a span per cell. The rule over the row
    // is drawn from that cell leftwards (style.css), as wide as the screen.
    this.term.registerDecoration({ marker, anchor: 'right', x: 0, width: 1, layer: 'top' })?.onRender((el) => {
      const screen = this.term.element?.querySelector('.xterm-screen');
      if (screen) el.style.setProperty('--rule-width', `${screen.clientWidth}px`);
      el.classList.add('step-mark');
      el.dataset.step = String(step);
    });
    marker.onDispose(() => {
      if (this.marks.get(step) === marker) this.marks.delete(step);
    });
    this.marks.set(step, marker);
  }
}
