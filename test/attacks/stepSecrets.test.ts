/**
 * Attacks from inside a task step (issue 12.3, architecture §7a): a step script that tries what
 * hostile task code would — every process's environment (its ancestors' first), the data folders
 * it can guess (secrets.json, the store's files), its own environment — and prints what it found.
 * Real `handoff hub` + `handoff agent` processes, and `handoff dev` (hub and agent in one
 * process on the embedded store). No worker token, JWT secret or encryption key may reach the
 * step's output or the recording; the step's own environment holds no handoff secret and no
 * variable set to the string `undefined`.
 *
 * The sandbox (bubblewrap, the default where it works) is what keeps /proc of the agent and the
 * data folder out of reach; with HANDOFF_STEP_SANDBOX=off only the environment promises hold
 * (a step under the agent's own uid can read what that uid can), which the last case checks.
 */
import { chmodSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { isAbsolute, join, relative, resolve } from 'node:path';
import { expect } from 'chai';
import type { AgentProcess, DevProcess } from '../support/processes.ts';
import { createRunAt, operatorToken, removeDir, spawnAgent, spawnDev, waitRunAt, workerToken } from '../support/processes.ts';
import type { HubProcess } from '../support/testHub.ts';
import { startTestHub } from '../support/testHub.ts';
import { TEST_ENCRYPTION_KEY, TEST_JWT_SECRET } from '../support/testSecrets.ts';

/** What a hostile step tries. Arguments: folders it guesses hold the hub's / agent's data. */
const PROBE = `#!/bin/bash
echo "PROBE start"
pid=$$
while [ -n "$pid" ] && [ "$pid" -gt 0 ] 2>/dev/null; do
  echo "ANCESTOR $pid $(tr '\\0' ' ' < /proc/$pid/cmdline 2>/dev/null | cut -c1-80)"
  tr '\\0' '\\n' < /proc/$pid/environ 2>/dev/null | sed "s|^|ANCESTOR-ENV $pid |"
  [ "$pid" -le 1 ] && break
  pid=$(sed 's/.*) //' /proc/$pid/stat 2>/dev/null | cut -d' ' -f2)
done
for f in /proc/[0-9]*/environ; do
  tr '\\0' '\\n' < "$f" 2>/dev/null | grep -a 'HANDOFF_\\|eyJ' | sed "s|^|ENVIRON $f |"
done
for d in "$@" "$HANDOFF_ARTIFACT_DIR/.." "$HANDOFF_ARTIFACT_DIR/../.."; do
  ls -a "$d" 2>&1 | sed "s|^|LS $d |"
  find "$d" -maxdepth 3 -type f -readable 2>/dev/null | grep -v "^$HANDOFF_ARTIFACT_DIR" | head -40 | sed "s|^|READABLE |"
  sed "s|^|SECRETS $d |" "$d/secrets.json" 2>/dev/null
  for f in "$d"/*token* "$d"/pgdata/PG_VERSION "$d"/pgdata/global/pg_control; do [ -r "$f" ] && echo "READ $f $(head -c 200 "$f" | tr -dc '[:print:]')"; done
done
env | sed 's/^/OWNENV /'
echo "ID $(id)"
echo "PROBE end"
`;

interface Finding {
  output: string;
  ownEnv: Map<string, string>;
}

function findings(cast: string): Finding {
  const output = cast
    .split('\n')
    .slice(1)
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as [number, string, string])
    .filter((e) => e[1] === 'o')
    .map((e) => e[2])
    .join('')
    .replace(/\r/g, '');
  const ownEnv = new Map<string, string>();
  for (const line of output.split('\n')) {
    const m = /^OWNENV ([^=]+)=(.*)$/.exec(line);
    if (m) ownEnv.set(m[1] as string, m[2] as string);
  }
  return { output, ownEnv };
}

/** What a step may see of handoff in its environment (docs: README "Task steps"). */
const DOCUMENTED = new Set(['HANDOFF_RUN_ID', 'HANDOFF_ARTIFACT_DIR', 'HANDOFF_OPERATOR_INBOX', 'HANDOFF_RUN_MARKER']);

/** Whether `inner` is `outer` or under it (kept here: the test runs against code without the sandbox too). */
function isWithin(inner: string, outer: string): boolean {
  const rel = relative(outer, inner);
  return rel === '' || (!rel.startsWith('..') && !isAbsolute(rel));
}

