/** Terminal look shared by the live view and the replay player: a dark and a light palette, following the system setting. */
import type { ITerminalOptions, ITheme, Terminal } from '@xterm/xterm';

export const TERMINAL_FONT = "'DejaVu Sans Mono', 'Cascadia Mono', 'SFMono-Regular', Menlo, Consolas, 'Liberation Mono', monospace";
export const BASE_FONT_SIZE = 13;

export const terminalOptions: ITerminalOptions = {
  fontFamily: TERMINAL_FONT,
  fontSize: BASE_FONT_SIZE,
  lineHeight: 1.1,
  scrollback: 10_000,
  cursorBlink: false,
  allowProposedApi: true,
  theme: darkTheme(),
};

function darkTheme(): ITheme {
  return {
    background: '#0d1117',
    foreground: '#d6deeb',
    cursor: '#7ee787',
    selectionBackground: '#264f78',
    black: '#1b1f24',
    red: '#ff7b72',
    green: '#7ee787',
    yellow: '#e3b341',
    blue: '#79c0ff',
    magenta: '#d2a8ff',
    cyan: '#56d4dd',
    white: '#c9d1d9',
    brightBlack: '#6e7681',
    brightRed: '#ffa198',
    brightGreen: '#aff5b4',
    brightYellow: '#f8e3a1',
    brightBlue: '#a5d6ff',
    brightMagenta: '#e2c5ff',
    brightCyan: '#b3f0ff',
    brightWhite: '#ffffff',
  };
}

/** A light palette with every colour readable on white (WCAG AA for the normal colours). */
function lightTheme(): ITheme {
  return {
    background: '#ffffff',
    foreground: '#1f2328',
    cursor: '#0969da',
    cursorAccent: '#ffffff',
    selectionBackground: '#b6d7ff',
    black: '#1f2328',
    red: '#b3261e',
    green: '#116329',
    yellow: '#7d4e00',
    blue: '#0550ae',
    magenta: '#8250df',
    cyan: '#1b7c83',
    white: '#57606a',
    brightBlack: '#57606a',
    brightRed: '#a40e26',
    brightGreen: '#1a7f37',
    brightYellow: '#6f4a00',
    brightBlue: '#0969da',
    brightMagenta: '#6639ba',
    brightCyan: '#136061',
    brightWhite: '#1f2328',
  };
}

const lightQuery = typeof matchMedia === 'function' ? matchMedia('(prefers-color-scheme: light)') : null;

export function currentTheme(): ITheme {
  return lightQuery?.matches ? lightTheme() : darkTheme();
}

/** Gives `term` the system's palette now and whenever the system setting changes; returns the unsubscribe. */
export function followSystemTheme(term: Terminal): () => void {
  term.options.theme = currentTheme();
  const onChange = () => (term.options.theme = currentTheme());
  lightQuery?.addEventListener('change', onChange);
  return () => lightQuery?.removeEventListener('change', onChange);
}
