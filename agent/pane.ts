/**
 * One terminal pane of a run (the task's steps, or the operator's shell): its output is
 * coalesced, then each chunk goes — once, in order — to the screen mirror (late join), the
 * recording, and the hub (while the live layer is up).
 */
import type { PaneInfo, PaneSnapshot } from '../common/protocol.ts';
import type { AsciicastRecorder } from './asciicastRecorder.ts';
import type { FlowGate, OutputValve, PaneFlow } from './flowGate.ts';
import { OutputCoalescer } from './outputCoalescer.ts';
import { ThreadedMirror } from './threadedMirror.ts';

export interface PaneOutputSink {
  output(paneId: string, offset: number, chunk: Buffer): void;
  resized(paneId: string, cols: number, rows: number): void;
}

/** The pane's pty: what viewers type and resize, and the valve the flow gate turns. */
export interface PaneInput extends OutputValve {
  write(data: string | Buffer): void;
  resize(cols: number, rows: number): void;
}

export class Pane {
  private readonly coalescer: OutputCoalescer;
  private mirror: ThreadedMirror | null = null;
  private streaming = false;
  private readonly flow: PaneFlow;
  private cols: number;
  private rows: number;

  constructor(
    readonly paneId: string,
    readonly title: string,
    cols: number,
    rows: number,
    private readonly input: PaneInput,
    private readonly sink: PaneOutputSink,
    private readonly recorder: AsciicastRecorder | null,
    gate: FlowGate,
    runId: string,
  ) {
    this.flow = gate.pane(runId, input);
    this.cols = cols;
    this.rows = rows;
    this.coalescer = new OutputCoalescer({
      onFlush: (chunk, offset) => {
        this.mirror?.write(chunk);
        this.recorder?.output(chunk);
        if (this.streaming) this.sink.output(this.paneId, offset, chunk);
      },
    });
  }

  /** Raw output from the pty. */
  push(data: Buffer): void {
    this.coalescer.push(data);
  }

  /** Text the agent itself shows in the pane (banners); viewers and the recording see it too. */
  inject(text: string): void {
    this.coalescer.push(Buffer.from(text, 'utf8'));
  }

  write(data: string | Buffer): void {
    this.input.write(data);
  }

  private newMirror(): ThreadedMirror {
    const m = new ThreadedMirror(this.cols, this.rows, 10_000, this.coalescer.offset);
    m.onBehind((behind) => this.flow.mirrorBehind(behind));
    return m;
  }

  resize(cols: number, rows: number): void {
    if (cols === this.cols && rows === this.rows) return;
    this.coalescer.flush(); // output before the resize belongs to the old size
    this.cols = cols;
    this.rows = rows;
    this.input.resize(cols, rows);
    this.mirror?.resize(cols, rows);
    this.recorder?.resize(cols, rows);
    if (this.streaming) this.sink.resized(this.paneId, cols, rows);
  }

  /** Brings the live layer up for this pane: mirror from the current offset, streaming on. */
  startLive(): void {
    this.coalescer.flush();
    this.mirror ??= this.newMirror();
    this.streaming = true;
    this.flow.streaming(true);
  }

  /** Keeps a mirror from the first byte without streaming yet (so a later join sees everything). */
  startMirror(): void {
    this.mirror ??= this.newMirror();
  }

  stopLive(): void {
    this.streaming = false;
    this.mirror?.dispose();
    this.mirror = null;
    this.flow.streaming(false); // headless output is never held back
  }

  get isLive(): boolean {
    return this.streaming;
  }

  /** A mirror is kept: snapshots can be taken (while live, and for a while after the run ended). */
  get hasMirror(): boolean {
    return this.mirror !== null;
  }

  /** Output the pane's mirror left out unparsed because later output overwrote it (0 without a mirror). */
  get mirrorSkippedBytes(): number {
    return this.mirror?.skippedBytes ?? 0;
  }

  info(): PaneInfo {
    return { paneId: this.paneId, title: this.title, cols: this.cols, rows: this.rows, offset: this.coalescer.offset };
  }

  /** scrollback false: the visible screen only (marked partial: the full state follows). */
  async snapshot(scrollback = true): Promise<PaneSnapshot> {
    if (!this.mirror) throw new Error(`pane ${this.paneId} has no live layer`);
    this.coalescer.flush();
    const s = await this.mirror.snapshot({ scrollback });
    return { paneId: this.paneId, cols: s.cols, rows: s.rows, offset: s.offset, data: s.data, ...(s.complete ? {} : { partial: true }), ...(s.marks.length ? { marks: s.marks } : {}) };
  }

  /** Step `step` begins after the output so far; returns that output's offset. */
  markStep(step: number): number {
    this.coalescer.flush();
    this.mirror?.mark(step);
    return this.coalescer.offset;
  }

  flush(): void {
    this.coalescer.flush();
  }

  /**
   * The pane's process is over: flush, stop streaming, but keep the mirror (if any) so a viewer
   * that fell behind at the very end can still get the final screen; dispose() frees it.
   */
  close(): void {
    this.coalescer.flush();
    this.coalescer.close();
    this.streaming = false;
    this.flow.streaming(false);
  }

  dispose(): void {
    this.close();
    this.mirror?.dispose();
    this.mirror = null;
    this.flow.close();
  }
}
