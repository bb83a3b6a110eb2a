/**
 * RW enforcement for viewer sockets (architecture §5, §7). A grant is checked against the database
 * once, when the viewer joins; the verdict is then cached until the grant's expiry instant and
 * dropped at once when the session's rwGeneration moves (revoke-write) or the session ends.
 * Each input frame costs a Map lookup and a clock read.
 */
import type { Logger } from 'pino';
import type { ControlAction } from '../../common/statuses.ts';
import type { Actor } from '../domain/actors.ts';
import { operatorActor } from '../domain/actors.ts';
import type { LiveSessionService } from '../domain/liveSessions.ts';
import { viewerRunRoom } from './rooms.ts';
import type { RwVerdict, ViewerNamespace, ViewerSocket } from './types.ts';

export class RwGate {
  constructor(
    private readonly viewers: ViewerNamespace,
    private readonly sessions: LiveSessionService,
    private readonly log: Logger,
    /** Several hubs share an adapter: a downgrade must reach the hubs holding the sockets. */
    private readonly clustered = false,
  ) {
    if (clustered) viewers.on('rw:generation', (runId, generation, reason) => this.onGenerationChanged(runId, generation, reason));
  }

  /** Downgrades RW holders of a run older than `generation`, on this hub and every other. */
  downgradeEverywhere(runId: string, generation: number, reason: string): void {
    this.onGenerationChanged(runId, generation, reason);
    if (this.clustered) this.viewers.serverSideEmit('rw:generation', runId, generation, reason);
  }

  private actor(socket: ViewerSocket): Actor & { kind: 'operator' } {
    return operatorActor(socket.data.operator);
  }

  private audit(socket: ViewerSocket, runId: string, action: ControlAction, meta: Record<string, unknown>) {
    this.sessions.record(runId, action, this.actor(socket), meta).catch((err: unknown) => this.log.warn({ err: (err as Error).message, runId, action }, 'audit write failed'));
  }

  /** Called on join: checks the socket's grant (if any) for this run. */
  async admit(socket: ViewerSocket, runId: string): Promise<{ canWrite: boolean; until: string | null }> {
    const existing = this.check(socket, runId);
    if (existing) return { canWrite: true, until: new Date(existing.until).toISOString() };
    const grant = socket.data.grant;
    if (!grant && socket.data.grantRefused) {
      socket.emit('notice', runId, 'grant_refused', `write grant refused: ${socket.data.grantRefused}`);
      return { canWrite: false, until: null };
    }
    if (!grant || grant.runId !== runId) return { canWrite: false, until: null };
    const verdict = await this.sessions.checkGrant(grant, runId, this.actor(socket));
    if (!verdict.ok) {
      socket.emit('notice', runId, 'grant_refused', `write grant refused: ${verdict.reason}`);
      return { canWrite: false, until: null };
    }
    const until = verdict.until.getTime();
    const timer = setTimeout(() => this.downgrade(socket, runId, 'grant expired'), Math.max(0, until - Date.now()));
    timer.unref();
    socket.data.rw.set(runId, { until, generation: grant.generation, grantee: grant.grantee, jti: grant.jti, bytes: 0, timer });
    this.audit(socket, runId, 'rw_attach', { grantee: grant.grantee, jti: grant.jti, until: verdict.until.toISOString() });
    return { canWrite: true, until: verdict.until.toISOString() };
  }

  /** The verdict for one input frame: the cached grant, or null (read-only). */
  check(socket: ViewerSocket, runId: string): RwVerdict | null {
    const v = socket.data.rw.get(runId);
    if (!v) return null;
    if (Date.now() >= v.until) {
      this.downgrade(socket, runId, 'grant expired');
      return null;
    }
    return v;
  }

  /** Drops the socket to read-only and tells it so. */
  downgrade(socket: ViewerSocket, runId: string, reason: string): void {
    const v = socket.data.rw.get(runId);
    if (!v) return;
    clearTimeout(v.timer);
    socket.data.rw.delete(runId);
    socket.emit('rw:changed', { runId, canWrite: false, until: null, reason });
    this.audit(socket, runId, 'rw_detach', { grantee: v.grantee, jti: v.jti, bytes: v.bytes, reason });
  }

  /** The viewer left or disconnected: record how much it typed. */
  release(socket: ViewerSocket, runId: string, reason: string): void {
    const v = socket.data.rw.get(runId);
    if (!v) return;
    clearTimeout(v.timer);
    socket.data.rw.delete(runId);
    this.audit(socket, runId, 'rw_detach', { grantee: v.grantee, jti: v.jti, bytes: v.bytes, reason });
  }

  /** The session's generation moved (revoke-write) or the session ended: downgrade older grants here. */
  onGenerationChanged(runId: string, generation: number, reason: string): void {
    const ids = this.viewers.adapter.rooms.get(viewerRunRoom(runId));
    if (!ids) return;
    for (const id of ids) {
      const socket = this.viewers.sockets.get(id);
      const v = socket?.data.rw.get(runId);
      if (socket && v && v.generation < generation) this.downgrade(socket, runId, reason);
    }
  }

  /** Session over: every RW holder of the run is downgraded, wherever it is connected. */
  revokeAll(runId: string, reason: string): void {
    this.downgradeEverywhere(runId, Number.MAX_SAFE_INTEGER, reason);
  }
}
