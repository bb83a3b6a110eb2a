/**
 * One claimed task run on the agent: its artifact folder, the task pane (steps in node-pty),
 * the live session's lifecycle, controls, operator messages and the result (architecture §6).
 * The run never depends on the live layer: if that fails or is revoked, the steps go on headless.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { TaskRunDto } from '../common/api.ts';
import type { AgentRunState, ControlCommand, OperatorMessage, PaneSnapshot, SessionReport } from '../common/protocol.ts';
import { DEFAULT_COLS, DEFAULT_ROWS, OPERATOR_PANE, stepMarkerLabel, TASK_PANE } from '../common/protocol.ts';
import type { LiveControl } from '../common/statuses.ts';
import { TERMINAL_SESSION_STATUSES } from '../common/statuses.ts';
import type { AgentConfig } from './agentConfig.ts';
import { AsciicastRecorder } from './asciicastRecorder.ts';
import type { FlowGate } from './flowGate.ts';
import type { AttemptLink } from './attemptLink.ts';
import { OperatorInbox } from './operatorInbox.ts';
import { OperatorShell } from './operatorShell.ts';
import { Pane } from './pane.ts';
import { signalSession } from './processTree.ts';
import { RunIsolation } from './runIsolation.ts';
import type { StepLauncher } from './stepSandbox.ts';
import type { StepRunResult } from './stepRunner.ts';
import { StepRunner } from './stepRunner.ts';
import { waitingForTerminalInput } from './ttyWait.ts';

/** How often the agent looks whether a run's terminal waits for a person. */
const INPUT_WATCH_MS = 1000;

export const PAUSED_BANNER = '== PAUSED FOR OPERATOR ==';

export class RunExecution {
  readonly runId: string;
  readonly artifactDir: string;
  private readonly panes = new Map<string, Pane>();
  private runner: StepRunner | null = null;
  private recorder: AsciicastRecorder | null = null;
  private inbox: OperatorInbox;
  private live = false;
  private hardPaused = false;
  private control: LiveControl | null;
  private cancelled = false;
  private stopReason: string | undefined;
  private handedBack = false;
  private finished = false;
  private cwd = '';
  private lastOutputAt = Date.now();
  private waitingForInput = false;
  /** A step is between its start and end marks: between steps (a soft pause's hold) nothing waits for a person. */
  private inStep = false;
  private operatorShell: OperatorShell | null = null;
  private readonly isolation: RunIsolation;
  private launcher: StepLauncher | undefined;

  constructor(
    private readonly run: TaskRunDto,
    private readonly config: AgentConfig,
    private readonly link: AttemptLink,
    private readonly gate: FlowGate,
    private readonly log: (msg: string) => void,
  ) {
    this.runId = run.id;
    this.artifactDir = join(config.artifactsDir, run.id);
    this.inbox = new OperatorInbox(join(this.artifactDir, 'operator_inbox.jsonl'));
    this.isolation = new RunIsolation(run.id, config, this.artifactDir, log);
    this.control = run.payload.liveControl ?? null;
  }

  /** Back-pressure from a hub whose viewers of this run are all behind (the flow gate holds it until it lapses). */
  viewersBehind(hubId: string, behind: boolean): void {
    this.gate.hubHold(this.runId, hubId, behind && !this.finished);
  }

  state(): Omit<AgentRunState, 'attempt'> {
    return { runId: this.runId, panes: [...this.panes.values()].filter((p) => p.isLive).map((p) => p.info()) };
  }

