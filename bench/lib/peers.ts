/**
 * What handoff is measured beside in the same run (issue 17): node-pty read in this one process
 * (the ceiling), and WeTTY — a peer doing one hop (node-pty + Socket.IO + xterm.js). WeTTY is
 * installed by the bench from the npm registry into a folder of its own (bench/.peers, not in
 * the repo) and driven by its own protocol: Socket.IO at /wetty/socket.io, `data` strings out,
 * `input` in, and a `commit` of 256 KiB for every 256 KiB received (its flow control).
 */
import { execFileSync, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { IEvent } from 'node-pty';
import { spawn as ptySpawn } from 'node-pty';
import { io } from 'socket.io-client';
import type { Socket } from 'socket.io-client';
import { ROOT } from './cluster.ts';
import type { Payload } from './payloads.ts';
import { HashVerifier } from './payloads.ts';
import { rssBytes } from './procStats.ts';
import { MB, withTimeout } from './stats.ts';
import { Trigger } from './trigger.ts';

export const WETTY_VERSION = '3.2.0';
const WETTY_ACK_BYTES = 262_144;
/** Printed by the session once its terminal no longer echoes: what comes after it is the measured output. */
const WETTY_READY = 'WETTY-SESSION-READY';

export interface PeerFigure {
  mbps: number;
  seconds: number;
  exact: boolean;
}

/**
 * A pty read by this process, no network: `command` runs once the trigger fires; resolves when
 * `total` bytes were read (each chunk to `feed`), with the seconds from the trigger to the last byte.
 */
export async function ptyRead(dir: string, command: string, total: number, feed: (chunk: Buffer) => void): Promise<number> {
  const trigger = new Trigger(dir);
  let read = 0;
  let last = 0;
  let done: () => void = () => undefined;
  const finished = new Promise<void>((r) => (done = r));
  const term = ptySpawn('bash', ['--noprofile', '--norc', '-c', `${trigger.shellWait}; ${command}; sleep 60`], {
    name: 'xterm-256color',
    cols: 120,
    rows: 40,
    cwd: dir,
    env: process.env as Record<string, string>,
    encoding: null,
  });
  (term.onData as unknown as IEvent<Buffer>)((chunk) => {
    feed(chunk);
    read += chunk.length;
    last = performance.now();
    if (read >= total) done();
  });
  try {
    const t0 = await trigger.fire();
    await withTimeout(`node-pty: ${command}`, finished, 120_000);
    return (last - t0) / 1000;
  } finally {
    term.kill('SIGKILL');
  }
}

/** `cat` of the payload in a pty read by this process: the most any relay of it can deliver. */
export async function rawPtyCat(dir: string, payload: Payload): Promise<PeerFigure> {
  const verifier = new HashVerifier(payload);
  const seconds = await ptyRead(dir, `cat '${payload.file}'`, payload.ptyBytes, (chunk) => verifier.feed(verifier.bytes, chunk));
  return { mbps: verifier.bytes / MB / seconds, seconds, exact: verifier.exact() };
}

/** `n` ptys read by this process at once, each `cat`ing the payload: aggregate MB/s over the slowest. */
export async function rawPtyCatMany(dir: string, payload: Payload, n: number): Promise<PeerFigure> {
  const verifiers = Array.from({ length: n }, () => new HashVerifier(payload));
  const seconds = await Promise.all(verifiers.map((v) => ptyRead(dir, `cat '${payload.file}'`, payload.ptyBytes, (chunk) => v.feed(v.bytes, chunk))));
  const slowest = Math.max(...seconds);
  return { mbps: (n * payload.ptyBytes) / MB / slowest, seconds: slowest, exact: verifiers.every((v) => v.exact()) };
}

/** The command WeTTY runs per connection: no echo, waits for one line naming what to do. */
const WETTY_SESSION = `#!/bin/bash
stty -echo
printf '${WETTY_READY}'
IFS= read -r line
case "$line" in
  # stays after cat: a pty that hangs up drops the output not yet read (node-pty #72)
  cat\\ *) cat "\${line#cat }"; exec sleep 3600 ;;
  echo) stty raw -echo; printf RAW-READY; exec cat ;;
esac
`;

export class WettyPeer {
  private constructor(
    private readonly proc: ChildProcess,
    readonly url: string,
  ) {}

  /** Installs WeTTY (once) and starts it on a free port; null with the reason when it cannot. */
  static async start(dir: string, log: (msg: string) => void): Promise<WettyPeer | string> {
    const prefix = join(ROOT, 'bench', '.peers', `wetty-${WETTY_VERSION}`);
    const main = join(prefix, 'node_modules', 'wetty', 'build', 'main.js');
    if (!existsSync(main)) {
      log(`installing WeTTY ${WETTY_VERSION} into ${prefix} (npm registry)`);
      mkdirSync(prefix, { recursive: true });
      try {
        execFileSync('npm', ['install', '--prefix', prefix, `wetty@${WETTY_VERSION}`, '--no-audit', '--no-fund', '--loglevel=error'], { stdio: 'pipe', timeout: 600_000 });
      } catch (err) {
        return `WeTTY could not be installed: ${(err as Error).message.split('\n')[0]}`;
      }
    }
    const session = join(dir, 'wetty-session.sh');
    writeFileSync(session, WETTY_SESSION);
    chmodSync(session, 0o700);
    const port = 20_000 + Math.floor(Math.random() * 20_000);
    const proc = spawn(process.execPath, [main, '--host', '127.0.0.1', '--port', String(port), '--base', '/wetty', '--command', session, '--log-level', 'error'], { stdio: ['ignore', 'pipe', 'pipe'] });
    const url = `http://127.0.0.1:${port}`;
    const deadline = Date.now() + 30_000;
    for (;;) {
      try {
        const res = await fetch(`${url}/wetty`, { signal: AbortSignal.timeout(1000) });
        if (res.status < 500) break;
      } catch {
        /* not listening yet */
      }
      if (proc.exitCode !== null || Date.now() > deadline) {
        proc.kill('SIGKILL');
        return 'WeTTY did not start';
      }
      await new Promise((r) => setTimeout(r, 200));
    }
    return new WettyPeer(proc, url);
  }

  get pid(): number {
    return this.proc.pid as number;
  }

  /** A connection whose session is ready; `onData` gets everything after the ready mark. */
  private async session(onData: (text: string) => void): Promise<Socket> {
    const s = io(this.url, { path: '/wetty/socket.io', transports: ['websocket'], forceNew: true, reconnection: false });
    let ready = false;
    let head = '';
    const isReady = new Promise<void>((resolve, reject) => {
      s.on('data', (text: string) => {
        if (ready) return onData(text);
        head += text;
        const at = head.indexOf(WETTY_READY);
        if (at < 0) return;
        ready = true;
        resolve();
        const rest = head.slice(at + WETTY_READY.length);
        if (rest) onData(rest);
      });
      s.once('connect_error', reject);
    });
    s.once('login', () => s.emit('resize', { cols: 120, rows: 40 }));
    await withTimeout('WeTTY session', isReady, 15_000);
    return s;
  }

  /** One viewer: the payload `cat` in WeTTY's pty, every byte received and acknowledged as its client does. */
  async cat(payload: Payload): Promise<PeerFigure> {
    const verifier = new HashVerifier(payload);
    let unacked = 0;
    let last = 0;
    let done: () => void = () => undefined;
    const finished = new Promise<void>((r) => (done = r));
    const s = await this.session((text) => {
      const chunk = Buffer.from(text, 'utf8');
      verifier.feed(verifier.bytes, chunk);
      last = performance.now();
      unacked += text.length;
      while (unacked >= WETTY_ACK_BYTES) {
        unacked -= WETTY_ACK_BYTES;
        s.emit('commit', WETTY_ACK_BYTES);
      }
      if (verifier.bytes >= payload.ptyBytes) done();
    });
    // the ready mark counts towards WeTTY's flow control like any output
    unacked += WETTY_READY.length;
    try {
      const t0 = performance.now();
      s.emit('input', `cat ${payload.file}\n`);
      await withTimeout(`WeTTY cat ${payload.name}`, finished, 180_000);
      const seconds = (last - t0) / 1000;
      return { mbps: verifier.bytes / MB / seconds, seconds, exact: verifier.exact() };
    } finally {
      s.close();
    }
  }

  /** `n` clients at once, each its own session `cat`ing the payload (WeTTY spawns a pty per connection): aggregate MB/s. */
  async catMany(payload: Payload, n: number): Promise<PeerFigure> {
    const clients = await Promise.all(
      Array.from({ length: n }, async () => {
        const verifier = new HashVerifier(payload);
        let unacked = WETTY_READY.length;
        let done: () => void = () => undefined;
        const finished = new Promise<void>((r) => (done = r));
        const c = { verifier, finished, last: 0, socket: null as Socket | null };
        c.socket = await this.session((text) => {
          verifier.feed(verifier.bytes, Buffer.from(text, 'utf8'));
          c.last = performance.now();
          unacked += text.length;
          while (unacked >= WETTY_ACK_BYTES) {
            unacked -= WETTY_ACK_BYTES;
            c.socket?.emit('commit', WETTY_ACK_BYTES);
          }
          if (verifier.bytes >= payload.ptyBytes) done();
        });
        return c;
      }),
    );
    try {
      const t0 = performance.now();
      for (const c of clients) c.socket?.emit('input', `cat ${payload.file}\n`);
      await withTimeout(`WeTTY ${n} × cat ${payload.name}`, Promise.all(clients.map((c) => c.finished)), 300_000);
      const seconds = (Math.max(...clients.map((c) => c.last)) - t0) / 1000;
      return { mbps: (n * payload.ptyBytes) / MB / seconds, seconds, exact: clients.every((c) => c.verifier.exact()) };
    } finally {
      for (const c of clients) c.socket?.close();
    }
  }

  /** WeTTY's RSS growth per idle connection (each with its session waiting), in KiB. */
  async idleKiB(n: number): Promise<number> {
    const before = rssBytes(this.pid);
    const sockets: Socket[] = [];
    try {
      for (let i = 0; i < n; i += 10) sockets.push(...(await Promise.all(Array.from({ length: Math.min(10, n - i) }, () => this.session(() => undefined)))));
      await new Promise((r) => setTimeout(r, 1000));
      return (rssBytes(this.pid) - before) / 1024 / n;
    } finally {
      for (const s of sockets) s.close();
    }
  }

  /** Keystroke → echo round trips, one after the other (ms each). */
  async echo(count: number, warmup = 20): Promise<number[]> {
    let text = '';
    let waiting: { ch: string; resolve: (t: number) => void } | null = null;
    const s = await this.session((d) => {
      if (waiting && d.includes(waiting.ch)) {
        const w = waiting;
        waiting = null;
        w.resolve(performance.now());
      } else text = (text + d).slice(-64);
    });
    try {
      s.emit('input', 'echo\n');
      const deadline = Date.now() + 15_000;
      while (!text.includes('RAW-READY')) {
        if (Date.now() > deadline) throw new Error('the WeTTY echo session never switched to raw mode');
        await new Promise((r) => setTimeout(r, 10));
      }
      const out: number[] = [];
      for (let i = 0; i < warmup + count; i++) {
        const ch = String.fromCharCode(0x61 + (i % 26));
        const back = new Promise<number>((resolve) => (waiting = { ch, resolve }));
        const t0 = performance.now();
        s.emit('input', ch);
        const at = await withTimeout('WeTTY echo', back, 10_000);
        if (i >= warmup) out.push(at - t0);
      }
      return out;
    } finally {
      s.close();
    }
  }

  async stop(): Promise<void> {
    if (this.proc.exitCode !== null) return;
    const exited = new Promise((r) => this.proc.once('exit', r));
    this.proc.kill('SIGTERM');
    await withTimeout('WeTTY to stop', exited, 5000).catch(() => this.proc.kill('SIGKILL'));
  }
}
