/**
 * `handoff dev` (what `npm start` runs): a hub and one agent in one process on the embedded
 * database, and a ready-to-use operator login for the dashboard.
 */
import { loadHubConfig } from '../hub/config.ts';
import { startHub } from '../hub/hub.ts';
import { loadAgentConfig } from '../agent/agentConfig.ts';
import { startAgent } from '../agent/agent.ts';
import { releaseStartupMemory } from '../hub/startupMemory.ts';

export async function run(): Promise<void> {
  const config = loadHubConfig({ HANDOFF_LOG_LEVEL: 'warn', ...process.env });
  const hub = await startHub(config);
  const workerId = process.env.HANDOFF_WORKER_ID ?? 'dev-worker';
  // The worker token is minted here and handed over in memory: it is in no environment. The
  // runs' artifacts go beside the data folder, not in it (that holds the secrets and the store),
  // and the sandbox hides the data folder from the steps (HANDOFF_DATA_DIR is in its hide list).
  const agentConfig = loadAgentConfig({
    ...process.env,
    HANDOFF_HUB_URL: hub.url,
    HANDOFF_WORKER_ID: workerId,
    HANDOFF_WORKER_TOKEN: hub.ctx.tokens.mintWorker(workerId),
    HANDOFF_WORKER_TOKEN_FILE: undefined,
    HANDOFF_DATA_DIR: config.dataDir,
    HANDOFF_ARTIFACTS_DIR: process.env.HANDOFF_ARTIFACTS_DIR ?? `${config.dataDir}-runs`,
  });
  const agent = startAgent(agentConfig);
  releaseStartupMemory();
  const admin = hub.ctx.tokens.mintOperator('dev-admin', 'admin', 12 * 3600);
  const base = config.publicUrl ?? hub.url;
  process.stdout.write(
    [
      '',
      `  handoff is running (hub + agent "${workerId}", embedded database in ${config.dataDir}, run artifacts in ${agentConfig.artifactsDir})`,
      '',
      `  dashboard      ${base}/`,
      `  sign in        ${base}/signin#token=${admin}   (development sign-in: a token minted with the hub's secret)`,
      `  API docs       ${base}/api/openapi.json`,
      '',
      '  try it:',
      `    export HANDOFF_HUB_URL=${hub.url} HANDOFF_TOKEN=${admin}`,
      `    node bin/handoff.js run -- 'for i in $(seq 1 20); do echo "step $i"; sleep 0.5; done'`,
      '',
      `  Ctrl-C stops both (running runs: ${agentConfig.shutdownPolicy === 'handback' ? 'handed back to the queue' : 'finished first; Ctrl-C again cancels them'}, HANDOFF_AGENT_SHUTDOWN).`,
      '',
    ].join('\n'),
  );
  // Stopping follows the agent's shutdown policy like `handoff agent`, and the timeline says why
  // each run ended or went back to the queue.
  let stopping = false;
  const stop = async (signal: string) => {
    const reason = `handoff dev stopped (${signal})`;
    if (stopping) {
      process.stderr.write(`handoff dev: ${signal} again: cancelling ${agent.runs.size} run(s)\n`);
      agent.cancelRuns(`${reason} before the run finished`);
      return;
    }
    stopping = true;
    const handBack = agentConfig.shutdownPolicy === 'handback';
    if (agent.runs.size) process.stderr.write(`handoff dev: ${signal}: ${handBack ? 'handing back' : 'finishing'} ${agent.runs.size} run(s)${handBack ? '' : '; signal again to cancel them'}\n`);
    await agent.close(handBack ? { handBack: true, reason } : {});
    await hub.close();
    process.exit(0);
  };
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));
}
