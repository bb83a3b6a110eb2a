/**
 * The viewers' namespace: operator-token handshake, join with late-join snapshot, RO by default,
 * RW only under a live-checked grant (architecture §5, §7).
 */
import type { Logger } from 'pino';
import type { Ack, PaneSnapshot } from '../../common/protocol.ts';
import type { TokenService } from '../auth/tokens.ts';
import { TokenError } from '../auth/tokens.ts';
import { invalidPayload, notFound, rateLimited, unavailable } from '../domain/errors.ts';
import type { TaskRunService } from '../domain/taskRuns.ts';
import type { HubMetrics } from '../metrics.ts';
import { answer } from './acks.ts';
import type { OperatorAuth } from '../auth/operatorAuth.ts';
import { agentRunRoom, operatorSessionRoom, RUNS_WATCH_ROOM, viewerOutputRoom, viewerRunRoom } from './rooms.ts';
import type { AgentNamespace, ViewerNamespace, ViewerSocket } from './types.ts';
import type { RwGate } from './rwGate.ts';
import { byteLength, isBytes, isOffset, isPaneId, isRunId, isSize } from './wireChecks.ts';

export interface ViewerGatewayDeps {
  agents: AgentNamespace;
  viewers: ViewerNamespace;
  tokens: TokenService;
  operatorAuth: OperatorAuth;
  runs: TaskRunService;
  metrics: HubMetrics;
  log: Logger;
  rw: RwGate;
}

// A consistent snapshot waits for the agent's mirror to parse everything before it, which can
// take seconds right after a burst.
const SNAPSHOT_TIMEOUT_MS = 30_000;
const MAX_INPUT_FRAME = 64 * 1024;
/** Input frames per viewer per second before frames are dropped (a paste is one frame). */
const INPUT_FRAMES_PER_SECOND = 2000;
/**
 * Join / resync requests per viewer socket: a burst, then a steady rate. Each one costs a
 * database read and a serialized terminal from the agent; a flood of them would starve the
 * agent and the other viewers, so the excess is refused (`rate_limited`) and clients retry.
 */
const REQUEST_BURST = 20;
/** Panes whose acknowledged offsets one viewer socket may hold (a few runs' task and operator panes). */
const MAX_ACKED_PANES = 64;
const REQUESTS_PER_SECOND = 10;

/** Asks the agent that runs `runId` for snapshots; [] when no agent answers (run over, agent away). */
export async function requestSnapshots(agents: AgentNamespace, runId: string, paneId: string | null, scrollback = true): Promise<PaneSnapshot[]> {
  try {
    const replies: Ack<PaneSnapshot[]>[] = await agents.to(agentRunRoom(runId)).timeout(SNAPSHOT_TIMEOUT_MS).emitWithAck('run:snapshot', runId, paneId, { scrollback });
    for (const r of replies) if (r && r.ok) return r.data;
    return [];
  } catch {
    return [];
  }
}

async function pushFullSnapshots(agents: AgentNamespace, socket: ViewerSocket, runId: string, panes: string[]): Promise<void> {
  for (const snap of await requestSnapshots(agents, runId, null, true)) {
    if (!panes.includes(snap.paneId)) continue;
    if (socket.connected && socket.data.joined.has(runId)) socket.emit('pane:snapshot', runId, snap);
  }
}

