/**
 * The in-process connection to the embedded store (hub/db/pgliteWire.ts): pg speaks to PGlite
 * with no listener in between, and a connection that goes away inside a transaction — ended, or
 * torn down like a broken pooled client — leaves no half transaction to the next one.
 */
import { expect } from 'chai';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { startEmbeddedPostgres } from '../../hub/db/embeddedPostgres.ts';
import type { EmbeddedPostgres } from '../../hub/db/embeddedPostgres.ts';
import { listeningTcpPorts, listeningUnixSockets } from '../support/listeners.ts';

describe('embedded store: in-process connection', function () {
  this.timeout(60_000);
  let dir: string;
  let store: EmbeddedPostgres;
  let portsBefore: number[];
  let unixBefore: string[];

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'handoff-wire-'));
    portsBefore = listeningTcpPorts(process.pid);
    unixBefore = listeningUnixSockets(process.pid);
    store = await startEmbeddedPostgres(dir);
  });
  after(async () => {
    await store?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const client = async () => {
    const c = new pg.Client({ connectionString: store.url, stream: store.stream });
    c.on('error', () => undefined); // the torn-down client below reports its own end
    await c.connect();
    return c;
  };

  it('opens no TCP port and no Unix socket', () => {
    expect(listeningTcpPorts(process.pid)).to.deep.equal(portsBefore);
    expect(listeningUnixSockets(process.pid)).to.deep.equal(unixBefore);
  });

  it('answers queries with parameters, and a failed statement leaves the connection usable', async () => {
    const c = await client();
    try {
      await c.query('create table if not exists wire_t (n int primary key)');
      expect((await c.query<{ n: number }>('select $1::int + 1 as n', [41])).rows).to.deep.equal([{ n: 42 }]);
      let failed = '';
      await c.query('select * from no_such_table').catch((err: Error) => (failed = err.message));
      expect(failed).to.match(/does not exist/);
      expect((await c.query('select 1 as one')).rows).to.deep.equal([{ one: 1 }]);
    } finally {
      await c.end();
    }
  });

  it('a connection ended or torn down inside a transaction is rolled back for the next one', async () => {
    const ended = await client();
    await ended.query('begin');
    await ended.query('insert into wire_t values (1)');
    await ended.end();

    const torn = await client();
    await torn.query('begin');
    await torn.query('insert into wire_t values (2)');
    const stream = (torn as unknown as { connection: { stream: NodeJS.ReadWriteStream & { destroy(): void } } }).connection.stream;
    stream.destroy();

    const next = await client();
    try {
      // At once: the next connection's first statement waits for the rollback the last one owed.
      expect((await next.query('select n from wire_t order by n')).rows).to.deep.equal([]);
      expect((await next.query('select txid_current_if_assigned() as txid')).rows).to.deep.equal([{ txid: null }]);
      await next.query('insert into wire_t values (3)');
      expect((await next.query('select n from wire_t')).rows).to.deep.equal([{ n: 3 }]);
    } finally {
      await next.end();
    }
  });
});
