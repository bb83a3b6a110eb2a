/** `handoff agent`: a worker agent against HANDOFF_HUB_URL; SIGTERM lets running runs finish. */
import { loadAgentConfig } from '../agent/agentConfig.ts';
import { startAgent } from '../agent/agent.ts';

export async function run(): Promise<void> {
  const config = loadAgentConfig();
  const agent = startAgent(config);
  process.stdout.write(`handoff agent ${config.workerId} → ${config.hubUrl} (capacity ${config.capacity})\n`);
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) process.exit(1); // a second signal: leave now
    stopping = true;
    const handBack = config.shutdownPolicy === 'handback';
    process.stderr.write(`handoff agent: ${signal}: ${handBack ? 'handing back' : 'finishing'} ${agent.runs.size} run(s); signal again to leave at once\n`);
    await agent.close({ handBack });
    process.exit(0);
  };
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));
}
