/** `handoff agent`: a worker agent against HANDOFF_HUB_URL; SIGTERM lets running runs finish. */
import { loadAgentConfig } from '../agent/agentConfig.ts';
import { startAgent } from '../agent/agent.ts';
import { sandboxSettings } from '../agent/runIsolation.ts';
import { sharedStepLauncher } from '../agent/stepSandbox.ts';

export async function run(): Promise<void> {
  const config = loadAgentConfig();
  // Read once; gone from this process's env (and its children's). /proc/<pid>/environ still shows
  // the environment the agent started with: HANDOFF_WORKER_TOKEN_FILE keeps it out of there too.
  delete process.env.HANDOFF_WORKER_TOKEN;
  const log = (m: string) => process.stderr.write(`handoff agent: ${m}\n`);
  for (const w of config.warnings) log(w);
  // HANDOFF_STEP_SANDBOX=bwrap where bubblewrap does not work: say so now, not at the first run
  const launcher = sharedStepLauncher(sandboxSettings(config), log);
  const agent = startAgent(config, log);
  process.stdout.write(`handoff agent ${config.workerId} → ${config.hubUrl} (capacity ${config.capacity}, steps ${launcher.kind === 'bwrap' ? 'in a bubblewrap sandbox' : 'without a sandbox'}${config.stepUser ? ` as uid ${config.stepUser.uid}` : ''})\n`);
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
