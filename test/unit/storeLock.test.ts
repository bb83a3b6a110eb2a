/**
 * The embedded store's owner lock (hub/db/storeLock.ts): a live holder is refused by name, a dead
 * one — or a pid reused by another process — is taken over, and a release removes only its own.
 */
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LOCK_FILE, StoreLockedError, acquireStoreLock } from '../../hub/db/storeLock.ts';

describe('embedded store lock', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'handoff-lock-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const holder = () => JSON.parse(readFileSync(join(dir, LOCK_FILE), 'utf8')) as { pid: number };

  it('a second taker is refused with the folder and the holder pid; after release it may take it', () => {
    const lock = acquireStoreLock(dir);
    let refused: unknown;
    try {
      acquireStoreLock(dir);
    } catch (err) {
      refused = err;
    }
    expect(refused).to.be.instanceOf(StoreLockedError);
    expect((refused as Error).message).to.include(dir).and.include(`pid ${process.pid}`);
    lock.release();
    expect(existsSync(join(dir, LOCK_FILE))).to.equal(false);
    acquireStoreLock(dir).release();
    expect(readdirSync(dir), 'no drafts or stale copies left').to.deep.equal([]);
  });

  it('takes over the lock of a dead process, of a reused pid, and a garbage file', () => {
    const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
    const cases = [JSON.stringify({ pid: Number(dead.stdout), startedAt: null }), JSON.stringify({ pid: process.pid, startedAt: '1' }), 'not json'];
    for (const content of cases) {
      writeFileSync(join(dir, LOCK_FILE), content);
      const lock = acquireStoreLock(dir);
      expect(holder().pid, content).to.equal(process.pid);
      lock.release();
    }
  });

  it('a release does not remove a lock another process took over meanwhile', () => {
    const lock = acquireStoreLock(dir);
    writeFileSync(join(dir, LOCK_FILE), JSON.stringify({ pid: 1, startedAt: null }));
    lock.release();
    expect(holder().pid).to.equal(1);
  });
});
