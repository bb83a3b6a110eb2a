/**
 * Runs a task run's steps, in order, inside ONE node-pty pseudo-terminal (architecture §6).
 *
 * A tiny bash driver runs in the pty and executes one step per `run <i>` line it reads from a
 * private FIFO (`go`); before/after each step it reports `S <i>` / `E <i> <rc>` on a second
 * FIFO (`status`). Steps are never interpolated into the driver script: each one is written
 * to its own file in the control dir and run as `"$BASH" -c "$(< file)"`, so a step's `exit`
 * ends only that step, and its stdin/stdout are the pty (a waiting step can be typed into).
 *
 * The agent decides when the next step starts, which gives soft pause for free: while held it
 * simply does not send the next `run` line. Hard pause / cancel signal the pty's process group
 * (plus, on Linux, every other process of the pty's session, e.g. jobs of an interactive shell).
 */
import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Pty } from './pty.ts';
import type { StepLauncher } from './stepSandbox.ts';
import { giveToStepUser } from './stepSandbox.ts';

export type StepRunStatus = 'succeeded' | 'failed' | 'cancelled';

export interface StepRunResult {
  status: StepRunStatus;
  /** 0 when succeeded, the failing step's exit code when failed, null when cancelled. */
  exitCode: number | null;
  /** Index of the step that failed (failed only; absent if the driver itself died). */
  failedStep?: number;
}

export interface StepRunnerOptions {
  steps: string[];
  cwd: string;
  /** Extra environment, merged over process.env (undefined removes a variable). */
  env?: Record<string, string | undefined>;
  cols?: number;
  rows?: number;
  /** Where to create the private control dir (default: os.tmpdir()). */
  controlDirParent?: string;
  /** SIGTERM → SIGKILL grace period on cancel / leftover cleanup (default 1000 ms). */
  killGraceMs?: number;
  /** How the pty's driver is started (a sandbox, another user): as is by default. */
  launcher?: StepLauncher;
}

// $1 = control dir, $2 = the end-of-output mark's body. Kept static (no interpolation);
// steps come from files.
const DRIVER_SCRIPT = `
ctl=$1
# node-pty only sets IUTF8 when encoding is 'utf8'; we read raw bytes, so set it here.
stty iutf8 2>/dev/null
# ^C typed by an operator must interrupt the step, not kill the driver. A handler (unlike
# an ignore) is reset on exec, so steps still get the default SIGINT behaviour.
trap ':' INT QUIT
while :; do
  op= idx=
  IFS=' ' read -r op idx < "$ctl/go"
  rc=$?
  if [ "$op" != run ]; then
    # a signal interrupted the wait (e.g. ^C while idle): wait again
    if [ $rc -gt 128 ]; then continue; fi
    break
  fi
  # The same news twice: in the output stream (an OSC the agent cuts out), where it falls
  # exactly between the steps' bytes (replay markers), and on the status FIFO (the control loop).
  printf '\\033]%s;S;%s\\007' "$2" "$idx"
  printf 'S %s\\n' "$idx" > "$ctl/status"
  "$BASH" -c "$(< "$ctl/step-$idx")"
  rc=$?
  printf '\\033]%s;E;%s;%s\\007' "$2" "$idx" "$rc"
  printf 'E %s %s\\n' "$idx" "$rc" > "$ctl/status"
done
# Linux drops pty output the master has not read yet when the pty hangs up (node-pty #72/#85),
# so do not exit before the agent has read everything: print the end-of-output mark (an OSC
# terminals ignore; the agent strips it) and wait until the agent, having read up to it, says exit.
printf '\\033]%s\\007' "$2"
while IFS=' ' read -r -t 10 op idx < "$ctl/go"; do [ "$op" = exit ] && break; done
`;

/** Longest driver mark: OSC, the body, ";E;<index>;<rc>", BEL. */
const MAX_MARK_BYTES = 96;

type Events = {
  data: [chunk: Buffer];
  stepStart: [index: number];
  stepEnd: [index: number, exitCode: number];
  /** Where a step began / ended in the output: emitted between the 'data' events it falls between. */
  stepMark: [index: number, phase: 'start' | 'end', exitCode: number | undefined];
};

