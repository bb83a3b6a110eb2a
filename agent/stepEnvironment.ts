/**
 * What a task step inherits from the agent's environment (architecture §7a): everything but
 * the agent's own settings. Every HANDOFF_* variable goes — the worker token, a JWT secret or
 * encryption key under `handoff dev`, the hub's address — whatever its name, so a setting added
 * later cannot leak by being forgotten in a deny-list; the run's own variables (HANDOFF_RUN_ID,
 * HANDOFF_ARTIFACT_DIR, HANDOFF_OPERATOR_INBOX, HANDOFF_RUN_MARKER) are added by the run.
 * COLUMNS and LINES go too: the size comes from the pty.
 */
export function inheritedEnvironment(env: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) {
    if (v === undefined || k.startsWith('HANDOFF_') || k === 'COLUMNS' || k === 'LINES') continue;
    out[k] = v;
  }
  return out;
}
