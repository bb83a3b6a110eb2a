/** `handoff attach RUN_ID [--rw] [--grant TOKEN]`: this terminal becomes a viewer of the run (architecture §8a). */
import { parseArgs } from 'node:util';
import { clientEnv, HubClient, HubError } from './hubClient.ts';
import { attachTerminal } from './terminalAttach.ts';
import { UsageError } from './usageError.ts';

export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: { rw: { type: 'boolean', default: false }, grant: { type: 'string' } },
    allowPositionals: true,
    strict: true,
  });
  if (positionals.length !== 1) throw new UsageError('usage: handoff attach RUN_ID [--rw] [--grant TOKEN]');
  const runId = positionals[0] as string;
  const env = clientEnv();
  let grant: string | null = values.grant ?? null;
  if (values.rw && !grant) {
    const obtained = await obtainGrant(new HubClient(env), runId);
    if (!obtained) return 1;
    grant = obtained;
  }
  const outcome = await attachTerminal({ ...env, runId, grant });
  return outcome.kind === 'failed' ? 1 : 0;
}

/** grant-write with the operator token; prints the hub's refusal (e.g. 422 while the session is not ready). */
export async function obtainGrant(hub: HubClient, runId: string): Promise<string | null> {
  try {
    const g = await hub.grantWrite(runId);
    process.stderr.write(`handoff: write access to run ${runId} until ${new Date(g.grantedUntil).toLocaleTimeString()}\n`);
    return g.grantToken;
  } catch (err) {
    if (!(err instanceof HubError)) throw err;
    process.stderr.write(`handoff attach: cannot get write access to run ${runId}: ${err.message}\n`);
    return null;
  }
}