/** Everything the step got hold of that it must not have: empty when the boundaries hold. */
function cleanEnvironmentProblems(f: Finding): string[] {
  const out: string[] = [];
  if (!f.output.includes('PROBE end')) out.push('the probe did not run to its end');
  if (typeof f.ownEnv.get('HANDOFF_RUN_ID') !== 'string') out.push('HANDOFF_RUN_ID missing from the step environment');
  for (const k of f.ownEnv.keys()) if (k.startsWith('HANDOFF_') && !DOCUMENTED.has(k)) out.push(`step environment has ${k}`);
  for (const [k, v] of f.ownEnv) if (v === 'undefined') out.push(`step environment has ${k}=undefined`);
  return out;
}

function secretProblems(f: Finding, secrets: Record<string, string>): string[] {
  const out: string[] = [];
  for (const [what, value] of Object.entries(secrets)) {
    const line = f.output.split('\n').find((l) => l.includes(value));
    if (line) out.push(`the ${what} reached the step: ${line.split(' ').slice(0, 2).join(' ')} …`);
  }
  const jwts = f.output.match(/eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+/g) ?? [];
  if (jwts.length) out.push(`${jwts.length} token(s) in the step output`);
  return out;
}

function dataFolderProblems(f: Finding, dataDir: string): string[] {
  const lines = f.output.split('\n');
  // a file the probe could read, when it lies in the data folder (its guesses may land elsewhere, e.g. /tmp)
  const readable = lines.filter((l) => {
    const m = /^(?:READABLE|READ|SECRETS) (\S+)/.exec(l);
    return m && isWithin(resolve(m[1] as string), dataDir);
  });
  // the way to the step's own artifact folder may show (bound back into the hidden folder), nothing else
  const own = f.ownEnv.get('HANDOFF_ARTIFACT_DIR') ?? '';
  const listed = lines
    .filter((l) => l.startsWith(`LS ${dataDir} `) && !/ \.\.?$/.test(l) && !/No such file|Permission denied/.test(l))
    .filter((l) => !`${own}/`.startsWith(`${dataDir}/${l.slice(`LS ${dataDir} `.length)}/`));
  return [...(readable.length ? [`${readable.length} file(s) of the data folders readable, e.g. ${readable[0]?.slice(0, 90)}`] : []), ...(listed.length ? [`the data folder lists ${listed.length} entries`] : [])];
}

async function recordingOf(url: string, runId: string, token = operatorToken()): Promise<string> {
  const res = await fetch(`${url}/api/task-runs/${runId}/recording`, { headers: { authorization: `Bearer ${token}` } });
  const text = await res.text();
  expect(res.status, text).to.equal(200);
  return text;
}