export function attachViewerGateway(deps: ViewerGatewayDeps): void {
  const { agents, viewers, tokens, operatorAuth, runs, metrics, log, rw } = deps;

  viewers.use(async (socket, next) => {
    const auth = socket.handshake.auth as { token?: unknown; grant?: unknown };
    try {
      if (typeof auth.token !== 'string') throw new TokenError('missing token');
      socket.data.operator = await operatorAuth.authenticateHandshake(auth.token);
      socket.data.grant = null;
      socket.data.grantRefused = null;
      if (typeof auth.grant === 'string' && auth.grant) {
        // A forged grant refuses the handshake; an authentic one that has expired (a reconnect
        // after its TTL) does not: the viewer watches read-only and is told so at join
        // (docs/protocol.md). jsonwebtoken checks the signature before the expiry.
        try {
          socket.data.grant = tokens.verifyGrant(auth.grant);
        } catch (err) {
          if (!(err instanceof TokenError) || err.message !== 'token expired') throw err;
          socket.data.grantRefused = 'grant expired';
        }
      }
      socket.data.joined = new Set();
      socket.data.rw = new Map();
      socket.data.inputWindowStart = 0;
      socket.data.inputFrames = 0;
      socket.data.requestTokens = REQUEST_BURST;
      socket.data.requestRefilledAt = Date.now();
      socket.data.acked = new Map();
      socket.data.readingAt = null;
      next();
    } catch (err) {
      if (!(err instanceof TokenError)) log.warn({ err: (err as Error).message }, 'viewer handshake failed');
      next(new Error(`unauthorized: ${err instanceof TokenError ? err.message : 'invalid token'}`));
    }
  });

  viewers.on('connection', (socket: ViewerSocket) => {
    // Ending the operator session disconnects this room on every hub; a session ended while this
    // handshake was in flight is caught here.
    const sid = socket.data.operator.sid;
    if (operatorAuth.sessions.knownEnded(sid)) return void socket.disconnect(true);
    void socket.join(operatorSessionRoom(sid));
    // A connection lives no longer than its token (and so its session): then it is dropped, and a
    // reconnect with the same token is refused as expired.
    const leftMs = socket.data.operator.exp * 1000 - Date.now();
    const expiry = leftMs < 2 ** 31 - 1 ? setTimeout(() => socket.disconnect(true), Math.max(0, leftMs)) : null;
    metrics.viewersConnected.inc();
    const notice = throttledNotice(socket);

    socket.on('run:join', (runId, ack) =>
      answer(ack, log, async () => {
        // never String() a hostile value (an object whose toString is not a function throws)
        const raw: unknown = runId;
        if (!isRunId(raw)) throw notFound(`task run ${typeof raw === 'string' ? raw.slice(0, 100) : `(${typeof raw})`} not found`);
        throttleRequest(socket, runId, notice);
        const run = await runs.get(runId);
        // Join the room first, then snapshot: every chunk after the snapshot's offset reaches us.
        await socket.join([viewerRunRoom(runId), viewerOutputRoom(runId)]);
        socket.data.joined.add(runId);
        const session = run.liveSession ?? null;
        const live = run.status === 'running' && session !== null && (session.status === 'ready' || session.status === 'starting');
        // The visible screen first (small and quick to serialize and draw), then the full state
        // with scrollback, pushed once the join's answer has gone out.
        const [panes, verdict] = await Promise.all([live ? requestSnapshots(agents, runId, null, false) : Promise.resolve([]), rw.admit(socket, runId)]);
        const partial = panes.filter((p) => p.partial).map((p) => p.paneId);
        if (partial.length) setImmediate(() => void pushFullSnapshots(agents, socket, runId, partial));
        return { run, session, panes, canWrite: verdict.canWrite, rwUntil: verdict.until };
      }),
    );

    socket.on('run:leave', (runId) => {
      if (!isRunId(runId)) return;
      void socket.leave(viewerRunRoom(runId));
      void socket.leave(viewerOutputRoom(runId));
      socket.data.joined.delete(runId);
      for (const key of socket.data.acked.keys()) if (key.startsWith(`${runId} `)) socket.data.acked.delete(key);
      rw.release(socket, runId, 'left');
    });

    socket.on('runs:watch', (ack) =>
      answer(ack, log, async () => {
        await socket.join(RUNS_WATCH_ROOM);
        return { watching: true as const };
      }),
    );

    socket.on('pane:resync', (runId, paneId, ack) =>
      answer(ack, log, async () => {
        if (!isRunId(runId) || !socket.data.joined.has(runId)) throw invalidPayload('join the run first');
        if (!isPaneId(paneId)) throw invalidPayload('invalid pane');
        throttleRequest(socket, runId, notice);
        // the protocol answers one PaneSnapshot (not the agent's array)
        const snap = (await requestSnapshots(agents, runId, paneId)).find((p) => p.paneId === paneId);
        if (!snap) throw unavailable(`no snapshot of pane ${paneId} (run not live, or its agent is away)`);
        return snap;
      }),
    );

    socket.on('pane:input', (runId, paneId, data) => {
      if (!isRunId(runId) || !isPaneId(paneId) || !isBytes(data)) return;
      if (byteLength(data) > MAX_INPUT_FRAME) return void notice(runId, 'input_too_large', `input frames are limited to ${MAX_INPUT_FRAME} bytes`);
      if (!rateOk(socket)) {
        metrics.inputDropped.inc({ reason: 'rate_limited' });
        return void notice(runId, 'rate_limited', 'too much input: frames dropped');
      }
      const grant = rw.check(socket, runId);
      if (!grant) {
        metrics.inputDropped.inc({ reason: 'read_only' });
        return void notice(runId, 'read_only', 'read-only: input needs a write grant');
      }
      grant.bytes += byteLength(data);
      agents.to(agentRunRoom(runId)).emit('pane:input', runId, paneId, data);
    });

    socket.on('pane:resize', (runId, paneId, cols, rows) => {
      if (!isRunId(runId) || !isPaneId(paneId) || !isSize(cols) || !isSize(rows)) return;
      if (!rw.check(socket, runId)) return void notice(runId, 'read_only', 'read-only: resize needs a write grant');
      agents.to(agentRunRoom(runId)).emit('pane:resize', runId, paneId, cols, rows);
    });

    // Cheap by design (one Map write every 256 KiB a viewer reads): the slow-viewer guard reads it.
    socket.on('pane:ack', (runId, paneId, offset) => {
      if (!isRunId(runId) || !isPaneId(paneId) || !isOffset(offset) || !socket.data.joined.has(runId)) return;
      const key = `${runId} ${paneId}`;
      if (offset <= (socket.data.acked.get(key) ?? -1)) return;
      if (socket.data.acked.size >= MAX_ACKED_PANES && !socket.data.acked.has(key)) return;
      socket.data.acked.set(key, offset);
      socket.data.readingAt = performance.now();
    });

    socket.on('disconnect', () => {
      if (expiry) clearTimeout(expiry);
      metrics.viewersConnected.dec();
      for (const runId of socket.data.rw.keys()) rw.release(socket, runId, 'disconnected');
    });
  });

}

