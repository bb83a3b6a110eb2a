/**
 * Smoke test of the benchmark harness (bench/): a real hub and agent, each in its own process,
 * one headless viewer, a 1 MB throughput run. Asserts the delivery is byte-exact and the figure
 * a positive number — no timing assertions (the benchmark itself is `npm run bench`).
 */
import { expect } from 'chai';
import { Cluster } from '../../bench/lib/cluster.ts';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ptyBytes } from '../../bench/lib/pattern.ts';
import { makePayloads, PAYLOAD_NAMES } from '../../bench/lib/payloads.ts';
import { rawPtyCat } from '../../bench/lib/peers.ts';
import { streamRun } from '../../bench/lib/streaming.ts';

describe('benchmark harness (smoke)', function () {
  // two processes start on a possibly busy machine; the run itself takes well under a second
  this.timeout(180_000);
  let cluster: Cluster | undefined;

  after(async () => {
    await cluster?.stop();
  });

  it('measures a 1 MB throughput run to one viewer, byte-exact', async () => {
    cluster = await Cluster.start({ capacity: 2 });
    const r = await streamRun(cluster, { bytes: 1_000_000, viewers: 1 });
    expect(r.ptyBytes).to.equal(ptyBytes(1_000_000));
    expect(r.perViewer).to.have.length(1);
    expect(r.perViewer[0]?.bytes).to.equal(r.ptyBytes);
    expect(r.exact, JSON.stringify(r.perViewer)).to.equal(true);
    expect(r.minMbps).to.be.a('number').and.greaterThan(0);
    expect(Number.isFinite(r.minMbps)).to.equal(true);
  });

  it('runs each user-shaped payload through the pipeline and through node-pty, byte-exact (hash of the pty stream)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'handoff-bench-smoke-'));
    try {
      const payloads = makePayloads(dir, 200_000);
      expect(payloads.map((p) => p.name)).to.deep.equal(PAYLOAD_NAMES);
      for (const p of payloads) {
        const raw = await rawPtyCat(dir, p);
        expect(raw.exact, `${p.name} via node-pty`).to.equal(true);
        const r = await streamRun(cluster as Cluster, { bytes: p.ptyBytes, payload: p, viewers: 1 });
        expect(r.exact, `${p.name} via handoff: ${JSON.stringify(r.perViewer)}`).to.equal(true);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