describe('attacks: from inside a task step, the hub’s and the agent’s secrets are out of reach', function () {
  this.timeout(120_000);
  const work = mkdtempSync(join(tmpdir(), 'handoff-step-attack-'));
  const probe = join(work, 'probe.sh');
  writeFileSync(probe, PROBE);
  chmodSync(probe, 0o755);
  chmodSync(work, 0o755);

  after(() => removeDir(work));

  describe('handoff hub + handoff agent', function () {
    let hub: HubProcess;
    let agent: AgentProcess | null = null;

    before(async function () {
      this.timeout(60_000);
      hub = await startTestHub('postgres', { process: true });
    });

    afterEach(async () => {
      await agent?.stop('SIGTERM');
      removeDir(agent?.dataDir);
      agent = null;
    });

    after(async () => {
      await hub?.close();
    });

    const runProbe = async (env: Record<string, string>, workerId: string) => {
      agent = spawnAgent({ hubUrl: hub.url, workerId, env });
      const run = await createRunAt(hub.url, [`${probe} ${agent.dataDir} ${hub.dataDir}`]);
      const done = await waitRunAt(hub.url, run.id, ['succeeded', 'failed'], 60_000).catch((err: Error) => {
        throw new Error(`${err.message}\nagent: ${agent?.logs.slice(-20).join('\n')}\nhub (${hub.alive() ? 'up' : 'gone'}): ${hub.logs.slice(-20).join('\n')}`);
      });
      expect(done.status, agent.logs.join('\n')).to.equal('succeeded');
      return findings(await recordingOf(hub.url, run.id));
    };

    it('with the worker token in HANDOFF_WORKER_TOKEN (default sandbox): neither the token nor the hub’s secrets reach the step', async () => {
      const token = workerToken('w-attack-env');
      const f = await runProbe({ HANDOFF_WORKER_TOKEN: token }, 'w-attack-env');
      const problems = [...cleanEnvironmentProblems(f), ...secretProblems(f, { 'worker token': token, 'JWT secret': TEST_JWT_SECRET, 'encryption key': TEST_ENCRYPTION_KEY }), ...dataFolderProblems(f, agent!.dataDir)];
      expect(problems).to.deep.equal([]);
    });

    it('with HANDOFF_WORKER_TOKEN_FILE (default sandbox): the file is hidden from the step too', async () => {
      const token = workerToken('w-attack-file');
      const tokenFile = join(work, 'worker.token');
      writeFileSync(tokenFile, `${token}\n`, { mode: 0o600 });
      const f = await runProbe({ HANDOFF_WORKER_TOKEN: '', HANDOFF_WORKER_TOKEN_FILE: tokenFile }, 'w-attack-file');
      expect(readFileSync(`/proc/${agent!.pid}/environ`, 'latin1'), 'the token file keeps the token out of the agent’s environment').to.not.contain(token);
      const problems = [...cleanEnvironmentProblems(f), ...secretProblems(f, { 'worker token': token, 'JWT secret': TEST_JWT_SECRET, 'encryption key': TEST_ENCRYPTION_KEY }), ...dataFolderProblems(f, agent!.dataDir)];
      expect(problems).to.deep.equal([]);
    });

    for (const sandbox of ['off', 'auto'] as const) {
      it(`with HANDOFF_STEP_UID (another user; sandbox ${sandbox}): neither the token nor the hub’s secrets reach the step`, async function () {
        if (process.getuid?.() !== 0) this.skip(); // another uid needs a root agent
        const token = workerToken(`w-attack-uid-${sandbox}`);
        const artifacts = mkdtempSync(join(tmpdir(), 'handoff-step-attack-runs-'));
        chmodSync(artifacts, 0o755);
        try {
          const f = await runProbe({ HANDOFF_WORKER_TOKEN: token, HANDOFF_STEP_UID: '65534', HANDOFF_STEP_SANDBOX: sandbox, HANDOFF_ARTIFACTS_DIR: artifacts }, `w-attack-uid-${sandbox}`);
          const problems = [...cleanEnvironmentProblems(f), ...secretProblems(f, { 'worker token': token, 'JWT secret': TEST_JWT_SECRET, 'encryption key': TEST_ENCRYPTION_KEY }), ...dataFolderProblems(f, agent!.dataDir)];
          if (!/^OWNENV /m.test(f.output) || !/uid=65534|nobody/.test(f.output)) problems.push('the step did not run as uid 65534');
          expect(problems).to.deep.equal([]);
        } finally {
          removeDir(artifacts);
        }
      });
    }

    it('with HANDOFF_STEP_SANDBOX=off: the step’s own environment still holds no handoff secret and no "undefined"', async () => {
      const token = workerToken('w-attack-off');
      const f = await runProbe({ HANDOFF_WORKER_TOKEN: token, HANDOFF_STEP_SANDBOX: 'off' }, 'w-attack-off');
      const problems = cleanEnvironmentProblems(f);
      if ([...f.ownEnv.values()].some((v) => v.includes(token))) problems.push('the worker token is in the step’s own environment');
      expect(problems).to.deep.equal([]);
    });
  });

  describe('handoff dev (hub and agent in one process, the embedded store)', function () {
    let dev: DevProcess | null = null;
    const cwd = mkdtempSync(join(tmpdir(), 'handoff-step-attack-dev-'));
    const dataDir = join(cwd, 'data');

    after(async () => {
      await dev?.stop('SIGTERM');
      removeDir(cwd);
    });

    it('a step reads neither the JWT secret nor the encryption key (secrets.json), nor the store, nor any token', async () => {
      dev = await spawnDev(cwd, { HANDOFF_DATA_DIR: dataDir });
      const stored = JSON.parse(readFileSync(join(dataDir, 'secrets.json'), 'utf8')) as { jwtSecret: string; encryptionKey: string };
      const run = await createRunAt(dev.url, [`${probe} ${dataDir} ${join(cwd, '.data')}`], {}, dev.adminToken);
      const done = await waitRunAt(dev.url, run.id, ['succeeded', 'failed'], 60_000, dev.adminToken);
      expect(done.status, dev.logs.join('\n')).to.equal('succeeded');
      const f = findings(await recordingOf(dev.url, run.id, dev.adminToken));
      const problems = [
        ...cleanEnvironmentProblems(f),
        ...secretProblems(f, {
        'JWT secret': stored.jwtSecret,
        'encryption key': stored.encryptionKey,
        'encryption key (base64)': Buffer.from(stored.encryptionKey, 'hex').toString('base64'),
          'admin token': dev.adminToken,
        }),
        ...dataFolderProblems(f, dataDir),
      ];
      if (f.ownEnv.get('HANDOFF_ARTIFACT_DIR')?.startsWith(`${dataDir}/`)) problems.push('the run’s artifacts are inside the data folder');
      // the agent's token under handoff dev is in memory only, never in the process's environment
      if (readFileSync(`/proc/${dev.pid}/environ`, 'latin1').includes('eyJ')) problems.push('a token in the environment of handoff dev');
      expect(problems).to.deep.equal([]);
    });
  });
});