export class StepRunner {
  private readonly opts: Required<Omit<StepRunnerOptions, 'env' | 'controlDirParent' | 'launcher'>> &
    Pick<StepRunnerOptions, 'env' | 'controlDirParent' | 'launcher'>;
  private readonly events = new EventEmitter<Events>();
  private term: Pty | undefined;
  private ctlDir: string | undefined;
  private goFd: number | undefined;
  private statusSock: net.Socket | undefined;
  private statusBuf = '';
  /** The driver's marks in the output (see DRIVER_SCRIPT): OSC <body>[;S;i | ;E;i;rc] BEL, cut out. */
  private readonly eofMarkBody = `handoff-eof-${randomBytes(12).toString('hex')}`;
  private readonly markPrefix = Buffer.from(`\x1b]${this.eofMarkBody}`, 'latin1');
  private stopSent = false;
  private eofSeen = false;
  /** Output held back because it may be the start of the mark. */
  private markCarry: Buffer | null = null;

  private started = false;
  private held = false;
  private stepInFlight = false;
  private nextStep = 0;
  private outcome: StepRunResult | undefined;
  private cancelRequested = false;
  private exited = false;
  private finished = false;
  private killTimer: NodeJS.Timeout | undefined;
  private resolveRun: ((r: StepRunResult) => void) | undefined;
  private resultPromise: Promise<StepRunResult> | undefined;

  constructor(opts: StepRunnerOptions) {
    this.opts = { cols: 120, rows: 40, killGraceMs: 1000, ...opts, steps: [...opts.steps] };
  }

  /** pid of the pty's driver shell (= its process group and session id); undefined before start. */
  get pid(): number | undefined {
    return this.term?.pid;
  }

  get isHeld(): boolean {
    return this.held;
  }

  onData(cb: (chunk: Buffer) => void): () => void {
    this.events.on('data', cb);
    return () => this.events.off('data', cb);
  }

  onStepStart(cb: (index: number) => void): () => void {
    this.events.on('stepStart', cb);
    return () => this.events.off('stepStart', cb);
  }

  /** Step boundaries in output order (for markers); onStepStart / onStepEnd drive the control loop. */
  onStepMark(cb: (index: number, phase: 'start' | 'end', exitCode: number | undefined) => void): () => void {
    this.events.on('stepMark', cb);
    return () => this.events.off('stepMark', cb);
  }

  onStepEnd(cb: (index: number, exitCode: number) => void): () => void {
    this.events.on('stepEnd', cb);
    return () => this.events.off('stepEnd', cb);
  }

  start(): Promise<StepRunResult> {
    if (this.resultPromise) return this.resultPromise;
    this.started = true;
    this.resultPromise = new Promise<StepRunResult>((resolve) => {
      this.resolveRun = resolve;
    });
    if (this.cancelRequested) {
      this.finished = true;
      this.resolveRun?.({ status: 'cancelled', exitCode: null });
      return this.resultPromise;
    }
    try {
      this.setupControlDir();
      this.spawnPty();
    } catch (err) {
      this.cleanupControl();
      this.resultPromise = Promise.reject(err instanceof Error ? err : new Error(String(err)));
      return this.resultPromise;
    }
    this.maybeStartNext();
    return this.resultPromise;
  }

  write(data: string | Buffer): void {
    this.term?.write(data);
  }

  resize(cols: number, rows: number): void {
    this.opts.cols = cols;
    this.opts.rows = rows;
    this.term?.resize(cols, rows);
  }

  /** Flow control: stop / restart reading the pty (the step blocks on a full pty buffer meanwhile). */
  pauseOutput(): void {
    this.term?.pauseOutput();
  }

  resumeOutput(): void {
    this.term?.resumeOutput();
  }

  /** Soft pause: while held no new step starts; the running one continues. */
  setHeld(held: boolean): void {
    this.held = held;
    if (!held) this.maybeStartNext();
  }

  /** Hard pause: SIGSTOP the whole process group (and session) of the pty. */
  hardPause(): void {
    this.signalAll('SIGSTOP');
  }

  hardResume(): void {
    this.signalAll('SIGCONT');
  }

