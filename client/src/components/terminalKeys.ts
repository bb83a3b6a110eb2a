/**
 * The live terminal's keyboard, as in a desktop terminal (issue 15): Ctrl+Shift+C / Ctrl+Shift+V
 * always copy / paste; Ctrl+C with a selection copies and sends nothing (without one it is ^C,
 * in write mode only); a read-only terminal takes no key at all, so Tab / Shift+Tab move on as
 * anywhere on the page; a writable one keeps Tab and Escape for the program, and Escape pressed
 * twice within ESC_TWICE_MS leaves it (the page shows that hint while the terminal has focus).
 */
import type { Terminal } from '@xterm/xterm';

export const ESC_TWICE_MS = 600;
export const LEAVE_HINT_RW = 'Esc Esc leaves the terminal · Ctrl+Shift+C / Ctrl+Shift+V copy / paste';
export const LEAVE_HINT_RO = 'read-only · Tab leaves · Ctrl+C copies the selection';

export interface TerminalKeyActions {
  canWrite(): boolean;
  copy(text: string): void;
  /** Text from the clipboard, to type into the run (write mode only). */
  paste(): void;
  /** Focus leaves the terminal for the next control of the page. */
  leave(): void;
  /** A printable key in read-only mode: say why nothing happens. */
  refused(): void;
}

const isKey = (ev: KeyboardEvent, letter: string) => ev.code === `Key${letter.toUpperCase()}` || ev.key.toLowerCase() === letter;

/** The handler for term.attachCustomKeyEventHandler: false means xterm ignores the key. */
export function terminalKeyHandler(term: Terminal, act: TerminalKeyActions): (ev: KeyboardEvent) => boolean {
  let lastEscape = 0;
  return (ev) => {
    const writable = act.canWrite();
    if (ev.type !== 'keydown') return writable; // keypress / keyup follow their keydown's fate
    const ctrl = ev.ctrlKey && !ev.altKey && !ev.metaKey;
    if (ctrl && ev.shiftKey && isKey(ev, 'c')) {
      ev.preventDefault();
      if (term.hasSelection()) act.copy(term.getSelection());
      return false;
    }
    if (ctrl && ev.shiftKey && isKey(ev, 'v')) {
      ev.preventDefault();
      act.paste();
      return false;
    }
    if (ctrl && !ev.shiftKey && isKey(ev, 'c') && term.hasSelection()) {
      ev.preventDefault();
      act.copy(term.getSelection());
      term.clearSelection(); // the next Ctrl+C interrupts, as in Windows Terminal
      return false;
    }
    if (!writable) {
      if (ev.key.length === 1 && !ev.ctrlKey && !ev.metaKey && !ev.altKey) act.refused();
      return false; // the browser's default: Tab moves focus, arrows scroll the page
    }
    if (ev.key === 'Escape' && !ev.ctrlKey && !ev.shiftKey && !ev.altKey && !ev.metaKey) {
      const now = ev.timeStamp || performance.now();
      if (now - lastEscape <= ESC_TWICE_MS) {
        lastEscape = 0;
        ev.preventDefault();
        act.leave();
        return false;
      }
      lastEscape = now;
    } else {
      lastEscape = 0;
    }
    return true;
  };
}

/** The first focusable element after `el` in document order (wrapping to the first one). */
export function focusAfter(el: HTMLElement): void {
  const all = [...document.querySelectorAll<HTMLElement>('a[href], button:not([disabled]), input:not([disabled]), select:not([disabled]), textarea:not([disabled]), [tabindex]:not([tabindex="-1"])')].filter(
    (e) => !e.hidden && e.offsetParent !== null,
  );
  const next = all.find((e) => !el.contains(e) && (el.compareDocumentPosition(e) & Node.DOCUMENT_POSITION_FOLLOWING) !== 0) ?? all.find((e) => !el.contains(e));
  if (next) next.focus();
  else (document.activeElement as HTMLElement | null)?.blur();
}
