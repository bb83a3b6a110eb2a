/**
 * A hub as a real child process (`node bin/handoff.js hub`), for tests that kill or restart
 * hubs or run several of them on one PostgreSQL and one Redis.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TEST_ENCRYPTION_KEY, TEST_JWT_SECRET } from './testHub.ts';

export interface HubProcess {
  url: string;
  child: ChildProcess;
  output: string[];
  /** SIGKILL: no goodbye, the way a crashed machine leaves. */
  kill(): Promise<void>;
  /** SIGTERM: the graceful path; resolves with the exit code. */
  stop(): Promise<number | null>;
  metric(name: string): Promise<number | null>;
}

export async function startHubProcess(env: Record<string, string>, timeoutMs = 30_000): Promise<HubProcess> {
  const dataDir = env['HANDOFF_DATA_DIR'] ?? mkdtempSync(join(tmpdir(), 'handoff-hubproc-'));
  const child = spawn(process.execPath, ['bin/handoff.js', 'hub'], {
    cwd: new URL('../../', import.meta.url).pathname,
    env: {
      ...process.env,
      NODE_ENV: 'test',
      HANDOFF_HOST: '127.0.0.1',
      HANDOFF_PORT: '0',
      HANDOFF_JWT_SECRET: TEST_JWT_SECRET,
      HANDOFF_ENCRYPTION_KEY: TEST_ENCRYPTION_KEY,
      HANDOFF_LOG_LEVEL: 'warn',
      HANDOFF_DATA_DIR: dataDir,
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output: string[] = [];
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`hub did not start in ${timeoutMs} ms:\n${output.join('')}`)), timeoutMs);
    const onData = (b: Buffer) => {
      output.push(b.toString());
      const m = /handoff hub listening on (\S+)/.exec(output.join(''));
      if (m?.[1]) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', (b: Buffer) => output.push(b.toString()));
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`hub exited (${code}) before listening:\n${output.join('')}`));
    });
  });
  const exited = new Promise<number | null>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve(child.exitCode);
    else child.once('exit', (code) => resolve(code));
  });
  const cleanup = () => {
    if (!env['HANDOFF_DATA_DIR']) rmSync(dataDir, { recursive: true, force: true });
  };
  return {
    url,
    child,
    output,
    async kill() {
      child.kill('SIGKILL');
      await exited;
      cleanup();
    },
    async stop() {
      child.kill('SIGTERM');
      const code = await exited;
      cleanup();
      return code;
    },
    async metric(name: string) {
      const text = await (await fetch(`${url}/metrics`)).text();
      const m = new RegExp(`^${name}(?:\\{[^}]*\\})? ([0-9.e+-]+)$`, 'm').exec(text);
      return m?.[1] !== undefined ? Number(m[1]) : null;
    },
  };
}
