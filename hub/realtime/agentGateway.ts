/**
 * The agents' namespace: worker-token handshake, claims, session reports, heartbeats, and the
 * output relay. The relay is the hot path: one Map lookup and one room broadcast per chunk, no
 * database and no JSON (the bytes travel as a binary attachment).
 *
 * Fencing (architecture §7a): every message about a run names its attempt. A socket streams only
 * for the attempts it claimed or that the database confirmed as its own (hello, heartbeat); the
 * commands (report, step, complete…) are checked against the run's row, and a mismatch is
 * answered `stale_attempt` with nothing changed. When a run's attempt moves on (re-queue, a new
 * claim) every hub drops the sockets still holding an older one.
 */
import type { Logger } from 'pino';
import type { z } from 'zod';
import type { AgentHello, AgentRunState, PaneInfo, StepEvent } from '../../common/protocol.ts';
import { FINAL_SCREEN_RETENTION_MS, PROTOCOL_VERSION, STALE_ATTEMPT, stepMarkerLabel, TASK_PANE } from '../../common/protocol.ts';
import type { TaskRunDto } from '../../common/api.ts';
import type { HubEvents } from '../domain/hubEvents.ts';
import { ApiError, staleAttempt } from '../domain/errors.ts';
import type { LiveControl } from '../../common/statuses.ts';
import type { TokenService } from '../auth/tokens.ts';
import { invalidPayload as badInputError } from '../domain/errors.ts';
import { storableText } from '../domain/text.ts';
import { attentionMessage, completeMessage, controlAppliedMessage, parse, releaseMessage, reportMessage, stepMessage } from '../domain/commands.ts';
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
  events: HubEvents;
  /** Several hubs share an adapter: a fence must reach the hub holding the stale socket. */
  clustered: boolean;
  log: Logger;
}

/** An attempt number on the wire: a positive safe integer (anything else names no attempt). */
const isAttempt = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 1;


/** The well-formed run states of a hello or heartbeat, each run once; too many is refused. */
function agentRunStates(raw: unknown): AgentRunState[] {
  if (!Array.isArray(raw)) return [];
  if (raw.length > MAX_AGENT_RUNS) throw badInputError(`at most ${MAX_AGENT_RUNS} runs per hello or heartbeat`);
  const seen = new Set<string>();
  const out: AgentRunState[] = [];
  for (const r of raw) {
    if (!isObject(r) || !isRunId(r.runId) || seen.has(r.runId)) continue;
    if (!isAttempt(r.attempt)) throw badInputError(`run ${r.runId}: attempt must be the claim's attempt number`);
    seen.add(r.runId);
    out.push(r as unknown as AgentRunState);
  }
  return out;
}

