/**
 * Smoke test of the benchmark harness (bench/): a real hub and agent, each in its own process,
 * one headless viewer, a 1 MB throughput run. Asserts the delivery is byte-exact and the figure
 * a positive number — no timing assertions (the benchmark itself is `npm run bench`).
 */
import { expect } from 'chai';
import { Cluster } from '../../bench/lib/cluster.ts';
import { ptyBytes } from '../../bench/lib/pattern.ts';
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
});
