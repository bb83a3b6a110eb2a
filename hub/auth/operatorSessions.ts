/**
 * Operator sessions (architecture §7): every operator token names one (`sid`); a token whose
 * session has ended or expired is refused over REST and in the viewer handshake.
 *
 * Checks are answered from a small in-process cache: an active session is re-read after
 * ACTIVE_CACHE_MS, an ended one is remembered until its expiry. Ending a session does not wait for
 * caches to age: the hub event `operator:sessionsEnded` reaches every hub (realtime/domainFanout.ts),
 * which marks the sessions ended here and drops their sockets at once.
 *
 * While the database is away, a REST call answers 503 like any other; a viewer handshake is let in
 * unless this hub knows the session ended (watching a run must survive a database blip — the
 * relay does not need the database). Sessions ended before this hub started are loaded at start.
 */
import type { MikroORM } from '@mikro-orm/postgresql';
import type { Logger } from 'pino';
import type { OperatorRole } from '../../common/statuses.ts';
import { OperatorSession } from '../db/entities.ts';
import { isDatabaseDown } from '../db/databaseDown.ts';
import type { OperatorClaims } from './tokens.ts';
import { DEV_ISSUER, TokenError } from './tokens.ts';

const ACTIVE_CACHE_MS = 5000;
const MAX_CACHED = 100_000;

export type SessionSource = 'oidc' | 'cli' | 'dev' | 'jwt';

export interface OperatorSessionDto {
  id: string;
  subject: string;
  issuer: string;
  displayName: string | null;
  role: OperatorRole;
  source: string;
  createdAt: string;
  expiresAt: string;
  endedAt: string | null;
  endedBy: string | null;
}

interface Cached {
  /** null: active */
  ended: 'ended' | null;
  /** Whose session it is (`issuer subject`); '' when only known ended. */
  holder: string;
  expiresAt: number;
  checkedAt: number;
}

export interface OpenSession {
  subject: string;
  issuer: string;
  displayName: string | null;
  role: OperatorRole;
  source: SessionSource;
  ttlSeconds: number;
}

function dto(s: OperatorSession): OperatorSessionDto {
  return {
    id: s.id,
    subject: s.subject,
    issuer: s.issuer,
    displayName: s.displayName ?? null,
    role: s.role,
    source: s.source,
    createdAt: s.createdAt.toISOString(),
    expiresAt: s.expiresAt.toISOString(),
    endedAt: s.endedAt?.toISOString() ?? null,
    endedBy: s.endedBy ?? null,
  };
}

export class OperatorSessions {
  private readonly cache = new Map<string, Cached>();
  private readonly inFlight = new Map<string, Promise<Cached>>();
  /** Told the ids of sessions this hub ended (the fan-out takes them to every hub). */
  onEnded: (ids: string[]) => void = () => undefined;

  constructor(
    private readonly orm: MikroORM,
    private readonly log: Logger,
  ) {}

  /** Remembers the sessions that ended and have not expired yet (so a database outage cannot revive them). */
  async loadEnded(): Promise<void> {
    const rows = await this.orm.em.fork().find(OperatorSession, { endedAt: { $ne: null }, expiresAt: { $gt: new Date() } }, { fields: ['id', 'expiresAt'] });
    for (const r of rows) this.remember(r.id, { ended: 'ended', holder: '', expiresAt: r.expiresAt.getTime(), checkedAt: Date.now() });
  }

  /** A new session (a sign-in): the caller mints a token carrying its id. */
  async open(s: OpenSession): Promise<OperatorSessionDto> {
    const em = this.orm.em.fork();
    const row = em.create(OperatorSession, {
      subject: s.subject,
      issuer: s.issuer,
      displayName: s.displayName,
      role: s.role,
      source: s.source,
      expiresAt: new Date(Date.now() + s.ttlSeconds * 1000),
    });
    await em.flush();
    return dto(row);
  }

  /**
   * Refuses (TokenError) a token whose session ended or expired, or that names a session this hub
   * never opened. A development token (minted with the secret by `handoff token`) registers its
   * session on first use, so an admin can end it like any other. Database errors propagate.
   */
  async check(claims: OperatorClaims, expSeconds: number): Promise<void> {
    const now = Date.now();
    let c = this.cache.get(claims.sid);
    if (!c || (c.ended === null && now - c.checkedAt > ACTIVE_CACHE_MS)) {
      // many connections of one session arriving together (a reconnect storm) cost one lookup
      const key = `${claims.sid} ${claims.idp} ${claims.sub}`;
      let pending = this.inFlight.get(key);
      if (!pending) {
        pending = this.lookup(claims, expSeconds).finally(() => this.inFlight.delete(key));
        this.inFlight.set(key, pending);
      }
      c = await pending;
    }
    if (c.ended) throw new TokenError('operator session ended');
    if (c.holder !== `${claims.idp} ${claims.sub}`) throw new TokenError('token does not match its operator session');
    if (c.expiresAt <= now) throw new TokenError('operator session expired');
  }

