/**
 * One run's side of the trust boundary (architecture §7a), kept out of runExecution.ts: the
 * sandbox / user its steps and operator shell start under (stepSandbox.ts), its artifact folder
 * made theirs, the marker in their environment, and at its end every process it started gone
 * (runProcesses.ts; the watchdog covers the agent's own death).
 */
import { existsSync, readFileSync } from 'node:fs';
import { chmod, mkdir, open } from 'node:fs/promises';
import type { AgentConfig } from './agentConfig.ts';
import { endMarkedProcesses, RUN_MARKER_VAR, runMarker } from './runProcesses.ts';
import { ensureRunWatchdog } from './runWatchdog.ts';
import type { SandboxSettings, StepLauncher } from './stepSandbox.ts';
import { giveToStepUser, sharedStepLauncher } from './stepSandbox.ts';

/** The home folder /etc/passwd gives `uid`, if it exists (the agent's HOME is not the step user's). */
function homeOf(uid: number): string | undefined {
  try {
    for (const line of readFileSync('/etc/passwd', 'utf8').split('\n')) {
      const f = line.split(':');
      if (Number(f[2]) === uid && f[5] && existsSync(f[5])) return f[5];
    }
  } catch {
    /* no passwd file */
  }
  return undefined;
}

export function sandboxSettings(config: AgentConfig): SandboxSettings {
  // the artifacts root is hidden too: a step sees its own run's folder, not other runs' recordings
  return { mode: config.stepSandbox, hide: [...config.stepHide, config.artifactsDir], user: config.stepUser };
}

export class RunIsolation {
  readonly marker: string;

  constructor(
    runId: string,
    private readonly config: AgentConfig,
    private readonly artifactDir: string,
    private readonly log: (msg: string) => void,
  ) {
    this.marker = runMarker(runId);
  }

  /** The variables the run adds to its steps' environment for this boundary (a step user's own HOME). */
  env(): Record<string, string> {
    const user = this.config.stepUser;
    return { [RUN_MARKER_VAR]: this.marker, ...(user ? { HOME: homeOf(user.uid) ?? this.artifactDir } : {}) };
  }

  /**
   * Creates the artifact folder (0700, the step user's when there is one, with `ownFiles` in it
   * created for that user too), starts the watchdog, and returns the launcher for the run's
   * ptys: it throws when HANDOFF_STEP_SANDBOX=bwrap and bubblewrap does not work here.
   */
  async prepare(ownFiles: string[]): Promise<StepLauncher> {
    await mkdir(this.artifactDir, { recursive: true, mode: 0o700 });
    await chmod(this.artifactDir, 0o700);
    const user = this.config.stepUser;
    if (user) {
      for (const f of ownFiles) await (await open(f, 'a', 0o600)).close();
      giveToStepUser([this.artifactDir, ...ownFiles], user);
    }
    ensureRunWatchdog(this.log);
    const launcher = sharedStepLauncher(sandboxSettings(this.config), this.log);
    const artifactDir = this.artifactDir;
    // the artifact folder is always the step's to see and write, wherever its working folder is
    return { kind: launcher.kind, user: launcher.user, command: (command, expose) => launcher.command(command, [...expose, artifactDir]) };
  }

  /** Ends whatever the run started that is still alive (left its session, ignored SIGHUP …). */
  async end(): Promise<void> {
    const left = await endMarkedProcesses(this.marker);
    if (left) this.log(`run ${this.marker.slice(this.marker.indexOf('.') + 1)}: ended ${left} process(es) it left behind`);
  }
}