  /** Runs the whole lifecycle; resolves when the hub has the result (or the agent gives up). */
  async execute(): Promise<StepRunResult> {
    let launcher: StepLauncher | undefined;
    let setupError: Error | undefined;
    try {
      launcher = this.launcher = await this.isolation.prepare([this.inbox.path]);
    } catch (err) {
      setupError = err as Error;
    }
    const cwd = this.run.payload.cwd ?? this.artifactDir;
    this.recorder = new AsciicastRecorder(join(this.artifactDir, 'recording.cast'), DEFAULT_COLS, DEFAULT_ROWS, `handoff run ${this.runId}`);
    this.cwd = cwd;
    const runner = new StepRunner({
      steps: this.run.steps,
      cwd,
      cols: DEFAULT_COLS,
      rows: DEFAULT_ROWS,
      env: this.stepEnv(),
      ...(launcher ? { launcher } : {}),
    });
    this.runner = runner;
    const task = new Pane(TASK_PANE, 'task', DEFAULT_COLS, DEFAULT_ROWS, runner, this.sink(), this.recorder, this.gate, this.runId);
    this.panes.set(TASK_PANE, task);
    runner.onData((d) => {
      this.lastOutputAt = Date.now();
      task.push(d);
    });
    const watch = setInterval(() => this.watchInput(), INPUT_WATCH_MS);
    // A step's mark comes in the output stream: what was printed before it is flushed first.
    runner.onStepMark((index, phase, exitCode) => {
      this.inStep = phase === 'start';
      task.flush();
      const offset = phase === 'start' ? task.markStep(index) : task.info().offset;
      this.recorder?.marker(stepMarkerLabel(index, phase, exitCode));
      this.link.step(this.runId, { index, phase, offset, ...(exitCode === undefined ? {} : { exitCode }) });
    });

    const session = this.run.liveSession;
    if (session && !TERMINAL_SESSION_STATUSES.includes(session.status)) {
      task.startMirror();
      await this.startLive();
    }
    // A run paused before it started is held from its first step.
    if (this.control?.paused) this.applyControl(this.control, undefined, false);

    let result: StepRunResult;
    try {
      if (setupError) throw setupError;
      result = await runner.start();
    } catch (err) {
      task.inject(`\r\nhandoff: the run could not start: ${(err as Error).message}\r\n`);
      result = { status: 'failed', exitCode: null };
    }
    if (this.cancelled) result = { status: 'cancelled', exitCode: null };
    clearInterval(watch);
    this.finished = true;
    this.gate.releaseRun(this.runId);
    await this.closeOperatorPane();
    await this.isolation.end(); // what left the pty's session or ignored its hang-up
    for (const p of this.panes.values()) p.close();
    await this.recorder.close();
    await this.finish(result);
    return result;
  }

  /**
   * A run waits for a person when its terminal's foreground job is blocked reading the terminal
   * and nothing was printed for a while (a prompt, not a program between two lines of output).
   */
  private watchInput(): void {
    const pid = this.runner?.pid;
    const quiet = Date.now() - this.lastOutputAt >= this.config.inputWaitSeconds * 1000;
    const waiting = pid !== undefined && !this.finished && this.inStep && quiet && waitingForTerminalInput(pid);
    if (waiting === this.waitingForInput) return;
    this.waitingForInput = waiting;
    this.link.attention(this.runId, waiting);
  }

  /** The environment of the steps and of the operator's shell. */
  private stepEnv(): Record<string, string> {
    // the agent's own HANDOFF_* settings never reach the steps (stepEnvironment.ts)
    return {
      HANDOFF_RUN_ID: this.runId,
      HANDOFF_ARTIFACT_DIR: this.artifactDir,
      HANDOFF_OPERATOR_INBOX: this.inbox.path,
      ...this.isolation.env(),
    };
  }

  /** Takeover: the operator's shell pane beside the task's (RW applies to both). */
  private openOperatorPane(): void {
    if (this.operatorShell || this.finished) return;
    const shell = new OperatorShell({
      cwd: this.cwd,
      env: this.stepEnv(),
      cols: DEFAULT_COLS,
      rows: DEFAULT_ROWS,
      onData: (d) => pane.push(d),
      onExit: () => {
        if (this.operatorShell === shell) this.operatorShell = null;
      },
      ...(this.launcher ? { launcher: this.launcher } : {}),
    });
    const pane = new Pane(OPERATOR_PANE, 'operator shell', DEFAULT_COLS, DEFAULT_ROWS, shell, this.sink(), null, this.gate, this.runId);
    this.operatorShell = shell;
    this.panes.set(OPERATOR_PANE, pane);
    pane.startMirror();
    if (this.live) {
      pane.startLive();
      this.link.openPane(this.runId, pane.info());
    }
  }

