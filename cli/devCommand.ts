/**
 * `handoff dev` (what `npm start` runs): a hub and one agent in one process on the embedded
 * database, and a ready-to-use operator login for the dashboard.
 */
import { loadHubConfig } from '../hub/config.ts';
import { startHub } from '../hub/hub.ts';
import { loadAgentConfig } from '../agent/agentConfig.ts';
import { startAgent } from '../agent/agent.ts';

export async function run(): Promise<void> {
  const config = loadHubConfig({ HANDOFF_LOG_LEVEL: 'warn', ...process.env });
  const hub = await startHub(config);
  const workerId = process.env.HANDOFF_WORKER_ID ?? 'dev-worker';
  const agent = startAgent(
    loadAgentConfig({
      ...process.env,
      HANDOFF_HUB_URL: hub.url,
      HANDOFF_WORKER_ID: workerId,
      HANDOFF_WORKER_TOKEN: hub.ctx.tokens.mintWorker(workerId),
      HANDOFF_DATA_DIR: config.dataDir,
    }),
  );
  const admin = hub.ctx.tokens.mintOperator('dev-admin', 'admin', 12 * 3600);
  const base = config.publicUrl ?? hub.url;
  process.stdout.write(
    [
      '',
      `  handoff is running (hub + agent "${workerId}", embedded database in ${config.dataDir})`,
      '',
      `  dashboard      ${base}/`,
      `  sign in        ${base}/signin#token=${admin}`,
      `  API docs       ${base}/api/openapi.json`,
      '',
      '  try it:',
      `    export HANDOFF_HUB_URL=${hub.url} HANDOFF_TOKEN=${admin}`,
      `    node bin/handoff.js run -- 'for i in $(seq 1 20); do echo "step $i"; sleep 0.5; done'`,
      '',
      '  Ctrl-C stops both.',
      '',
    ].join('\n'),
  );
  const stop = async () => {
    await agent.close({ cancelRuns: true });
    await hub.close();
    process.exit(0);
  };
  process.once('SIGINT', () => void stop());
  process.once('SIGTERM', () => void stop());
}
