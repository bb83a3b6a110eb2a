/**
 * The worker agent: holds the hub socket, claims runs up to its capacity, dispatches the hub's
 * commands to the run they concern, heartbeats. `startAgent` is what `handoff agent` and the
 * tests call.
 */
import { FINAL_SCREEN_RETENTION_MS } from '../common/protocol.ts';
import type { AgentConfig } from './agentConfig.ts';
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

export function startAgent(config: AgentConfig, log: (msg: string) => void = (m) => process.stderr.write(`handoff agent: ${m}\n`)): RunningAgent {
  const runs = new Map<string, RunExecution>();
  const finished = new Map<string, Promise<StepRunResult>>();
  const link = new HubLink(config, () => [...runs.values()].map((r) => r.state()), log);
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

  const claim = async () => {
    if (claiming || closing) return;
    claiming = true;
    try {
      while (!closing && link.isReady && runs.size < config.capacity) {
        const taskRun = await link.claim();
        if (!taskRun) break;
        const exec = new RunExecution(taskRun, config, link, gate, log);
        runs.set(exec.runId, exec);
        const done = exec.execute().finally(() => {
          runs.delete(exec.runId);
          retain(exec);
          void claim();
        });
        finished.set(exec.runId, done);
      }
    } finally {
      claiming = false;
    }
  };

  link.onReady((reply) => {
    for (const id of reply.abandon) runs.get(id)?.cancel();
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

  const heartbeat = setInterval(() => {
    if (!link.isReady || runs.size === 0) return;
    void link.heartbeat([...runs.values()].map((r) => r.state())).then((beat) => {
      if (!beat) return;
      for (const id of beat.abandon) runs.get(id)?.cancel();
      for (const [id, lc] of Object.entries(beat.controls ?? {})) runs.get(id)?.reconcileControl(lc);
    });
  }, config.heartbeatSeconds * 1000);
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
      clearInterval(heartbeat);
      clearInterval(poll);
      if (opts.handBack) for (const r of runs.values()) r.handBack(opts.reason);
      else if (opts.cancelRuns) for (const r of runs.values()) r.cancel(opts.reason);
      await Promise.allSettled([...runs.keys()].map((id) => finished.get(id)));
      for (const { exec, timer } of retained.values()) {
        clearTimeout(timer);
        exec.release();
      }
      retained.clear();
      link.close();
    },
  };
}