  /** `check` for the viewer handshake: with the database away, only a session known to have ended is refused. */
  async checkOrTrust(claims: OperatorClaims, expSeconds: number): Promise<void> {
    try {
      await this.check(claims, expSeconds);
    } catch (err) {
      if (!isDatabaseDown(err)) throw err;
      this.log.warn({ sid: claims.sid }, 'database unavailable: operator session taken on its signed token');
    }
  }

  private async lookup(claims: OperatorClaims, expSeconds: number): Promise<Cached> {
    const em = this.orm.em.fork();
    let row = await em.findOne(OperatorSession, { id: claims.sid });
    // Tokens minted with the secret (development) and the provider's own JWTs (their session id
    // derived from the token) register on first use; a sign-in's session exists before its token.
    const source: SessionSource | null = claims.idp === DEV_ISSUER ? 'dev' : claims.external ? 'jwt' : null;
    if (!row && source) {
      await em
        .createQueryBuilder(OperatorSession)
        .insert({ id: claims.sid, subject: claims.sub, issuer: claims.idp, displayName: claims.name, role: claims.role, source, createdAt: new Date(), expiresAt: new Date(expSeconds * 1000) })
        .onConflict('id')
        .ignore()
        .execute();
      row = await em.findOne(OperatorSession, { id: claims.sid });
    }
    if (!row) throw new TokenError('unknown operator session');
    // A token never outlives what its session says of its holder.
    if (row.subject !== claims.sub || row.issuer !== claims.idp) throw new TokenError('token does not match its operator session');
    const c: Cached = { ended: row.endedAt ? 'ended' : null, holder: `${row.issuer} ${row.subject}`, expiresAt: row.expiresAt.getTime(), checkedAt: Date.now() };
    this.remember(claims.sid, c);
    return c;
  }

  private remember(id: string, c: Cached): void {
    if (this.cache.size >= MAX_CACHED) {
      const now = Date.now();
      for (const [k, v] of this.cache) if (v.expiresAt <= now || v.ended === null) this.cache.delete(k);
      if (this.cache.size >= MAX_CACHED) this.cache.delete(this.cache.keys().next().value as string);
    }
    this.cache.set(id, c);
  }

  /** Whether this hub knows the session ended (no I/O). */
  knownEnded(id: string): boolean {
    return this.cache.get(id)?.ended === 'ended';
  }

  /** Another hub ended these sessions (or this one did): refuse them from now on. */
  markEnded(ids: string[]): void {
    const now = Date.now();
    for (const id of ids) {
      const prev = this.cache.get(id);
      this.remember(id, { ended: 'ended', holder: prev?.holder ?? '', expiresAt: prev?.expiresAt ?? now + 366 * 86400_000, checkedAt: now });
    }
  }

  /** Active sessions (not ended, not expired), newest first. */
  async listActive(filter: { subject?: string; issuer?: string } = {}): Promise<OperatorSessionDto[]> {
    const rows = await this.orm.em.fork().find(
      OperatorSession,
      { endedAt: null, expiresAt: { $gt: new Date() }, ...(filter.subject ? { subject: filter.subject } : {}), ...(filter.issuer ? { issuer: filter.issuer } : {}) },
      { orderBy: { createdAt: 'desc' }, limit: 1000 },
    );
    return rows.map(dto);
  }

  async get(id: string): Promise<OperatorSessionDto | null> {
    const row = await this.orm.em.fork().findOne(OperatorSession, { id });
    return row ? dto(row) : null;
  }

  /** Ends the sessions that match and are still active; every hub refuses them and drops their sockets at once. */
  async end(where: { id: string } | { subject: string; issuer?: string }, endedBy: string): Promise<OperatorSessionDto[]> {
    const em = this.orm.em.fork();
    const ended: OperatorSession[] = await em.transactional(async (tx) => {
      const rows = await tx.find(OperatorSession, { ...where, endedAt: null });
      const at = new Date();
      for (const r of rows) {
        r.endedAt = at;
        r.endedBy = endedBy;
      }
      return rows;
    });
    const ids = ended.map((r) => r.id);
    if (ids.length) {
      this.markEnded(ids);
      this.log.info({ sessions: ids, endedBy }, 'operator sessions ended');
      this.onEnded(ids);
    }
    return ended.map(dto);
  }
}
