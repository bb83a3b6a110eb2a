/**
 * Frame sizes before authentication (issue 12 item 7, §7a): unauthenticated websockets sending
 * 64 MiB frames cannot grow a real hub's memory, and the hub keeps serving; an authenticated
 * agent still gets its big acks (a late-join snapshot) through.
 */
import { expect } from 'chai';
import { PROTOCOL_VERSION } from '../../common/protocol.ts';
import { connectSocket, workerToken } from '../support/processes.ts';
import type { HubProcess } from '../support/testHub.ts';
import { startTestHub } from '../support/testHub.ts';
import { waitUntil } from '../support/wait.ts';

const FRAME = new Uint8Array(64 * 1024 * 1024);
const ATTACKERS = 4;

/** An unauthenticated engine.io websocket that sends one 64 MiB frame; resolves when it is closed. */
function floodOnce(url: string): Promise<number> {
  return new Promise((resolve) => {
    const ws = new WebSocket(`${url.replace('http', 'ws')}/socket.io/?EIO=4&transport=websocket`);
    ws.binaryType = 'arraybuffer';
    const timer = setTimeout(() => ws.close(), 20_000);
    ws.onmessage = () => ws.send(FRAME);
    ws.onclose = (ev) => {
      clearTimeout(timer);
      resolve(ev.code);
    };
    ws.onerror = () => undefined;
  });
}

describe('attack: unauthenticated frames', function () {
  this.timeout(120_000);
  let hub: HubProcess;

  before(async () => {
    hub = await startTestHub('postgres', { process: true });
  });
  after(async () => {
    await hub?.stop('SIGKILL');
    await hub?.close();
  });

  it(`${ATTACKERS} websockets sending 64 MiB frames before any handshake leave the hub's memory bounded`, async () => {
    const before = hub.rss();
    const codes = await Promise.all(Array.from({ length: ATTACKERS }, () => floodOnce(hub.url)));
    const after = hub.rss();
    console.log(`      hub RSS ${(before / 2 ** 20).toFixed(0)} MiB before, ${(after / 2 ** 20).toFixed(0)} MiB after; close codes ${codes.join(',')}`);
    expect(after - before).to.be.lessThan(64 * 1024 * 1024);
    const health = await fetch(`${hub.url}/healthz`);
    expect(health.status).to.equal(200);
  });

  it('an authenticated agent still sends a multi-MiB ack', async () => {
    const agent = await connectSocket(hub.url, '/agent', { token: workerToken('w-big') });
    try {
      // A 4 MiB hello is refused by its content, not by the frame limit: the ack comes back.
      const hostname = 'h'.repeat(4 * 1024 * 1024);
      const reply = await waitUntil('the hello ack', async () => (await agent.timeout(20_000).emitWithAck('agent:hello', { protocol: PROTOCOL_VERSION, workerId: 'w-big', hostname, capacity: 1, runs: [] })) as unknown);
      expect(reply).to.deep.include({ ok: true });
      expect(agent.connected).to.equal(true);
    } finally {
      agent.close();
    }
  });
});
