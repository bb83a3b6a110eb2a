/**
 * Every reason a pane's pty is not read, in one place (architecture §5, "slow consumers"):
 *
 *  - the hub link is congested: more than HIGH_WATER bytes wait in the socket; every streaming
 *    pane of every run is held until it drains under LOW_WATER;
 *  - a hub holds a run's output (`run:flow`: all its viewers of the run are behind); the hold
 *    lapses after FLOW_HOLD_LAPSE_MS unless renewed, and holds only the run's streaming panes;
 *  - the pane's screen mirror is behind (ThreadedMirror.onBehind); holds the pane, streaming or not.
 *
 * A pane is read again only when no reason holds it. Headless output (not streaming) is never
 * held for the hub's sake. One gate serves the whole agent; each pane has a `PaneFlow` in it.
 */
import { FLOW_HOLD_LAPSE_MS } from '../common/protocol.ts';

/** Output queued towards the hub past which the agent stops reading its ptys, and where it resumes. */
export const HIGH_WATER = 4 * 1024 * 1024;
export const LOW_WATER = 1024 * 1024;

export interface OutputValve {
  pauseOutput(): void;
  resumeOutput(): void;
}

export class FlowGate {
  private linkCongested = false;
  /** runId → hubId → the lapse timer of that hub's hold */
  private readonly hubHolds = new Map<string, Map<string, NodeJS.Timeout>>();
  private readonly panes = new Set<PaneFlow>();

  /** `linkQueued`: bytes waiting in the hub link (0 while it is down). */
  constructor(private readonly linkQueued: () => number) {}

  /** A pane's place in the gate; `valve` is told when to stop and restart reading. */
  pane(runId: string, valve: OutputValve): PaneFlow {
    const p = new PaneFlow(this, runId, valve);
    this.panes.add(p);
    return p;
  }

  /** Called after output was handed to the hub link. */
  sent(): void {
    if (this.linkCongested || this.linkQueued() <= HIGH_WATER) return;
    this.linkCongested = true;
    this.applyAll();
    const poll = setInterval(() => {
      if (this.linkQueued() >= LOW_WATER) return;
      clearInterval(poll);
      this.linkCongested = false;
      this.applyAll();
    }, 5);
  }

  /** `run:flow` from hub `hubId`: its viewers of `runId` are all behind (hold, renewed while it lasts) or caught up. */
  hubHold(runId: string, hubId: string, behind: boolean): void {
    let holds = this.hubHolds.get(runId);
    const lapse = holds?.get(hubId);
    if (lapse) clearTimeout(lapse);
    holds?.delete(hubId);
    if (behind) {
      if (!holds) this.hubHolds.set(runId, (holds = new Map()));
      const t = setTimeout(() => this.hubHold(runId, hubId, false), FLOW_HOLD_LAPSE_MS);
      t.unref();
      holds.set(hubId, t);
    } else if (holds?.size === 0) this.hubHolds.delete(runId);
    this.applyRun(runId);
  }

  /** Drops every hub hold on a run (it ended, or its live layer went down). */
  releaseRun(runId: string): void {
    const holds = this.hubHolds.get(runId);
    if (!holds) return;
    for (const t of holds.values()) clearTimeout(t);
    this.hubHolds.delete(runId);
    this.applyRun(runId);
  }

  /** Whether the hub side holds a streaming pane of `runId`. */
  heldForHub(runId: string): boolean {
    return this.linkCongested || (this.hubHolds.get(runId)?.size ?? 0) > 0;
  }

  forget(p: PaneFlow): void {
    this.panes.delete(p);
  }

  private applyAll(): void {
    for (const p of this.panes) p.apply();
  }

  private applyRun(runId: string): void {
    for (const p of this.panes) if (p.runId === runId) p.apply();
  }
}

export class PaneFlow {
  private isStreaming = false;
  private isMirrorBehind = false;
  private held = false;

  constructor(
    private readonly gate: FlowGate,
    readonly runId: string,
    private readonly valve: OutputValve,
  ) {}

  /** The pane streams to the hub (its output may be held for the hub's sake) or not. */
  streaming(on: boolean): void {
    this.isStreaming = on;
    this.apply();
  }

  mirrorBehind(on: boolean): void {
    this.isMirrorBehind = on;
    this.apply();
  }

  get isHeld(): boolean {
    return this.held;
  }

  apply(): void {
    const held = this.isMirrorBehind || (this.isStreaming && this.gate.heldForHub(this.runId));
    if (held === this.held) return;
    this.held = held;
    if (held) this.valve.pauseOutput();
    else this.valve.resumeOutput();
  }

  /** The pane is gone: no reason holds it any more. */
  close(): void {
    this.isStreaming = false;
    this.isMirrorBehind = false;
    this.apply();
    this.gate.forget(this);
  }
}