  private async closeOperatorPane(): Promise<void> {
    const shell = this.operatorShell;
    this.operatorShell = null;
    if (shell) await shell.close();
    const pane = this.panes.get(OPERATOR_PANE);
    if (pane) {
      pane.inject('\r\n[operator shell closed]\r\n');
      pane.dispose();
      this.panes.delete(OPERATOR_PANE);
    }
  }

  private sink() {
    return {
      output: (paneId: string, offset: number, chunk: Buffer) => {
        this.link.sendOutput(this.runId, paneId, offset, chunk);
        this.gate.sent();
      },
      resized: (paneId: string, cols: number, rows: number) => this.link.resized(this.runId, paneId, cols, rows),
    };
  }

  private async report(report: Omit<SessionReport, 'runId' | 'attempt'>): Promise<boolean> {
    const ack = await this.link.report({ runId: this.runId, ...report });
    if (!ack.ok) this.log(`run ${this.runId}: session report ${report.status} refused: ${ack.error.message}`);
    return ack.ok;
  }

  /** starting → ready with attach info; any failure → error, and the run goes on headless. */
  async startLive(): Promise<void> {
    if (this.live) return;
    await this.report({ status: 'starting', workerHostname: this.config.hostname });
    try {
      if (this.config.faults.has('live_layer')) throw new Error('live layer failed to start (injected fault)');
      for (const p of this.panes.values()) p.startLive();
      this.live = true;
      for (const p of this.panes.values()) this.link.openPane(this.runId, p.info());
    } catch (err) {
      for (const p of this.panes.values()) p.stopLive();
      const reason = (err as Error).message;
      this.log(`run ${this.runId}: live layer failed, continuing headless: ${reason}`);
      await this.report({ status: 'error', errorMessage: reason });
      return;
    }
    await this.report({
      status: 'ready',
      workerHostname: this.config.hostname,
      attachRo: `handoff attach ${this.runId}`,
      attachRw: `handoff attach ${this.runId} --rw`,
      webRo: `${this.config.publicUrl}/runs/${this.runId}`,
      webRw: `${this.config.publicUrl}/runs/${this.runId}`,
    });
  }

  /** The hub revoked the session (operator or TTL): tear the live layer down, keep running. */
  revokeLive(reason: string): void {
    if (!this.live) return;
    this.live = false;
    for (const p of this.panes.values()) p.stopLive();
    this.gate.releaseRun(this.runId);
    this.link.dropBacklog(this.runId);
    this.log(`run ${this.runId}: live session revoked (${reason}); continuing headless`);
  }

  /** Live panes' snapshots; once the run is over, the final screens (until release()). */
  async snapshots(paneId: string | null, scrollback = true): Promise<PaneSnapshot[]> {
    const panes = paneId ? [this.panes.get(paneId)].filter((p): p is Pane => !!p) : [...this.panes.values()];
    return Promise.all(panes.filter((p) => p.hasMirror && (p.isLive || this.finished)).map((p) => p.snapshot(scrollback)));
  }

  /** Output of each pane that its mirror left out unparsed (overwritten before it was parsed). */
  mirrorSkippedBytes(): Record<string, number> {
    return Object.fromEntries([...this.panes].map(([id, p]) => [id, p.mirrorSkippedBytes]));
  }

  /** Frees what was kept for final snapshots (the mirrors' workers). */
  release(): void {
    for (const p of this.panes.values()) p.dispose();
  }

  input(paneId: string, data: Buffer): void {
    if (!this.live) return;
    this.panes.get(paneId)?.write(data);
  }

  resize(paneId: string, cols: number, rows: number): void {
    if (!this.live) return;
    this.panes.get(paneId)?.resize(cols, rows);
  }