  /** Ends the run (also while soft/hard paused): SIGCONT, SIGTERM, SIGKILL after the grace. */
  cancel(): void {
    if (this.finished || this.cancelRequested) return;
    this.cancelRequested = true;
    if (!this.started) return; // start() will resolve `cancelled` at once
    this.sendGo('stop'); // an idle (soft-paused) driver exits cleanly
    this.signalAll('SIGCONT');
    this.signalAll('SIGTERM');
    this.killTimer = setTimeout(() => {
      this.signalAll('SIGKILL');
      this.term?.kill();
    }, this.opts.killGraceMs);
  }

  // ---------------------------------------------------------------------------------------

  private setupControlDir(): void {
    const parent = this.opts.controlDirParent ?? os.tmpdir();
    this.ctlDir = fs.mkdtempSync(path.join(parent, 'handoff-ctl-')); // mode 0700
    const go = path.join(this.ctlDir, 'go');
    const status = path.join(this.ctlDir, 'status');
    execFileSync('mkfifo', ['-m', '600', go, status]);
    this.opts.steps.forEach((step, i) => {
      fs.writeFileSync(path.join(this.ctlDir as string, `step-${i}`), step, { mode: 0o600 });
    });
    // a step user's driver opens the FIFOs and reads the steps
    const ctl = this.ctlDir;
    giveToStepUser([ctl, go, status, ...this.opts.steps.map((_s, i) => path.join(ctl, `step-${i}`))], this.opts.launcher?.user);
    // O_RDWR: we are always both a reader and a writer, so neither our open nor the driver's
    // blocks, the driver's read never sees EOF while we live, and our writes never SIGPIPE.
    const flags = fs.constants.O_RDWR | fs.constants.O_NONBLOCK;
    this.goFd = fs.openSync(go, flags);
    const statusFd = fs.openSync(status, flags);
    this.statusSock = new net.Socket({ fd: statusFd, readable: true, writable: false });
    this.statusSock.setEncoding('utf8');
    this.statusSock.on('data', (s: string) => this.onStatusData(s));
    this.statusSock.on('error', () => {
      /* closed at cleanup */
    });
  }

  private spawnPty(): void {
    const driver = ['bash', '--noprofile', '--norc', '-c', DRIVER_SCRIPT, 'handoff-driver', this.ctlDir as string, this.eofMarkBody];
    const launch = this.opts.launcher?.command(driver, [this.opts.cwd, this.ctlDir as string]) ?? { file: 'bash', args: driver.slice(1) };
    const user = this.opts.launcher?.user;
    const term = new Pty({
      file: launch.file,
      args: launch.args,
      cols: this.opts.cols,
      rows: this.opts.rows,
      cwd: this.opts.cwd,
      env: this.opts.env,
      ...(user ? { uid: user.uid, gid: user.gid } : {}),
    });
    this.term = term;
    term.onData((chunk) => this.onPtyData(chunk));
    void term.exited.then((e) => {
      this.exited = true;
      void this.finish(e.exitCode, e.signal);
    });
  }

  /** Output of the pty: passed on as is, except the driver's marks, which are cut out and told. */
  private onPtyData(chunk: Buffer): void {
    let buf = this.markCarry ? Buffer.concat([this.markCarry, chunk]) : chunk;
    this.markCarry = null;
    for (;;) {
      const at = buf.indexOf(this.markPrefix);
      if (at < 0) break;
      const end = buf.indexOf(0x07, at + this.markPrefix.length);
      if (end < 0) {
        // the mark's tail is still in the pty: hold it back (a mark is a few dozen bytes)
        if (buf.length - at < MAX_MARK_BYTES) {
          this.markCarry = Buffer.from(buf.subarray(at));
          buf = buf.subarray(0, at);
        }
        break;
      }
      if (at > 0) this.events.emit('data', buf.subarray(0, at));
      this.onMark(buf.toString('latin1', at + this.markPrefix.length, end));
      buf = buf.subarray(end + 1);
    }
    if (!this.markCarry) {
      const keep = markPrefixAtEnd(buf, this.markPrefix);
      if (keep > 0) {
        this.markCarry = Buffer.from(buf.subarray(buf.length - keep));
        buf = buf.subarray(0, buf.length - keep);
      }
    }
    if (buf.length) this.events.emit('data', buf);
  }

