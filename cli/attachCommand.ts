/** `handoff attach RUN_ID [--rw] [--grant-file PATH]`: this terminal becomes a viewer of the run (architecture §8a). */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { clientEnv, HubClient, HubError } from './hubClient.ts';
import { attachTerminal } from './terminalAttach.ts';
import { UsageError } from './usageError.ts';

const USAGE = 'usage: handoff attach RUN_ID [--rw] [--grant-file PATH]   (or a grant in HANDOFF_GRANT)';

export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    // `grant` is parsed only to refuse it with the reason (a plain unknown-option error would not say why)
    options: { rw: { type: 'boolean', default: false }, 'grant-file': { type: 'string' }, grant: { type: 'string' } },
    allowPositionals: true,
    strict: true,
  });
  if (values.grant !== undefined) {
    throw new UsageError(
      '--grant TOKEN is refused: a grant on the command line is visible to every local user in `ps` and stays in shell history. ' +
        'Put it in a file only you can read and pass --grant-file PATH, or export HANDOFF_GRANT; `--rw` alone asks the hub for a grant with your token.',
    );
  }
  if (positionals.length !== 1) throw new UsageError(USAGE);
  const runId = positionals[0] as string;
  const env = clientEnv();
  let grant = grantGiven(values['grant-file'], process.env);
  if (values.rw && !grant) {
    const obtained = await obtainGrant(new HubClient(env), runId);
    if (!obtained) return 1;
    grant = obtained;
  }
  const outcome = await attachTerminal({ ...env, runId, grant });
  return outcome.kind === 'failed' ? 1 : 0;
}

/**
 * The grant handed to this command, from `--grant-file PATH` or else HANDOFF_GRANT; null if none.
 * Never from the command line (see the refusal of --grant above). The grant works only with the
 * grantee's own HANDOFF_TOKEN (architecture §7a).
 */
export function grantGiven(file: string | undefined, env: NodeJS.ProcessEnv): string | null {
  if (file !== undefined) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      throw new UsageError(`cannot read the grant file ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
    const grant = text.trim();
    if (!grant || /\s/.test(grant)) throw new UsageError(`${file} does not hold one grant token`);
    return grant;
  }
  return env.HANDOFF_GRANT?.trim() || null;
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
