/**
 * 4. Late join: a run with 10,000 lines of scrollback (and still running); a new viewer emits
 * `run:join`; the figure is the time until its first full screen: join ack received (the hub asked
 * the agent for a snapshot) and the snapshot written into an @xterm/headless terminal and parsed.
 * The terminal is then checked: 10,000 lines of buffer and the last line on screen.
 */
import xtermHeadless from '@xterm/headless';
import type { PaneSnapshot } from '../../common/protocol.ts';
import { BenchViewer } from '../lib/benchViewer.ts';
import { monotonicUs } from '../lib/profile.ts';
import { median } from '../lib/stats.ts';
import { Trigger } from '../lib/trigger.ts';
import type { BenchContext, RepResult, Scenario } from '../lib/types.ts';

const { Terminal } = xtermHeadless;
const LINES = 10_000;
const MARK = 'LATEJOIN-READY';

export const lateJoin: Scenario = {
  name: 'latejoin',
  title: 'late join with 10,000 lines of scrollback → first full screen',
  async run(ctx: BenchContext): Promise<RepResult> {
    const cluster = await ctx.cluster();
    const joins = ctx.quick ? 3 : 10;
    const trigger = new Trigger(cluster.dir);
    // LINES lines + the marker line: the scrollback holds at least LINES lines
    const step = `${trigger.shellWait}; seq -f 'scrollback line %05g: the quick brown fox jumps over the lazy dog 0123456789' 1 ${LINES}; printf '${MARK}'; sleep 3600`;
    const run = await cluster.createRun([step]);
    const viewers: BenchViewer[] = [];
    try {
      await cluster.waitLive(run.id);
      // an early viewer watches the output until the marker, so the scrollback is complete
      const watcher = await BenchViewer.connect(cluster.url, cluster.operatorToken);
      viewers.push(watcher);
      await watcher.join(run.id);
      let tail = '';
      const seen = new Promise<void>((resolve) => {
        watcher.pane().onBytes = (b) => {
          tail = (tail + Buffer.from(b).toString('latin1')).slice(-64);
          if (tail.includes(MARK)) resolve();
        };
      });
      await trigger.fire();
      await seen;
      await new Promise((r) => setTimeout(r, 500));

      const total: number[] = [];
      const ack: number[] = [];
      const parse: number[] = [];
      const full: number[] = [];
      let snapshotChars = 0;
      let bufferLines = 0;
      let lastLineOk = true;
      const w0 = monotonicUs();
      for (let i = 0; i < joins + 1; i++) {
        const v = await BenchViewer.connect(cluster.url, cluster.operatorToken);
        viewers.push(v);
        // the join answers with the visible screen; the full state with scrollback follows
        const fullSnapshot = new Promise<PaneSnapshot>((resolve) => v.socket.on('pane:snapshot', (_runId, snap) => resolve(snap)));
        const t0 = performance.now();
        const reply = await v.join(run.id);
        const t1 = performance.now();
        const snap = reply.panes.find((p) => p.paneId === 'task');
        if (!snap) throw new Error('no snapshot of the task pane');
        const term = new Terminal({ cols: snap.cols, rows: snap.rows, scrollback: LINES, allowProposedApi: true });
        await new Promise<void>((resolve) => term.write(snap.data, resolve));
        const t2 = performance.now();
        const screenLine = term.buffer.active.getLine(term.buffer.active.baseY + term.buffer.active.cursorY)?.translateToString(true) ?? '';
        lastLineOk &&= screenLine.includes(MARK);
        const fullSnap = await fullSnapshot;
        term.reset();
        await new Promise<void>((resolve) => term.write(fullSnap.data, resolve));
        const t3 = performance.now();
        if (i > 0) {
          // the first join warms up the code paths; it is not counted
          total.push(t2 - t0);
          ack.push(t1 - t0);
          parse.push(t2 - t1);
          full.push(t3 - t0);
        }
        snapshotChars = fullSnap.data.length;
        const buf = term.buffer.active;
        bufferLines = buf.length;
        const cursorLine = buf.getLine(buf.baseY + buf.cursorY)?.translateToString(true) ?? '';
        lastLineOk &&= cursorLine.includes(MARK);
        term.dispose();
        v.close();
      }
      const w1 = monotonicUs();
      ctx.log(`late join: first full screen ${median(total).toFixed(1)} ms (ack ${median(ack).toFixed(1)} + parse ${median(parse).toFixed(1)}); with all scrollback ${median(full).toFixed(1)} ms, snapshot ${(snapshotChars / 1024).toFixed(0)} KiB, ${bufferLines} lines`);
      return {
        metrics: { ms: median(total), ackMs: median(ack), parseMs: median(parse), fullMs: median(full), maxMs: Math.max(...total), snapshotKiB: snapshotChars / 1024, bufferLines },
        checks: { fullScreen: lastLineOk && bufferLines >= LINES },
        info: { joins, samplesMs: total.map((t) => Math.round(t * 10) / 10), windowUs: [w0, w1] },
      };
    } finally {
      for (const v of viewers) v.close();
      await cluster.cancel(run.id).catch(() => undefined);
      await cluster.settle(run.id).catch(() => undefined);
    }
  },
};
