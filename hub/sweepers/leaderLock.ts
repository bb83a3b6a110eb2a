/**
 * Exactly one hub runs the sweepers (architecture §5): whoever holds a PostgreSQL session-level
 * advisory lock on a dedicated connection. When that hub dies its connection closes, the lock is
 * released, and another hub's next attempt takes it over.
 */
import pg from 'pg';
import type { Logger } from 'pino';

const LOCK_KEY = 0x68616e64; // 'hand'

export class LeaderLock {
  private client: pg.Client | null = null;
  private held = false;

  constructor(
    private readonly url: string,
    private readonly log: Logger,
  ) {}

  get isLeader(): boolean {
    return this.held;
  }

  /** Tries to take (or confirms) the lock; false when another hub has it or the DB is away. */
  async tryAcquire(): Promise<boolean> {
    try {
      if (!this.client) {
        const client = new pg.Client({ connectionString: this.url, application_name: 'handoff-leader' });
        client.on('error', (err) => {
          this.log.warn({ err: err.message }, 'leader lock connection lost');
          this.drop();
        });
        await client.connect();
        this.client = client;
      }
      if (this.held) {
        await this.client.query('select 1'); // still connected means still holding
        return true;
      }
      const r = await this.client.query<{ ok: boolean }>('select pg_try_advisory_lock($1) as ok', [LOCK_KEY]);
      this.held = r.rows[0]?.ok === true;
      if (this.held) this.log.info('this hub now runs the sweepers');
      return this.held;
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, 'leader lock unavailable');
      this.drop();
      return false;
    }
  }

  private drop() {
    this.held = false;
    const c = this.client;
    this.client = null;
    c?.end().catch(() => undefined);
  }

  async release(): Promise<void> {
    const c = this.client;
    this.client = null;
    this.held = false;
    if (c) await c.end().catch(() => undefined);
  }
}
