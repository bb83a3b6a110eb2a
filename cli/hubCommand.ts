/** `handoff hub`: starts the hub and stops it cleanly on SIGINT / SIGTERM. */
import { loadHubConfig } from '../hub/config.ts';
import { startHub } from '../hub/hub.ts';
import { releaseStartupMemory } from '../hub/startupMemory.ts';

export async function run(): Promise<void> {
  const config = loadHubConfig();
  const hub = await startHub(config);
  releaseStartupMemory();
  process.stdout.write(`handoff hub listening on ${hub.url}\n`);
  const stop = async (signal: string) => {
    hub.log.info({ signal }, 'shutting down');
    // bounded: a stuck socket or database must not keep a stopping hub around
    setTimeout(() => {
      hub.log.warn({ timeoutMs: config.shutdownTimeoutMs }, 'shutdown timed out; exiting');
      process.exit(1);
    }, config.shutdownTimeoutMs).unref();
    await hub.close();
    process.exit(0);
  };
  process.once('SIGINT', () => void stop('SIGINT'));
  process.once('SIGTERM', () => void stop('SIGTERM'));
}
