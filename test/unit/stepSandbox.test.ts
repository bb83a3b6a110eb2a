/**
 * The step sandbox (agent/stepSandbox.ts): bubblewrap's arguments for what must be hidden and
 * what must stay writable, the choice between auto / bwrap / off, HANDOFF_STEP_UID, and — where
 * bubblewrap is installed — a real sandbox: the agent's /proc is out of sight, a hidden folder is
 * empty, the exposed one inside it writable, and the step's processes die with the sandbox.
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { inheritedEnvironment } from '../../agent/stepEnvironment.ts';
import { bwrapArgs, DEFAULT_BWRAP, isWithin, parseStepUser, probeBwrap, SandboxUnavailableError, stepLauncher } from '../../agent/stepSandbox.ts';
import { removeDir } from '../support/processes.ts';
import { waitUntil } from '../support/wait.ts';

/** The mount options of an argument list, as [option, path] pairs (the source of a bind dropped). */
function mounts(args: string[]): string[][] {
  const out: string[][] = [];
  const end = args.indexOf('--');
  for (let i = 0; i < end; i++) {
    const a = args[i] as string;
    if (a === '--tmpfs' || a === '--proc' || a === '--dev') out.push([a, args[++i] as string]);
    else if (a === '--bind' || a === '--ro-bind') {
      out.push([a, args[i + 2] as string]);
      i += 2;
    }
  }
  return out;
}

describe('step sandbox: bubblewrap arguments', () => {
  it('a new pid namespace with its own /proc, dying with the agent, the command after --', () => {
    const { file, args } = bwrapArgs('/usr/bin/bwrap', ['bash', '-c', 'echo hi'], [], []);
    expect(file).to.equal('/usr/bin/bwrap');
    expect(args).to.include.members(['--unshare-pid', '--die-with-parent']);
    expect(mounts(args)).to.deep.equal([['--bind', '/'], ['--proc', '/proc'], ['--dev', '/dev'], ['--tmpfs', '/dev/shm']]);
    expect(args.slice(args.indexOf('--') + 1)).to.deep.equal(['bash', '-c', 'echo hi']);
  });

  it('hides a folder under a tmpfs and a file under /dev/null; an exposed folder inside a hidden one is bound back after it', () => {
    const { args } = bwrapArgs(
      'bwrap',
      ['true'],
      [
        { path: '/srv/data', folder: true },
        { path: '/etc/handoff/worker.token', folder: false },
      ],
      ['/srv/data/runs/r1', '/home/u/work'],
    );
    expect(mounts(args).slice(4)).to.deep.equal([
      ['--tmpfs', '/srv/data'],
      ['--ro-bind', '/etc/handoff/worker.token'],
      ['--bind', '/srv/data/runs/r1'],
    ]);
    expect(args.slice(args.indexOf('--ro-bind'), args.indexOf('--ro-bind') + 2)).to.deep.equal(['--ro-bind', '/dev/null']);
  });

  it('a file hidden inside an exposed folder stays hidden, and a folder both exposed and hidden stays hidden', () => {
    const { args } = bwrapArgs(
      'bwrap',
      ['true'],
      [
        { path: '/a', folder: true },
        { path: '/a/b/secret', folder: false },
        { path: '/a/b/c', folder: true },
      ],
      ['/a/b', '/a/b/c'],
    );
    expect(mounts(args).slice(4)).to.deep.equal([
      ['--tmpfs', '/a'],
      ['--bind', '/a/b'],
      ['--tmpfs', '/a/b/c'],
      ['--ro-bind', '/a/b/secret'],
    ]);
  });

  it('isWithin is about path components, not prefixes', () => {
    expect(isWithin('/a/b/c', '/a/b')).to.equal(true);
    expect(isWithin('/a/b', '/a/b')).to.equal(true);
    expect(isWithin('/a/bc', '/a/b')).to.equal(false);
    expect(isWithin('/a', '/a/b')).to.equal(false);
  });

  it('HANDOFF_STEP_UID is uid or uid:gid', () => {
    expect(parseStepUser('10001')).to.deep.equal({ uid: 10001, gid: 10001 });
    expect(parseStepUser('10001:100')).to.deep.equal({ uid: 10001, gid: 100 });
    expect(parseStepUser('nobody')).to.equal(null);
    expect(parseStepUser('1:2:3')).to.equal(null);
  });
});

