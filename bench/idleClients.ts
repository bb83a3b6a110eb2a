/**
 * Child process of the idle-scale scenario: opens `count` idle Socket.IO connections to a hub —
 * agents on /agent (worker tokens, then `agent:hello`) or viewers on /viewer — and holds them,
 * so the hub's RSS can be measured without these clients in its process.
 *
 * Talks to its parent over IPC: sends {type:'ready'}; on {type:'go'} connects (at most
 * `concurrency` handshakes in flight) and answers {type:'connected', count, failed, ms}; on
 * {type:'close'} disconnects everything and exits.
 */
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import type { Socket } from 'socket.io-client';
import { io } from 'socket.io-client';
import { AGENT_NAMESPACE, PROTOCOL_VERSION, SOCKET_PATH, VIEWER_NAMESPACE } from '../common/protocol.ts';

interface Spec {
  url: string;
  kind: 'agent' | 'viewer';
  count: number;
  concurrency: number;
  /** viewer: one operator token; agent: a file with one worker token per line (ids in `workerIds`). */
  token?: string;
  tokensFile?: string;
}

const spec = JSON.parse(process.argv[2] ?? '{}') as Spec;
const sockets: Socket[] = [];

function connectOne(i: number, workerTokens: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const agent = spec.kind === 'agent';
    const token = agent ? (workerTokens[i] as string) : (spec.token as string);
    const s = io(`${spec.url}${agent ? AGENT_NAMESPACE : VIEWER_NAMESPACE}`, {
      path: SOCKET_PATH,
      transports: ['websocket'],
      auth: { token },
      reconnection: false,
      forceNew: true,
      timeout: 120_000,
    });
    sockets.push(s);
    s.once('connect_error', (err) => reject(err));
    s.once('connect', () => {
      if (!agent) return resolve();
      const workerId = JSON.parse(Buffer.from(token.split('.')[1] as string, 'base64url').toString('utf8')).sub as string;
      s.timeout(120_000)
        .emitWithAck('agent:hello', { protocol: PROTOCOL_VERSION, workerId, hostname: hostname(), capacity: 1, runs: [] })
        .then((ack: { ok: boolean; error?: { message: string } }) => (ack.ok ? resolve() : reject(new Error(ack.error?.message ?? 'hello refused'))), reject);
    });
  });
}

async function connectAll(): Promise<{ failed: number; firstError: string | null }> {
  const workerTokens = spec.tokensFile ? readFileSync(spec.tokensFile, 'utf8').trim().split('\n') : [];
  let next = 0;
  let failed = 0;
  let firstError: string | null = null;
  const lane = async () => {
    while (next < spec.count) {
      const i = next++;
      try {
        await connectOne(i, workerTokens);
      } catch (err) {
        failed++;
        firstError ??= (err as Error).message;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(spec.concurrency, spec.count) }, lane));
  return { failed, firstError };
}

process.on('message', (msg: { type: string }) => {
  if (msg.type === 'go') {
    const t0 = performance.now();
    void connectAll().then(({ failed, firstError }) => {
      const connected = sockets.filter((s) => s.connected).length;
      process.send?.({ type: 'connected', count: connected, failed, firstError, ms: performance.now() - t0 });
    });
  } else if (msg.type === 'close') {
    for (const s of sockets) s.disconnect();
    setTimeout(() => process.exit(0), 200);
  }
});
process.on('disconnect', () => process.exit(0));
process.send?.({ type: 'ready' });