export function attachAgentGateway(deps: AgentGatewayDeps): void {
  const { agents, viewers, tokens, runs, sessions, recorder, metrics, events, log } = deps;

  // This hub's sockets per run, to fence the ones holding an attempt that is over.
  const holders = new Map<string, Set<AgentSocket>>();
  const fenceHere = (runId: string, attempt: number, workerId: string | null) => {
    for (const s of holders.get(runId) ?? []) {
      const held = s.data.runs.get(runId);
      if (held === undefined || (held === attempt && (workerId === null || s.data.workerId === workerId))) continue;
      s.data.runs.delete(runId);
      void s.leave(agentRunRoom(runId));
      holders.get(runId)?.delete(s);
      log.info({ workerId: s.data.workerId, runId, attempt: held, current: attempt }, 'fenced a stale run attempt');
    }
    if (!holders.get(runId)?.size) holders.delete(runId);
  };
  // A run re-queued or claimed: the previous attempt's socket (here or on another hub) stops streaming at once.
  events.on('run:changed', (run: TaskRunDto) => {
    if (run.status !== 'queued' && run.status !== 'running') return;
    if (run.status === 'queued' && run.attempt === 1) return; // a new run: nobody held it
    fenceHere(run.id, run.attempt, run.workerId);
    // A re-queue ends every earlier attempt: the hubs holding their sockets learn it too (a new
    // claim needs no message: its attempt follows a re-queue that was sent already).
    if (deps.clustered && run.status === 'queued') agents.serverSideEmit('run:fenced', run.id, run.attempt, run.workerId);
  });
  if (deps.clustered) agents.on('run:fenced', (runId, attempt, workerId) => fenceHere(runId, attempt, workerId));


  agents.use((socket, next) => {
    const token = (socket.handshake.auth as { token?: unknown })?.token;
    try {
      if (typeof token !== 'string') throw new Error('missing token');
      const claims = tokens.verifyWorker(token);
      socket.data.workerId = claims.workerId;
      socket.data.runs = new Map();
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

    /** Refuses a fire-and-forget message of an attempt this socket does not hold: nothing relayed, logged once per run. */
    const warned = new Set<string>();
    const refused = (runId: unknown, attempt: unknown, what: string): boolean => {
      if (!isRunId(runId)) return true;
      const held = socket.data.runs.get(runId);
      if (held !== undefined && held === attempt) return false;
      if (!warned.has(runId) && warned.size < 1024) {
        warned.add(runId);
        log.warn({ workerId, runId, attempt, held: held ?? null, code: STALE_ATTEMPT }, `${what} refused: not this socket's current attempt`);
      }
      return true;
    };
    const own = (runId: string, attempt: number) => {
      socket.data.runs.set(runId, attempt);
      let set = holders.get(runId);
      if (!set) holders.set(runId, (set = new Set()));
      set.add(socket);
      void socket.join(agentRunRoom(runId));
    };
    const forget = (runId: string) => {
      socket.data.runs.delete(runId);
      const set = holders.get(runId);
      set?.delete(socket);
      if (set && !set.size) holders.delete(runId);
    };
    const disown = (runId: string) => {
      forget(runId);
      void socket.leave(agentRunRoom(runId));
    };
    /** Stale attempts of a hello or heartbeat: off this socket, logged. */
    const fenceStale = (stale: string[], what: string) => {
      for (const id of stale) {
        if (!completing.has(id)) disown(id);
      }
      if (stale.length) log.warn({ workerId, runs: stale.slice(0, 20), count: stale.length, code: STALE_ATTEMPT }, `${what}: stale run attempts refused`);
    };
    // A completed run's agent keeps its final screens for a while: snapshot requests (a viewer
    // resyncing after falling behind at the end) still reach it, nothing else does anything.
    // Marked from the moment its completion arrives: a heartbeat answered meanwhile lists the
    // run as abandoned (it is no longer running), which must not take the agent out early.
    const completing = new Set<string>();
    const disownAfterRetention = (runId: string) => {
      forget(runId);
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
        const { abandon, stale } = await runs.heartbeat(workerId, states.map((r) => ({ runId: r.runId, attempt: r.attempt })));
        const notOurs = new Set([...abandon, ...stale]);
        fenceStale(stale, 'hello');
        for (const r of states) {
          if (notOurs.has(r.runId)) continue;
          own(r.runId, r.attempt);
          // Viewers learn the panes' current offsets: anything they missed is a gap, and they resync.
          for (const p of Array.isArray(r.panes) ? r.panes.filter((p) => isObject(p) && isPaneId(p.paneId)) : []) viewers.to(viewerRunRoom(r.runId)).emit('pane:open', r.runId, p);
        }
        const leaseSeconds = deps.config.workerLostPolicy === 'requeue' ? deps.config.runLeaseSeconds : null;
        return { heartbeatSeconds: deps.config.heartbeatSeconds, abandon, stale, leaseSeconds };
      }),
    );

    socket.on('run:claim', (ack) =>
      answer(ack, log, async () => {
        if (socket.data.runs.size >= socket.data.capacity) return { taskRun: null };
        const taskRun = await runs.claim(workerId);
        if (taskRun) own(taskRun.id, taskRun.attempt);
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
        const beats = agentRunStates(states).map((s) => ({ runId: s.runId, attempt: s.attempt }));
        try {
          const beat = await runs.heartbeat(workerId, beats, { refuseStale: true });
          const over = new Set(beat.abandon);
          for (const id of over) if (!completing.has(id)) disown(id);
          // Confirmed current attempts: (re)joined, e.g. after a fence that raced a new claim.
          for (const b of beats) if (!over.has(b.runId) && !completing.has(b.runId)) own(b.runId, b.attempt);
          return { abandon: beat.abandon, controls: beat.controls };
        } catch (err) {
          if (err instanceof ApiError && err.code === STALE_ATTEMPT) fenceStale((err.details as { stale: string[] }).stale, 'heartbeat');
          throw err;
        }
      }),
    );

    socket.on('pane:open', (runId: string, attempt: number, pane: PaneInfo) => {
      if (refused(runId, attempt, 'pane:open') || !isObject(pane)) return;
      if (!isPaneId(pane.paneId)) return void log.warn({ workerId, runId }, 'pane:open refused: a pane id is 1-32 of [a-z0-9-]');
      viewers.to(viewerRunRoom(runId)).emit('pane:open', runId, pane);
    });

    socket.on('pane:resize', (runId: string, attempt: number, paneId: string, cols: number, rows: number) => {
      if (refused(runId, attempt, 'pane:resize') || !isPaneId(paneId) || !isSize(cols) || !isSize(rows)) return;
      recorder.resized(runId, paneId, cols, rows);
      viewers.to(viewerRunRoom(runId)).emit('pane:resize', runId, paneId, cols, rows);
    });

    // Hot path.
    socket.on('pane:output', (runId: string, attempt: number, paneId: string, offset: number, data: Uint8Array | ArrayBuffer) => {
      if ((socket.data.runs.get(runId) !== attempt && refused(runId, attempt, 'pane:output')) || !isBytes(data) || !isOffset(offset) || !isPaneId(paneId)) return;
      metrics.outputChunks.inc();
      metrics.outputBytes.inc(byteLength(data));
      recorder.output(runId, paneId, offset, data instanceof ArrayBuffer ? new Uint8Array(data) : data);
      viewers.to(viewerOutputRoom(runId)).emit('pane:output', runId, paneId, offset, data);
    });

    /** An event without an ack: the command, or undefined once the refusal is logged (nobody to answer). */
    const parsedOrLogged = <S extends z.ZodType>(schema: S, raw: unknown, runId: string, what: string): z.infer<S> | undefined => {
      try {
        return parse(schema, raw, what);
      } catch (err) {
        log.warn({ err: (err as Error).message, runId }, `${what} refused`);
        return undefined;
      }
    };

    socket.on('control:applied', (runId: string, attempt: number, raw: unknown) => {
      if (refused(runId, attempt, 'control:applied')) return;
      const liveControl: LiveControl | undefined = parsedOrLogged(controlAppliedMessage, raw, runId, 'control ack');
      if (liveControl === undefined) return;
      runs.controlApplied(workerId, runId, attempt, liveControl).catch((err: unknown) => log.warn({ err: (err as Error).message, runId }, 'control ack failed'));
    });

    socket.on('run:attention', (runId: string, attempt: number, raw: unknown) => {
      if (refused(runId, attempt, 'run:attention')) return;
      const waitingForInput = parsedOrLogged(attentionMessage, raw, runId, 'attention report');
      if (waitingForInput === undefined) return;
      runs.attention(workerId, runId, attempt, waitingForInput).catch((err: unknown) => log.warn({ err: (err as Error).message, runId }, 'attention report refused'));
    });

    // A run's step events are written in the order they came and before its completion or
    // release: an agent may send the last step's end and run:complete back to back.
    const stepWrites = new Map<string, Promise<void>>();
    socket.on('run:step', (runId: string, attempt: number, raw: unknown) => {
      if (refused(runId, attempt, 'run:step')) return;
      const step: StepEvent | undefined = parsedOrLogged(stepMessage, raw, runId, 'step event');
      if (step === undefined) return;
      const exitCode = step.exitCode;
      recorder.marker(runId, stepMarkerLabel(step.index, step.phase, exitCode));
      // In order with the pane:output frames before it (same socket, same room): viewers mark
      // the line where the step began.
      if (step.phase === 'start' && step.offset !== undefined) {
        viewers.to(viewerOutputRoom(runId)).emit('pane:mark', runId, TASK_PANE, step.offset, step.index);
      }
      const write = (stepWrites.get(runId) ?? Promise.resolve())
        .then(() => runs.step(workerId, runId, attempt, { index: step.index, phase: step.phase, ...(exitCode === undefined ? {} : { exitCode }) }))
        .catch((err: unknown) => log.warn({ err: (err as Error).message, runId }, 'step event refused'));
      stepWrites.set(runId, write);
      void write.then(() => {
        if (stepWrites.get(runId) === write) stepWrites.delete(runId);
      });
    });

    socket.on('run:complete', (raw: unknown, ack) =>
      answer(ack, log, async () => {
        const completion = parse(completeMessage, raw, 'completion');
        const exitCode = completion.exitCode ?? null;
        completing.add(completion.runId);
        // The recording holds the run's last byte before anyone learns it ended.
        // (only the holder of the attempt: a stale agent's completion never closes the current recording)
        if (socket.data.runs.get(completion.runId) === completion.attempt) await recorder.finish(completion.runId);
        await stepWrites.get(completion.runId);
        try {
          const reason = completion.reason || undefined;
          const run = await runs.complete(workerId, completion.runId, completion.attempt, { status: completion.status, exitCode, ...(reason ? { reason } : {}) });
          disownAfterRetention(completion.runId);
          // what the relayed output left in the recording: the agent uploads its own only if it holds more
          const recordedOutputBytes = await recorder.heldOutputBytes(completion.runId).catch(() => 0);
          return { run, recordedOutputBytes };
        } catch (err) {
          completing.delete(completion.runId);
          throw err;
        }
      }),
    );

    socket.on('run:release', (rawRunId: unknown, rawAttempt: unknown, rawReason: unknown, ack) =>
      answer(ack, log, async () => {
        const { runId, attempt, reason } = parse(releaseMessage, { runId: rawRunId, attempt: rawAttempt, reason: rawReason }, 'release');
        if (socket.data.runs.get(runId) !== attempt) throw staleAttempt(`attempt ${attempt} of task run ${runId} is not this socket's`);
        await recorder.finish(runId);
        await stepWrites.get(runId);
        const run = await runs.release(workerId, runId, attempt, reason || 'handed back');
        disown(runId);
        return { run };
      }),
    );

    socket.on('disconnect', (reason) => {
      metrics.agentsConnected.dec();
      // Everything this hub relayed is in the recording even if the agent never comes back.
      for (const runId of socket.data.runs.keys()) {
        void recorder.finish(runId);
        forget(runId);
      }
      log.info({ workerId, reason }, 'agent disconnected');
    });
  });
}