  private onMark(payload: string): void {
    if (payload === '') {
      if (!this.stopSent || this.eofSeen) return;
      this.eofSeen = true;
      this.sendGo('exit'); // everything before the mark was read: the driver may go
      return;
    }
    const [, kind, idx, rc] = payload.split(';');
    if (kind === 'S') this.events.emit('stepMark', Number(idx), 'start', undefined);
    else if (kind === 'E') this.events.emit('stepMark', Number(idx), 'end', Number(rc));
  }

  private onStatusData(s: string): void {
    this.statusBuf += s;
    let nl: number;
    while ((nl = this.statusBuf.indexOf('\n')) >= 0) {
      const line = this.statusBuf.slice(0, nl).trim();
      this.statusBuf = this.statusBuf.slice(nl + 1);
      const [kind, idxStr, rcStr] = line.split(' ');
      const idx = Number(idxStr);
      if (kind === 'S') {
        this.events.emit('stepStart', idx);
      } else if (kind === 'E') {
        this.onStepEnded(idx, Number(rcStr));
      }
    }
  }

  private onStepEnded(idx: number, rc: number): void {
    this.stepInFlight = false;
    this.events.emit('stepEnd', idx, rc);
    if (this.cancelRequested || this.outcome) return;
    if (rc !== 0) {
      this.outcome = { status: 'failed', exitCode: rc, failedStep: idx };
      this.sendGo('stop');
      return;
    }
    this.nextStep = idx + 1;
    this.maybeStartNext();
  }

  private maybeStartNext(): void {
    if (this.cancelRequested || this.outcome || this.exited || !this.term || this.stepInFlight) return;
    if (this.nextStep >= this.opts.steps.length) {
      this.outcome = { status: 'succeeded', exitCode: 0 };
      this.sendGo('stop');
      return;
    }
    if (this.held) return;
    this.stepInFlight = true;
    this.sendGo(`run ${this.nextStep}`);
  }

  private sendGo(line: string): void {
    if (this.goFd === undefined) return;
    if (line === 'stop') this.stopSent = true;
    try {
      fs.writeSync(this.goFd, `${line}\n`);
    } catch {
      /* driver gone; the exit handler finishes the run */
    }
  }

  private async finish(exitCode: number, signal: number | undefined): Promise<void> {
    // no process of this run may outlive it (e.g. `daemon &` in a step)
    await this.term?.reap(this.opts.killGraceMs);
    if (this.killTimer) clearTimeout(this.killTimer);
    this.cleanupControl();
    if (this.markCarry) this.events.emit('data', this.markCarry); // not the mark after all
    this.markCarry = null;
    this.finished = true;
    let result: StepRunResult;
    if (this.cancelRequested) result = { status: 'cancelled', exitCode: null };
    else if (this.outcome) result = this.outcome;
    else {
      // the driver died without reporting (killed from outside)
      const code = signal ? 128 + signal : exitCode;
      result = { status: 'failed', exitCode: code === 0 ? 1 : code };
    }
    this.resolveRun?.(result);
  }

  private cleanupControl(): void {
    this.statusSock?.destroy();
    this.statusSock = undefined;
    if (this.goFd !== undefined) {
      try {
        fs.closeSync(this.goFd);
      } catch {
        /* already closed */
      }
      this.goFd = undefined;
    }
    if (this.ctlDir) fs.rmSync(this.ctlDir, { recursive: true, force: true });
    this.ctlDir = undefined;
  }

  private signalAll(sig: NodeJS.Signals): void {
    this.term?.signalAll(sig);
  }
}

/** Length of the longest proper prefix of `mark` that `buf` ends with (0 if none). */
function markPrefixAtEnd(buf: Buffer, mark: Buffer): number {
  for (let i = Math.max(0, buf.length - mark.length + 1); i < buf.length; i++) {
    if (buf[i] === mark[0] && buf.subarray(i).equals(mark.subarray(0, buf.length - i))) return buf.length - i;
  }
  return 0;
}
