/**
 * `handoff token`: mints a development token with the configured (or generated) secret. An operator
 * token carries a new operator session id; the hub registers that session on the token's first use,
 * so an admin can end it like a sign-in (POST /api/operator-sessions/{sid}/end).
 */
import { parseArgs } from 'node:util';
import type { OperatorRole } from '../common/statuses.ts';
import { OPERATOR_ROLES } from '../common/statuses.ts';
import { loadHubConfig } from '../hub/config.ts';
import { resolveSecrets } from '../hub/secrets.ts';
import { formatDuration, parseDuration, TokenService } from '../hub/auth/tokens.ts';
import { UsageError } from './usageError.ts';

export async function run(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: { role: { type: 'string' }, sub: { type: 'string' }, worker: { type: 'string' }, ttl: { type: 'string' } },
    strict: true,
  });
  const config = loadHubConfig();
  const { jwtSecret, generated } = resolveSecrets(config);
  if (generated) process.stderr.write(`handoff token: generated development secrets in ${config.dataDir}/secrets.json\n`);
  const tokens = new TokenService(jwtSecret, config.tokenMaxSeconds);
  const ttl = (kind: 'operator' | 'worker') => {
    if (values.ttl === undefined) return undefined;
    const seconds = parseDuration(values.ttl);
    const max = tokens.limits[kind];
    if (!Number.isSafeInteger(seconds) || seconds > max) {
      throw new UsageError(`--ttl ${values.ttl} is refused: ${kind} tokens live at most ${formatDuration(max)} (HANDOFF_${kind.toUpperCase()}_TOKEN_MAX_TTL); ask for less`);
    }
    return seconds;
  };
  if (values.worker !== undefined) {
    if (values.role || values.sub) throw new UsageError('--worker does not go with --role / --sub');
    if (!values.worker.trim()) throw new UsageError('--worker needs an id');
    process.stdout.write(`${tokens.mintWorker(values.worker, ttl('worker'))}\n`);
    return 0;
  }
  if (!values.role || !OPERATOR_ROLES.includes(values.role as OperatorRole)) throw new UsageError(`--role must be one of ${OPERATOR_ROLES.join(', ')} (or use --worker ID)`);
  if (!values.sub?.trim()) throw new UsageError('--sub NAME is required');
  process.stdout.write(`${tokens.mintOperator(values.sub, values.role as OperatorRole, ttl('operator'))}\n`);
  return 0;
}