describe('step sandbox: auto / bwrap / off', () => {
  const settings = { hide: [], user: undefined };
  const works = () => true;
  const broken = () => false;

  it('auto takes bubblewrap when it works, and says nothing', () => {
    const notes: string[] = [];
    expect(stepLauncher({ ...settings, mode: 'auto' }, (m) => notes.push(m), works).kind).to.equal('bwrap');
    expect(notes).to.deep.equal([]);
  });

  it('auto without a working bubblewrap runs steps as they are, and says so once', () => {
    const notes: string[] = [];
    const l = stepLauncher({ ...settings, mode: 'auto' }, (m) => notes.push(m), broken);
    expect(l.kind).to.equal('off');
    expect(l.command(['bash', '-c', 'x'], ['/w'])).to.deep.equal({ file: 'bash', args: ['-c', 'x'] });
    expect(notes).to.have.length(1);
    expect(notes[0]).to.match(/without a sandbox/);
  });

  it('bwrap without a working bubblewrap refuses, naming it', () => {
    expect(() => stepLauncher({ ...settings, mode: 'bwrap', bwrapPath: '/nowhere/bwrap' }, () => undefined, broken)).to.throw(SandboxUnavailableError, /\/nowhere\/bwrap/);
  });

  it('off never probes', () => {
    let probed = false;
    const l = stepLauncher({ ...settings, mode: 'off' }, () => undefined, () => (probed = true));
    expect(l.kind).to.equal('off');
    expect(probed).to.equal(false);
  });

  it('a missing bwrap binary does not work (the real probe)', () => {
    expect(probeBwrap('/nowhere/bwrap')).to.equal(false);
  });

  it('only existing paths are hidden (bwrap must not create them on the host)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'handoff-sbx-'));
    try {
      const l = stepLauncher({ mode: 'bwrap', hide: [dir, join(dir, 'not-there')], user: undefined }, () => undefined, works);
      expect(mounts(l.command(['true'], []).args).slice(4)).to.deep.equal([['--tmpfs', dir]]);
    } finally {
      removeDir(dir);
    }
  });
});

describe('step environment', () => {
  it('keeps the agent’s environment but every HANDOFF_* setting, COLUMNS and LINES; nothing is "undefined"', () => {
    const env = inheritedEnvironment({ PATH: '/bin', HOME: '/h', HANDOFF_WORKER_TOKEN: 'x', HANDOFF_JWT_SECRET: 'y', HANDOFF_NEW_SETTING: 'z', COLUMNS: '80', LINES: '24', GONE: undefined });
    expect(env).to.deep.equal({ PATH: '/bin', HOME: '/h' });
  });
});

describe('step sandbox: a real bubblewrap', function () {
  this.timeout(20_000);
  const available = probeBwrap(DEFAULT_BWRAP);
  let dir = '';

  before(function () {
    if (!available) this.skip(); // bubblewrap not installed or not allowed here: the unit cases above still hold
    dir = mkdtempSync(join(tmpdir(), 'handoff-sbx-real-'));
    mkdirSync(join(dir, 'data', 'runs', 'r1'), { recursive: true });
    writeFileSync(join(dir, 'data', 'secrets.json'), '{"jwtSecret":"very-secret"}');
    writeFileSync(join(dir, 'token'), 'the-token');
  });

  after(() => removeDir(dir));

  const run = (script: string) => {
    const l = stepLauncher({ mode: 'bwrap', hide: [join(dir, 'data'), join(dir, 'token')], user: undefined });
    const { file, args } = l.command(['bash', '-c', script], [join(dir, 'data', 'runs', 'r1')]);
    return execFileSync(file, args, { encoding: 'utf8', timeout: 10_000 });
  };

  it('the hidden folder is empty and the hidden file reads as nothing; the exposed folder inside is writable', () => {
    const out = run(`ls -A ${dir}/data; cat ${dir}/data/secrets.json 2>&1; cat ${dir}/token 2>/dev/null; echo written > ${dir}/data/runs/r1/out; echo end`);
    expect(out).to.not.contain('very-secret');
    expect(out).to.not.contain('the-token');
    expect(out).to.contain('end');
    expect(out.split('\n')[0]).to.equal('runs');
    expect(readFileSync(join(dir, 'data', 'runs', 'r1', 'out'), 'utf8')).to.equal('written\n');
    expect(readFileSync(join(dir, 'data', 'secrets.json'), 'utf8'), 'the host file is untouched').to.contain('very-secret');
  });

  it('the step sees only its own processes: not its parent’s /proc', () => {
    const out = run(`ls /proc | grep -c '^[0-9]'; cat /proc/${process.pid}/environ >/dev/null 2>&1 && echo parent-visible || echo parent-hidden`);
    expect(out).to.contain('parent-hidden');
    expect(Number(out.split('\n')[0])).to.be.lessThan(10);
  });

  it('a setsid child dies with the sandbox when its first process ends', async () => {
    const tag = `handoff-sbx-${process.pid}-${Date.now()}`;
    const l = stepLauncher({ mode: 'bwrap', hide: [], user: undefined });
    const { file, args } = l.command(['bash', '-c', `setsid bash -c 'exec -a ${tag} sleep 60' & sleep 1`], []);
    const child = spawn(file, args, { stdio: 'ignore' });
    const exited = new Promise((r) => child.on('exit', r));
    const running = () => execFileSync('ps', ['-eo', 'args'], { encoding: 'utf8' }).split('\n').some((l) => l.startsWith(tag));
    await waitUntil('the setsid child to run', () => (running() ? true : undefined), 5000, 25);
    await exited;
    await waitUntil('the setsid child to go with the sandbox', () => (running() ? undefined : true), 5000, 50);
  });
});
