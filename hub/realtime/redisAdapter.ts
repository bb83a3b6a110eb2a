/**
 * Several hubs, one deployment (architecture §5): Socket.IO's sharded Redis adapter (Redis ≥ 7
 * sharded pub/sub). Chosen over the streams adapter because in "dynamic" mode each room has
 * its own channel, so a run's output reaches only the hubs that have viewers of that run,
 * instead of every hub reading every chunk from one stream; what the streams adapter adds
 * (replay after a Redis blip) our protocol already covers with offsets and resync.
 */
import { createShardedAdapter } from '@socket.io/redis-adapter';
import { Redis } from 'ioredis';
import type { Logger } from 'pino';

export interface RedisAdapterHandle {
  adapter: ReturnType<typeof createShardedAdapter>;
  close(): Promise<void>;
}

export async function connectRedisAdapter(url: string, channelPrefix: string, log: Logger): Promise<RedisAdapterHandle> {
  const opts = { lazyConnect: true, maxRetriesPerRequest: null, enableAutoPipelining: true } as const;
  const pub = new Redis(url, opts);
  const sub = new Redis(url, opts);
  for (const [name, c] of [['pub', pub], ['sub', sub]] as const) {
    c.on('error', (err: Error) => log.warn({ err: err.message, client: name }, 'redis error'));
  }
  await Promise.all([pub.connect(), sub.connect()]);
  return {
    adapter: createShardedAdapter(pub, sub, { channelPrefix, subscriptionMode: 'dynamic' }),
    async close() {
      await Promise.allSettled([pub.quit(), sub.quit()]);
    },
  };
}
