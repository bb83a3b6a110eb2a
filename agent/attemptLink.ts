/**
 * One run attempt's view of the hub link (fencing, architecture §7a): every message the run's
 * code sends carries the attempt it was claimed as, and once the attempt is fenced — the hub
 * answered `stale_attempt`, listed it as stale, or its lease ran out — nothing more leaves for it.
 * The methods keep HubLink's shape (the run id first) so the run's code reads the same.
 */
import type { LiveSessionDto, TaskRunDto } from '../common/api.ts';
import type { Ack, PaneInfo, RunCompletion, SessionReport, StepEvent } from '../common/protocol.ts';
import { STALE_ATTEMPT } from '../common/protocol.ts';
import type { LiveControl } from '../common/statuses.ts';
import type { CompletionReply, HubLink } from './hubLink.ts';

const FENCED: Ack<never> = { ok: false, error: { code: STALE_ATTEMPT, message: 'this run attempt was fenced' } };

export class AttemptLink {
  private fencedFlag = false;

  constructor(
    private readonly link: HubLink,
    readonly runId: string,
    readonly attempt: number,
    /** The hub refused this attempt as stale: the agent fences it (kills its processes). */
    private readonly onStale: () => void,
  ) {}

  get fenced(): boolean {
    return this.fencedFlag;
  }

  /** From now on nothing is sent for this attempt, and what was kept for it is dropped. */
  fence(): void {
    this.fencedFlag = true;
    this.link.dropBacklog(this.runId);
  }

  private checked<T>(ack: Ack<T>): Ack<T> {
    if (!ack.ok && ack.error.code === STALE_ATTEMPT && !this.fencedFlag) this.onStale();
    return ack;
  }

  async report(report: Omit<SessionReport, 'attempt'>): Promise<Ack<{ session: LiveSessionDto }>> {
    if (this.fencedFlag) return FENCED;
    return this.checked(await this.link.report({ ...report, runId: this.runId, attempt: this.attempt }));
  }

  async complete(completion: Omit<RunCompletion, 'attempt'>): Promise<Ack<CompletionReply>> {
    if (this.fencedFlag) return FENCED;
    return this.checked(await this.link.complete({ ...completion, runId: this.runId, attempt: this.attempt }));
  }

  async release(_runId: string, reason: string): Promise<Ack<{ run: TaskRunDto }>> {
    if (this.fencedFlag) return FENCED;
    return this.checked(await this.link.release(this.runId, this.attempt, reason));
  }

  openPane(_runId: string, pane: PaneInfo): void {
    if (!this.fencedFlag) this.link.openPane(this.runId, this.attempt, pane);
  }

  resized(_runId: string, paneId: string, cols: number, rows: number): void {
    if (!this.fencedFlag) this.link.resized(this.runId, this.attempt, paneId, cols, rows);
  }

  attention(_runId: string, waitingForInput: boolean): void {
    if (!this.fencedFlag) this.link.attention(this.runId, this.attempt, waitingForInput);
  }

  step(_runId: string, step: StepEvent): void {
    if (!this.fencedFlag) this.link.step(this.runId, this.attempt, step);
  }

  controlApplied(_runId: string, liveControl: LiveControl): void {
    if (!this.fencedFlag) this.link.controlApplied(this.runId, this.attempt, liveControl);
  }

  sendOutput(_runId: string, paneId: string, offset: number, data: Buffer): void {
    if (!this.fencedFlag) this.link.sendOutput(this.runId, this.attempt, paneId, offset, data);
  }

  dropBacklog(_runId: string): void {
    this.link.dropBacklog(this.runId);
  }

  async uploadRecording(_runId: string, body: Buffer<ArrayBuffer>): Promise<'ok' | 'refused' | 'failed'> {
    if (this.fencedFlag) return 'refused';
    return this.link.uploadRecording(this.runId, this.attempt, body);
  }
}
