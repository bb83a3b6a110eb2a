/** Terminal look shared by the live view and the replay player. */
import type { ITerminalOptions } from '@xterm/xterm';

export const TERMINAL_FONT = "'DejaVu Sans Mono', 'Cascadia Mono', 'SFMono-Regular', Menlo, Consolas, 'Liberation Mono', monospace";
export const BASE_FONT_SIZE = 13;

export const terminalOptions: ITerminalOptions = {
  fontFamily: TERMINAL_FONT,
  fontSize: BASE_FONT_SIZE,
  lineHeight: 1.1,
  scrollback: 10_000,
  cursorBlink: false,
  allowProposedApi: true,
  theme: {
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
  },
};