/** Takes a token for a join / resync, or refuses it (notice + `rate_limited` error ack). */
function throttleRequest(socket: ViewerSocket, runId: string, notice: (runId: string, code: string, message: string) => void): void {
  const now = Date.now();
  const d = socket.data;
  d.requestTokens = Math.min(REQUEST_BURST, d.requestTokens + ((now - d.requestRefilledAt) / 1000) * REQUESTS_PER_SECOND);
  d.requestRefilledAt = now;
  if (d.requestTokens >= 1) {
    d.requestTokens -= 1;
    return;
  }
  notice(runId, 'rate_limited', 'too many join / resync requests: slow down');
  throw rateLimited(`at most ${REQUESTS_PER_SECOND} join / resync requests a second`);
}

function rateOk(socket: ViewerSocket): boolean {
  const now = Date.now();
  if (now - socket.data.inputWindowStart >= 1000) {
    socket.data.inputWindowStart = now;
    socket.data.inputFrames = 0;
  }
  return ++socket.data.inputFrames <= INPUT_FRAMES_PER_SECOND;
}

/** At most one notice of a kind per second per socket: a typing RO viewer is not flooded. */
function throttledNotice(socket: ViewerSocket) {
  const last = new Map<string, number>();
  return (runId: string, code: string, message: string) => {
    const now = Date.now();
    if ((last.get(code) ?? 0) + 1000 > now) return;
    last.set(code, now);
    socket.emit('notice', runId, code, message);
  };
}
