/**
 * Reference screens for fault tests: what a terminal shows after a given byte stream, e.g.
 * the agent's asciicast recording of the pty (every byte, even those the hub never saw).
 */
import xtermHeadless from '@xterm/headless';

const { Terminal } = xtermHeadless;

/** Every line of the active buffer (scrollback + screen), trailing blanks of each trimmed. */
function bufferLines(term: InstanceType<typeof Terminal>): string[] {
  const buf = term.buffer.active;
  const out: string[] = [];
  for (let i = 0; i < buf.length; i++) out.push(buf.getLine(i)?.translateToString(true) ?? '');
  return out;
}

/** Lines of the buffer (scrollback + screen, trailing blanks trimmed) after writing `chunks`. */
export async function screenLinesOf(chunks: Array<string | Uint8Array>, cols: number, rows: number, scrollback = 10_000): Promise<string[]> {
  const term = new Terminal({ cols, rows, scrollback, allowProposedApi: true });
  try {
    for (const c of chunks) await new Promise<void>((r) => term.write(c, r));
    return bufferLines(term);
  } finally {
    term.dispose();
  }
}

/** Replays an asciicast v2 recording (output and resize events) into a terminal: its lines. */
export async function screenLinesOfCast(cast: string): Promise<string[]> {
  const [header, ...events] = cast.split('\n').filter((l) => l.trim());
  const h = JSON.parse(header ?? '{}') as { width?: number; height?: number };
  const term = new Terminal({ cols: h.width ?? 120, rows: h.height ?? 40, scrollback: 10_000, allowProposedApi: true });
  try {
    for (const line of events) {
      const [, kind, data] = JSON.parse(line) as [number, string, string];
      if (kind === 'o') await new Promise<void>((r) => term.write(data, r));
      else if (kind === 'r') {
        const [c, r] = data.split('x').map(Number);
        if (c && r) term.resize(c, r);
      }
    }
    return bufferLines(term);
  } finally {
    term.dispose();
  }
}

/** Drops trailing empty lines (a terminal's unused rows). */
export function trimTrailingEmpty(lines: string[]): string[] {
  const out = [...lines];
  while (out.length && out[out.length - 1] === '') out.pop();
  return out;
}
