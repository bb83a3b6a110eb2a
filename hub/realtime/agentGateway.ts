/**
 * The agents' namespace: worker-token handshake, claims, session reports, heartbeats, and the
 * output relay. The relay is the hot path: one Set lookup and one room broadcast per chunk, no
 * database and no JSON (the bytes travel as a binary attachment).
 */
import type { Logger } from 'pino';
import type { AgentHello, AgentRunState, PaneInfo, RunCompletion, StepEvent } from '../../common/protocol.ts';
import { FINAL_SCREEN_RETENTION_MS, PROTOCOL_VERSION, stepMarkerLabel, TASK_PANE } from '../../common/protocol.ts';
import type { LiveControl } from '../../common/statuses.ts';
import type { TokenService } from '../auth/tokens.ts';
import { invalidPayload as badInputError } from '../domain/errors.ts';
import { storableText } from '../domain/text.ts';
import { parse, reportMessage } from '../domain/commands.ts';
import type { HubConfig } from '../config.ts';
import type { LiveSessionService } from '../domain/liveSessions.ts';
import type { TaskRunService } from '../domain/taskRuns.ts';
import type { HubMetrics } from '../metrics.ts';
import type { LiveRecorder } from '../recordings/liveRecorder.ts';
import { answer } from './acks.ts';
import { AGENT_FRAME_LIMIT, raiseFrameLimit } from './frameLimits.ts';
import { agentRunRoom, viewerOutputRoom, viewerRunRoom, workerRoom } from './rooms.ts';
import type { AgentNamespace, AgentSocket, ViewerNamespace } from './types.ts';
import { byteLength, isBytes, isObject, isOffset, isPaneId, isRunId, isSize, MAX_AGENT_RUNS } from './wireChecks.ts';

export interface AgentGatewayDeps {
  agents: AgentNamespace;
  viewers: ViewerNamespace;
  tokens: TokenService;
  runs: TaskRunService;
  sessions: LiveSessionService;
  recorder: LiveRecorder;
  config: HubConfig;
  metrics: HubMetrics;
  log: Logger;
}


/** The well-formed run states of a hello or heartbeat, each run once; too many is refused. */
function agentRunStates(raw: unknown): AgentRunState[] {
  if (!Array.isArray(raw)) return [];
  if (raw.length > MAX_AGENT_RUNS) throw badInputError(`at most ${MAX_AGENT_RUNS} runs per hello or heartbeat`);
  const seen = new Set<string>();
  const out: AgentRunState[] = [];
  for (const r of raw) {
    if (!isObject(r) || !isRunId(r.runId) || seen.has(r.runId)) continue;
    seen.add(r.runId);
    out.push(r as unknown as AgentRunState);
  }
  return out;
}

