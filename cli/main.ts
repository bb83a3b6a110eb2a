/** `handoff` — one executable for the hub, the agent and the operator's tools (architecture §8a). */
import { ConfigError } from '../common/configError.ts';

const USAGE = `usage: handoff <command> [options]

  hub                                   start the hub (prints the address it listens on)
  agent                                 start a worker agent against HANDOFF_HUB_URL
  dev                                   hub + one agent on the embedded database, with an operator login
  token --role viewer|operator|admin --sub NAME [--ttl 8h]
  token --worker ID [--ttl 365d]        mint a development token (printed alone on stdout)
  login                                 sign in to HANDOFF_HUB_URL through its identity provider (a code to
                                        confirm in the browser); attach / run use it without HANDOFF_TOKEN
  logout                                end that sign-in at the hub and forget it
  attach RUN_ID [--rw] [--grant-file PATH]
                                        attach this terminal to a run's live session (Ctrl-] detaches);
                                        --rw asks the hub for a write grant, or pass your grant in a
                                        file or in HANDOFF_GRANT (never on the command line)
  run [--rw] -- CMD…                    create a task run and attach to it
  migrate                               apply pending migrations to the configured database
`;

const commands: Record<string, () => Promise<{ run(argv: string[]): Promise<number | void> }>> = {
  hub: () => import('./hubCommand.ts'),
  agent: () => import('./agentCommand.ts'),
  dev: () => import('./devCommand.ts'),
  token: () => import('./tokenCommand.ts'),
  login: () => import('./loginCommand.ts'),
  logout: () => import('./logoutCommand.ts'),
  attach: () => import('./attachCommand.ts'),
  run: () => import('./runCommand.ts'),
  migrate: () => import('./migrateCommand.ts'),
};

const [name, ...rest] = process.argv.slice(2);
if (!name || name === '--help' || name === '-h' || name === 'help') {
  process.stdout.write(USAGE);
  process.exit(name ? 0 : 2);
}
const load = commands[name];
if (!load) {
  process.stderr.write(`handoff: unknown command "${name}"\n\n${USAGE}`);
  process.exit(2);
}
try {
  const code = await (await load()).run(rest);
  if (typeof code === 'number') process.exitCode = code;
} catch (err) {
  if (err instanceof ConfigError || (err instanceof Error && err.name === 'UsageError')) {
    process.stderr.write(`handoff ${name}: ${err.message}\n`);
    process.exit(2);
  }
  process.stderr.write(`handoff ${name}: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
}
