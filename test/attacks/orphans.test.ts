/**
 * No orphans (issue 12.6, architecture §7a): whatever a step starts — `setsid`, `nohup`, a
 * subshell ignoring SIGHUP, a double fork — is gone within seconds when the run ends, is
 * cancelled, or its agent is stopped (SIGTERM) or killed (SIGKILL). Real `handoff hub` and
 * `handoff agent` processes; each case with the bubblewrap sandbox (its pid namespace takes the
 * run's processes down) and without it (the run marker in their environment, found by the
 * agent at run end and by its watchdog when the agent dies).
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import type { AgentProcess } from '../support/processes.ts';
import { createRunAt, operatorToken, processesMatching, removeDir, rest, spawnAgent, waitRunAt } from '../support/processes.ts';
import type { HubProcess } from '../support/testHub.ts';
import { startTestHub } from '../support/testHub.ts';
import { waitUntil } from '../support/wait.ts';

/** Three escapes from the pty's session and its hang-up, each a `sleep` named after `tag`. */
const escapes = (tag: string) =>
  [
    `setsid bash -c 'exec -a ${tag}-setsid sleep 300' &`,
    `nohup bash -c 'exec -a ${tag}-nohup sleep 300' >/dev/null 2>&1 &`,
    `(trap '' HUP TERM; exec -a ${tag}-hup sleep 300) &`,
    `(setsid bash -c '(exec -a ${tag}-daemon sleep 300) &' &);`,
  ].join(' ');

const ESCAPES = 4;

/** How long the run's processes may outlive the event (a loaded 2-core machine included). */
const WITHIN_MS = 6000;

// requeue: a killed agent's run is started again, by another agent (the last case)
const FAST = { HANDOFF_HEARTBEAT_SECONDS: '1', HANDOFF_HEARTBEAT_GRACE_SECONDS: '2', HANDOFF_SWEEP_INTERVAL_MS: '200', HANDOFF_WORKER_LOST_POLICY: 'requeue' };

for (const sandbox of ['bwrap', 'off'] as const) {
  describe(`attacks: no process of a run outlives it (sandbox ${sandbox})`, function () {
    this.timeout(90_000);
    let hub: HubProcess;
    let agent: AgentProcess | null = null;
    const tags: string[] = [];
    const work = mkdtempSync(join(tmpdir(), 'handoff-orphans-'));

    before(async function () {
      this.timeout(60_000);
      hub = await startTestHub('postgres', { process: true, env: FAST });
    });

    afterEach(async () => {
      await agent?.stop('SIGKILL');
      removeDir(agent?.dataDir);
      agent = null;
    });

    after(async function () {
      this.timeout(30_000);
      // whatever a case found, leave nothing behind on the machine
      for (const tag of tags) for (const pid of await processesMatching(tag)) process.kill(pid, 'SIGKILL');
      await hub?.close();
      removeDir(work);
    });

    /** Starts an agent and a run whose step escapes `ESCAPES` ways, then does `tail`. */
    const startEscapingRun = async (tail: string | ((tag: string) => string), env: Record<string, string> = {}) => {
      const tag = `handoff-orphan-${randomBytes(5).toString('hex')}`;
      tags.push(tag);
      agent = spawnAgent({ hubUrl: hub.url, workerId: `w-${tag}`, env: { HANDOFF_STEP_SANDBOX: sandbox, ...env } });
      const run = await createRunAt(hub.url, [`${escapes(tag)} echo escaped; ${typeof tail === 'string' ? tail : tail(tag)}`]);
      await waitRunAt(hub.url, run.id, ['running', 'succeeded'], 30_000);
      await waitUntil('the escaped processes to run', async () => ((await processesMatching(tag)).length >= ESCAPES ? true : undefined), 15_000, 50);
      return { tag, run };
    };

    const expectGone = async (tag: string, since: number, what: string) => {
      const left = await waitUntil(
        `the run's processes to go (${what})`,
        async () => {
          const l = await processesMatching(tag);
          return l.length === 0 ? [] : Date.now() - since > WITHIN_MS ? l : undefined;
        },
        WITHIN_MS + 5000,
        100,
      );
      expect(left, `processes of the run still alive ${WITHIN_MS} ms after ${what}`).to.deep.equal([]);
    };

    it('the run ends normally: its escaped processes go with it', async () => {
      // the step ends once the test saw its escapes run (the sandbox would end them at once)
      const { tag, run } = await startEscapingRun((t) => `until [ -e ${join(work, t)} ]; do sleep 0.05; done; exit 0`);
      writeFileSync(join(work, tag), '');
      await waitRunAt(hub.url, run.id, ['succeeded'], 30_000);
      await expectGone(tag, Date.now(), 'the run succeeded');
    });

    it('the run is cancelled: its escaped processes go with it', async () => {
      const { tag, run } = await startEscapingRun('sleep 300');
      const since = Date.now();
      const res = await rest(hub.url, 'POST', `/api/task-runs/${run.id}/cancel`, operatorToken(), {});
      expect(res.status, JSON.stringify(res.body)).to.equal(200);
      await waitRunAt(hub.url, run.id, ['cancelled'], 30_000);
      await expectGone(tag, since, 'the cancel');
    });

    it('the agent is stopped with SIGTERM (handing its run back): nothing of the run is left', async () => {
      const { tag, run } = await startEscapingRun('sleep 300', { HANDOFF_AGENT_SHUTDOWN: 'handback' });
      const since = Date.now();
      agent!.proc.kill('SIGTERM');
      await agent!.exited;
      await expectGone(tag, since, 'SIGTERM of the agent');
      // back in the queue: not for the next case's agent
      await waitRunAt(hub.url, run.id, ['queued'], 10_000);
      await rest(hub.url, 'POST', `/api/task-runs/${run.id}/cancel`, operatorToken(), {});
    });

    it('the agent is SIGKILLed: nothing of the run is left, and the requeued attempt runs alone', async () => {
      // The first attempt leaves a writer of a beat file behind (a fifth escape); the second
      // attempt, on another agent, succeeds only if the beat has stopped: nothing of the first runs beside it.
      const beat = join(work, 'beat');
      const flag = join(work, 'first-attempt');
      const writer = (t: string) => `setsid bash -c 'while :; do date +%s%N > ${beat}; sleep 0.1; done; : ${t}-beat' &`;
      const second = `a=$(cat ${beat}); sleep 1; b=$(cat ${beat}); echo "beat $a $b"; [ "$a" = "$b" ]`;
      const { tag, run } = await startEscapingRun((t) => `if [ -e ${flag} ]; then ${second}; exit; fi; touch ${flag}; ${writer(t)} sleep 300`);
      await waitUntil('the beat to be written', () => (existsSync(beat) ? true : undefined), 10_000, 50);
      const since = Date.now();
      agent!.proc.kill('SIGKILL');
      await agent!.exited;
      await expectGone(tag, since, 'SIGKILL of the agent');

      const next = spawnAgent({ hubUrl: hub.url, workerId: `w-${tag}-next`, env: { HANDOFF_STEP_SANDBOX: sandbox } });
      try {
        const done = await waitRunAt(hub.url, run.id, ['succeeded', 'failed'], 40_000);
        expect(done.attempt, 'a second attempt').to.equal(2);
        expect(done.status, 'the first attempt’s beat had stopped when the second ran').to.equal('succeeded');
      } finally {
        await next.stop('SIGTERM');
        removeDir(next.dataDir);
      }
    });
  });
}