export function attachAgentGateway(deps: AgentGatewayDeps): void {
  const { agents, viewers, tokens, runs, sessions, recorder, metrics, log } = deps;

  agents.use((socket, next) => {
    const token = (socket.handshake.auth as { token?: unknown })?.token;
    try {
      if (typeof token !== 'string') throw new Error('missing token');
      const claims = tokens.verifyWorker(token);
      socket.data.workerId = claims.workerId;
      socket.data.runs = new Set();
      socket.data.capacity = 1;
      socket.data.hostname = '';
      raiseFrameLimit(socket.conn, AGENT_FRAME_LIMIT);
      next();
    } catch {
      next(new Error('unauthorized: a worker token is required'));
    }
  });

  agents.on('connection', (socket: AgentSocket) => {
    const workerId = socket.data.workerId;
    metrics.agentsConnected.inc();
    void socket.join(workerRoom(workerId));
    log.info({ workerId, socket: socket.id }, 'agent connected');

    const own = (runId: string) => {
      socket.data.runs.add(runId);
      void socket.join(agentRunRoom(runId));
    };
    const disown = (runId: string) => {
      socket.data.runs.delete(runId);
      void socket.leave(agentRunRoom(runId));
    };
    // A completed run's agent keeps its final screens for a while: snapshot requests (a viewer
    // resyncing after falling behind at the end) still reach it, nothing else does anything.
    // Marked from the moment its completion arrives: a heartbeat answered meanwhile lists the
    // run as abandoned (it is no longer running), which must not take the agent out early.
    const completing = new Set<string>();
    const disownAfterRetention = (runId: string) => {
      socket.data.runs.delete(runId);
      setTimeout(() => {
        completing.delete(runId);
        if (!socket.data.runs.has(runId)) void socket.leave(agentRunRoom(runId));
      }, FINAL_SCREEN_RETENTION_MS).unref();
    };

    socket.on('agent:hello', (hello: AgentHello, ack) =>
      answer(ack, log, async () => {
        if (!isObject(hello) || hello.protocol !== PROTOCOL_VERSION) throw badInputError(`protocol ${PROTOCOL_VERSION} required`);
        socket.data.hostname = typeof hello.hostname === 'string' ? storableText(hello.hostname.slice(0, 255)) : '';
        socket.data.capacity = typeof hello.capacity === 'number' && Number.isFinite(hello.capacity) ? Math.max(1, Math.min(256, Math.floor(hello.capacity))) : 1;
        const states = agentRunStates(hello.runs);
        const { abandon } = await runs.heartbeat(workerId, states.map((r) => r.runId));
        const abandoned = new Set(abandon);
        for (const r of states) {
          if (abandoned.has(r.runId)) continue;
          own(r.runId);
          // Viewers learn the panes' current offsets: anything they missed is a gap, and they resync.
          for (const p of Array.isArray(r.panes) ? r.panes.filter((p) => isObject(p) && isPaneId(p.paneId)) : []) viewers.to(viewerRunRoom(r.runId)).emit('pane:open', r.runId, p);
        }
        return { heartbeatSeconds: deps.config.heartbeatSeconds, abandon };
      }),
    );

    socket.on('run:claim', (ack) =>
      answer(ack, log, async () => {
        if (socket.data.runs.size >= socket.data.capacity) return { taskRun: null };
        const taskRun = await runs.claim(workerId);
        if (taskRun) own(taskRun.id);
        return { taskRun };
      }),
    );

    socket.on('session:report', (report: unknown, ack) =>
      answer(ack, log, async () => {
        // the same schema as the REST report
        const valid = parse(reportMessage, report, 'report');
        const session = await sessions.report(workerId, { ...valid, workerHostname: valid.workerHostname ?? socket.data.hostname });
        return { session };
      }),
    );

    socket.on('run:heartbeat', (states: AgentRunState[], ack) =>
      answer(ack, log, async () => {
        const ids = agentRunStates(states).map((s) => s.runId);
        const beat = await runs.heartbeat(workerId, ids);
        for (const id of beat.abandon) if (!completing.has(id)) disown(id);
        return beat;
      }),
    );

    socket.on('pane:open', (runId: string, pane: PaneInfo) => {
      if (!socket.data.runs.has(runId) || !isObject(pane)) return;
      if (!isPaneId(pane.paneId)) return void log.warn({ workerId, runId }, 'pane:open refused: a pane id is 1-32 of [a-z0-9-]');
      viewers.to(viewerRunRoom(runId)).emit('pane:open', runId, pane);
    });

    socket.on('pane:resize', (runId: string, paneId: string, cols: number, rows: number) => {
      if (!socket.data.runs.has(runId) || !isPaneId(paneId) || !isSize(cols) || !isSize(rows)) return;
      recorder.resized(runId, paneId, cols, rows);
      viewers.to(viewerRunRoom(runId)).emit('pane:resize', runId, paneId, cols, rows);
    });

    // Hot path.
    socket.on('pane:output', (runId: string, paneId: string, offset: number, data: Uint8Array | ArrayBuffer) => {
      if (!socket.data.runs.has(runId) || !isBytes(data) || !isOffset(offset) || !isPaneId(paneId)) return;
      metrics.outputChunks.inc();
      metrics.outputBytes.inc(byteLength(data));
      recorder.output(runId, paneId, offset, data instanceof ArrayBuffer ? new Uint8Array(data) : data);
      viewers.to(viewerOutputRoom(runId)).emit('pane:output', runId, paneId, offset, data);
    });

    socket.on('control:applied', (runId: string, liveControl: LiveControl) => {
      if (!socket.data.runs.has(runId) || !isObject(liveControl)) return;
      runs.controlApplied(workerId, runId, liveControl).catch((err: unknown) => log.warn({ err: (err as Error).message, runId }, 'control ack failed'));
    });

    socket.on('run:attention', (runId: string, waitingForInput: boolean) => {
      if (!socket.data.runs.has(runId) || typeof waitingForInput !== 'boolean') return;
      runs.attention(workerId, runId, waitingForInput).catch((err: unknown) => log.warn({ err: (err as Error).message, runId }, 'attention report refused'));
    });

    // A run's step events are written in the order they came and before its completion or
    // release: an agent may send the last step's end and run:complete back to back.
    const stepWrites = new Map<string, Promise<void>>();
    socket.on('run:step', (runId: string, step: StepEvent) => {
      if (!socket.data.runs.has(runId) || !isObject(step) || !Number.isInteger(step.index) || step.index < 0 || (step.phase !== 'start' && step.phase !== 'end')) return;
      const exitCode = Number.isInteger(step.exitCode) ? step.exitCode : undefined;
      recorder.marker(runId, stepMarkerLabel(step.index, step.phase, exitCode));
      // In order with the pane:output frames before it (same socket, same room): viewers mark
      // the line where the step began.
      if (step.phase === 'start' && isOffset(step.offset)) {
        viewers.to(viewerOutputRoom(runId)).emit('pane:mark', runId, TASK_PANE, step.offset, step.index);
      }
      const write = (stepWrites.get(runId) ?? Promise.resolve())
        .then(() => runs.step(workerId, runId, { index: step.index, phase: step.phase, ...(exitCode === undefined ? {} : { exitCode }) }))
        .catch((err: unknown) => log.warn({ err: (err as Error).message, runId }, 'step event refused'));
      stepWrites.set(runId, write);
      void write.then(() => {
        if (stepWrites.get(runId) === write) stepWrites.delete(runId);
      });
    });

    socket.on('run:complete', (completion: RunCompletion, ack) =>
      answer(ack, log, async () => {
        if (!isObject(completion) || !isRunId(completion.runId)) throw badInputError('completion needs a runId');
        if (!['succeeded', 'failed', 'cancelled'].includes(completion.status)) throw badInputError('status must be succeeded, failed or cancelled');
        const exitCode = typeof completion.exitCode === 'number' && Number.isInteger(completion.exitCode) ? completion.exitCode : null;
        completing.add(completion.runId);
        // The recording holds the run's last byte before anyone learns it ended.
        if (socket.data.runs.has(completion.runId)) await recorder.finish(completion.runId);
        await stepWrites.get(completion.runId);
        try {
          const reason = typeof completion.reason === 'string' && completion.reason ? storableText(completion.reason.slice(0, 500)) : undefined;
          const run = await runs.complete(workerId, completion.runId, { status: completion.status, exitCode, ...(reason ? { reason } : {}) });
          disownAfterRetention(completion.runId);
          return { run };
        } catch (err) {
          completing.delete(completion.runId);
          throw err;
        }
      }),
    );

    socket.on('run:release', (runId: string, reason: string, ack) =>
      answer(ack, log, async () => {
        if (!isRunId(runId)) throw badInputError('release needs a runId');
        if (socket.data.runs.has(runId)) await recorder.finish(runId);
        await stepWrites.get(runId);
        const run = await runs.release(workerId, runId, typeof reason === 'string' ? storableText(reason.slice(0, 500)) : 'handed back');
        disown(runId);
        return { run };
      }),
    );

    socket.on('disconnect', (reason) => {
      metrics.agentsConnected.dec();
      // Everything this hub relayed is in the recording even if the agent never comes back.
      for (const runId of socket.data.runs) void recorder.finish(runId);
      log.info({ workerId, reason }, 'agent disconnected');
    });
  });
}
