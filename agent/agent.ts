/**
 * The worker agent: holds the hub socket, claims runs up to its capacity, dispatches the hub's
 * commands to the run they concern, heartbeats. `startAgent` is what `handoff agent` and the
 * tests call.
 *
 * Fencing (architecture §7a): each run is one attempt. An attempt the hub calls stale (a
 * `stale_attempt` answer, the hello's `stale`) or whose lease ran out (no acknowledged heartbeat
 * for the lease) is killed at once and dropped: the hub may already run it elsewhere.
 */
import type { AgentRunState } from '../common/protocol.ts';
import { FINAL_SCREEN_RETENTION_MS } from '../common/protocol.ts';
import type { AgentConfig } from './agentConfig.ts';
import { AttemptLink } from './attemptLink.ts';
import { FlowGate } from './flowGate.ts';
import { HubLink } from './hubLink.ts';
import { RunExecution } from './runExecution.ts';
import type { StepRunResult } from './stepRunner.ts';

export interface RunningAgent {
  config: AgentConfig;
  link: HubLink;
  runs: Map<string, RunExecution>;
  /** Resolves with each run's result as it finishes (tests wait on it). */
  finished: Map<string, Promise<StepRunResult>>;
  /** Stops claiming, then finishes (default), cancels or hands back the runs in progress. */
  close(opts?: { cancelRuns?: boolean; handBack?: boolean; reason?: string }): Promise<void>;
  /** Cancels every run in progress (e.g. a second stop signal while finishing). */
  cancelRuns(reason: string): void;
}

/** How often the agent looks whether a run's lease ran out. */
const LEASE_CHECK_MS = 250;

