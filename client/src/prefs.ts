/**
 * Display preferences of this browser (localStorage: they are not secrets and should outlive
 * the tab): the terminals' font size.
 */
import { BASE_FONT_SIZE } from './components/xtermTheme.ts';

export const MIN_FONT_SIZE = 8;
export const MAX_FONT_SIZE = 24;
const KEY = 'handoff.terminalFontSize';

export function terminalFontSize(): number {
  const n = Number(localStorage.getItem(KEY));
  return Number.isFinite(n) && n >= MIN_FONT_SIZE && n <= MAX_FONT_SIZE ? n : BASE_FONT_SIZE;
}

export function setTerminalFontSize(n: number): number {
  const v = Math.max(MIN_FONT_SIZE, Math.min(MAX_FONT_SIZE, Math.round(n)));
  localStorage.setItem(KEY, String(v));
  return v;
}