  onControl(cmd: ControlCommand): void {
    // A command is applied (and acknowledged) once: a repeat of the state in force is not news.
    if (cmd.liveControl.updatedAt && cmd.liveControl.updatedAt === this.control?.updatedAt) return;
    this.applyControl(cmd.liveControl, cmd.summary, true);
  }

  /** Heartbeat back-stop: applies a control state the real-time event did not deliver. */
  reconcileControl(lc: LiveControl): void {
    if (lc.updatedAt && lc.updatedAt !== this.control?.updatedAt) this.applyControl(lc, undefined, true);
  }

  private applyControl(lc: LiveControl, summary: string | undefined, announce: boolean): void {
    const runner = this.runner;
    const task = this.panes.get(TASK_PANE);
    if (!runner || !task) return;
    const wasPaused = this.control?.paused === true && announce;
    this.control = lc;
    if (lc.paused) {
      runner.setHeld(true);
      if (lc.mode === 'hard' && !this.hardPaused) {
        runner.hardPause();
        this.hardPaused = true;
      } else if (lc.mode === 'soft' && this.hardPaused) {
        runner.hardResume();
        this.hardPaused = false;
      }
      if (!wasPaused || !announce) task.inject(`\r\n\x1b[7m${PAUSED_BANNER}\x1b[0m\r\n`);
      if (lc.takeover) this.openOperatorPane();
    } else {
      void this.closeOperatorPane();
      if (this.hardPaused) runner.hardResume();
      this.hardPaused = false;
      runner.setHeld(false);
      if (summary) void this.inbox.append({ type: 'resume_summary', from: null, message: summary, at: new Date().toISOString() });
    }
    this.link.controlApplied(this.runId, lc);
  }

  onMessage(msg: OperatorMessage): void {
    void this.inbox.append({ type: 'message', id: msg.id, from: msg.from, message: msg.message, at: msg.createdAt });
  }

  /** `reason`: why, when it is not an operator's cancel (the agent is stopping); the timeline shows it. */
  cancel(reason?: string): void {
    this.cancelled = true;
    this.stopReason ??= reason;
    this.runner?.cancel();
  }

  /**
   * Fencing: this attempt is not the run's current one any more (architecture §7a). Its processes
   * are killed at once, without the cancel's grace; the link sends nothing more for it.
   */
  fence(): void {
    this.cancelled = true;
    for (const pid of [this.runner?.pid, this.operatorShell?.pid]) if (pid !== undefined) signalSession(pid, 'SIGKILL');
    this.runner?.cancel();
  }

  /** Stops the run here and gives it back to the queue (another agent starts it afresh). */
  handBack(reason?: string): void {
    this.handedBack = true;
    this.stopReason ??= reason;
    this.runner?.cancel();
  }

  private async finish(result: StepRunResult): Promise<void> {
    if (this.handedBack) {
      const ack = await this.link.release(this.runId, this.stopReason ?? 'agent shutting down');
      if (!ack.ok) this.log(`run ${this.runId}: hand-back refused: ${ack.error.message}`);
      this.link.dropBacklog(this.runId);
      return;
    }
    const ack = await this.link.complete({ runId: this.runId, status: result.status, exitCode: result.exitCode, ...(result.status === 'cancelled' && this.stopReason ? { reason: this.stopReason } : {}) });
    if (!ack.ok) this.log(`run ${this.runId}: hub refused the result: ${ack.error.message}`);
    this.link.dropBacklog(this.runId);
    // The hub recorded what it relayed: when that is all the task pane printed, the agent's own
    // copy would only be parsed and thrown away (saveUpload keeps the larger of the two).
    const held = ack.ok ? (ack.data.recordedOutputBytes ?? 0) : 0;
    const printed = this.panes.get(TASK_PANE)?.info().offset ?? 0;
    if (held > 0 && held >= printed) return;
    await this.uploadRecording();
  }

  private async uploadRecording(): Promise<void> {
    const path = this.recorder?.path;
    if (!path) return;
    if ((await this.link.uploadRecording(this.runId, await readFile(path))) === 'failed') this.log(`run ${this.runId}: recording kept at ${path} (upload failed)`);
  }
}