export function startAgent(config: AgentConfig, log: (msg: string) => void = (m) => process.stderr.write(`handoff agent: ${m}\n`)): RunningAgent {
  const runs = new Map<string, RunExecution>();
  const finished = new Map<string, Promise<StepRunResult>>();
  /** Each running run's attempt link. */
  const attempts = new Map<string, AttemptLink>();
  /** Each running run's lease start: when the last request the hub acknowledged for it was sent (performance.now()). */
  const leaseFrom = new Map<string, number>();
  /** The lease the hub announced in its last hello (null: it never re-queues a lost run). */
  let hubLease: number | null = null;
  const states = (): AgentRunState[] =>
    [...runs.values()].flatMap((r) => {
      const a = attempts.get(r.runId);
      return a && !a.fenced ? [{ ...r.state(), attempt: a.attempt }] : [];
    });
  const link = new HubLink(config, states, log);
  const gate = new FlowGate(() => link.queuedBytes());
  let closing = false;
  let claiming = false;

  // Finished runs keep their final screens for a while: a viewer that fell behind during the
  // last burst (or lost output to a reconnect) resyncs from them instead of being left short.
  const retained = new Map<string, { exec: RunExecution; timer: NodeJS.Timeout }>();
  const retain = (exec: RunExecution) => {
    if (closing) return exec.release();
    const timer = setTimeout(() => {
      retained.delete(exec.runId);
      exec.release();
    }, FINAL_SCREEN_RETENTION_MS);
    timer.unref();
    retained.set(exec.runId, { exec, timer });
  };

  /** Kills a run attempt at once and drops it: nothing more is sent for it, nothing is kept of it. */
  const fence = (runId: string, why: string) => {
    const exec = runs.get(runId);
    const a = attempts.get(runId);
    if (!exec || !a || a.fenced) return;
    log(`run ${runId}: attempt ${a.attempt} fenced (${why}); its processes are killed`);
    a.fence();
    exec.fence();
    runs.delete(runId);
    attempts.delete(runId);
    leaseFrom.delete(runId);
  };

  const claim = async () => {
    if (claiming || closing) return;
    claiming = true;
    try {
      while (!closing && link.isReady && runs.size < config.capacity) {
        const sentAt = performance.now();
        const taskRun = await link.claim();
        if (!taskRun) break;
        // The same run claimed again (a new attempt) while an older one is still here: that one is over.
        fence(taskRun.id, `attempt ${taskRun.attempt} was claimed`);
        const attempt = new AttemptLink(link, taskRun.id, taskRun.attempt, () => fence(taskRun.id, 'the hub answered stale_attempt'));
        const exec = new RunExecution(taskRun, config, attempt, gate, log);
        runs.set(exec.runId, exec);
        attempts.set(exec.runId, attempt);
        leaseFrom.set(exec.runId, sentAt);
        const done = exec.execute().finally(() => {
          if (runs.get(exec.runId) === exec) {
            runs.delete(exec.runId);
            attempts.delete(exec.runId);
            leaseFrom.delete(exec.runId);
          }
          if (attempt.fenced) exec.release();
          else retain(exec);
          void claim();
        });
        finished.set(exec.runId, done);
      }
    } finally {
      claiming = false;
    }
  };

  link.onReady((reply, sentAt) => {
    hubLease = typeof reply.leaseSeconds === 'number' && reply.leaseSeconds > 0 ? reply.leaseSeconds : null;
    for (const id of reply.stale ?? []) fence(id, 'the hub says this attempt is not ours any more');
    for (const id of reply.abandon) runs.get(id)?.cancel();
    // The hello refreshed the others' heartbeats.
    const over = new Set(reply.abandon);
    for (const id of runs.keys()) if (!over.has(id) && leaseFrom.has(id)) leaseFrom.set(id, Math.max(leaseFrom.get(id) ?? 0, sentAt));
    void claim();
  });
  link.on('run:available', () => void claim());
  link.on('pane:input', (runId, paneId, data) => runs.get(runId)?.input(paneId, Buffer.from(data as Uint8Array)));
  link.on('pane:resize', (runId, paneId, cols, rows) => runs.get(runId)?.resize(paneId, cols, rows));
  link.on('run:snapshot', (runId, paneId, opts, ack) => {
    const run = runs.get(runId) ?? retained.get(runId)?.exec;
    if (!run) return ack({ ok: false, error: { code: 'not_found', message: 'run not on this agent' } });
    run.snapshots(paneId, opts?.scrollback !== false).then(
      (data) => ack({ ok: true, data }),
      (err: Error) => ack({ ok: false, error: { code: 'unavailable', message: err.message } }),
    );
  });
  link.on('run:control', (cmd) => runs.get(cmd.runId)?.onControl(cmd));
  link.on('run:message', (msg) => runs.get(msg.runId)?.onMessage(msg));
  link.on('run:cancel', (runId) => runs.get(runId)?.cancel());
  link.on('run:flow', (runId, hubId, behind) => {
    if (typeof hubId === 'string' && typeof behind === 'boolean') runs.get(runId)?.viewersBehind(hubId.slice(0, 64), behind);
  });
  link.on('session:revoked', (runId, reason) => runs.get(runId)?.revokeLive(reason));
  link.on('session:enable', (runId) => void runs.get(runId)?.startLive());

  const beat = async (again = true): Promise<void> => {
    if (!link.isReady || runs.size === 0) return;
    const sent = states();
    const sentAt = performance.now();
    const outcome = await link.heartbeat(sent);
    if (!outcome) return;
    if (!outcome.ok) {
      // Refused whole for the stale attempts it named: those die here, the others beat again at once.
      for (const id of outcome.stale) fence(id, 'the hub answered stale_attempt');
      if (again && outcome.stale.length) await beat(false);
      return;
    }
    const over = new Set(outcome.data.abandon);
    for (const s of sent) if (attempts.get(s.runId)?.attempt === s.attempt && !over.has(s.runId)) leaseFrom.set(s.runId, sentAt);
    for (const id of outcome.data.abandon) runs.get(id)?.cancel();
    for (const [id, lc] of Object.entries(outcome.data.controls ?? {})) runs.get(id)?.reconcileControl(lc);
  };
  // Heartbeats go on while the agent finishes its runs after a stop signal: they end with close().
  const heartbeat = setInterval(() => void beat(), config.heartbeatSeconds * 1000);
  // The lease: the shorter of the hub's and this agent's own; none if neither asks for one.
  const leaseMs = (): number | null => {
    const l = [hubLease, config.runLeaseSeconds].filter((v): v is number => typeof v === 'number');
    return l.length ? Math.min(...l) * 1000 : null;
  };
  const leaseCheck = setInterval(() => {
    const ms = leaseMs();
    if (ms === null) return;
    const now = performance.now();
    for (const [id, from] of leaseFrom) if (now - from > ms) fence(id, `no heartbeat acknowledged for ${Math.round((now - from) / 1000)} s, past the ${ms / 1000} s lease`);
  }, LEASE_CHECK_MS);
  leaseCheck.unref();
  // A back-stop for a missed run:available.
  const poll = setInterval(() => void claim(), Math.max(2000, config.heartbeatSeconds * 1000));

  link.connect();
  return {
    config,
    link,
    runs,
    finished,
    cancelRuns(reason) {
      for (const r of runs.values()) r.cancel(reason);
    },
    async close(opts = {}) {
      closing = true;
      clearInterval(poll);
      if (opts.handBack) for (const r of runs.values()) r.handBack(opts.reason);
      else if (opts.cancelRuns) for (const r of runs.values()) r.cancel(opts.reason);
      // Still heartbeating (and under the lease) until the last run has reported: a run finishing
      // after a stop signal is never taken for lost (architecture §10).
      await Promise.allSettled([...runs.keys()].map((id) => finished.get(id)));
      clearInterval(heartbeat);
      clearInterval(leaseCheck);
      for (const { exec, timer } of retained.values()) {
        clearTimeout(timer);
        exec.release();
      }
      retained.clear();
      link.close();
    },
  };
}
