/**
 * Late join against an independent terminal emulator (architecture §5, issue 14): tmux, driven as
 * a person's terminal. Each program — a script of escape sequences, or a real program from
 * Debian — draws some state, waits, and then goes on drawing. It runs
 *  (a) directly in a reference tmux pane, and
 *  (b) as a handoff run, watched by an early `handoff attach` (joined before the state was set)
 *      and a late one (joined after it) in two more tmux panes;
 * then the three panes are compared row by row with attributes, with the cursor and with every
 * mode tmux keeps (scroll region, origin / wrap / insert, cursor visibility, keypad and cursor
 * keys, mouse mode and encoding, alternate screen, tab stops). What the late viewer's keys send is
 * checked too: keys and a paste typed into it reach the program as they do from the reference.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { expect } from 'chai';
import { TASK_PANE } from '../../common/protocol.ts';
import type { TestAgent } from '../support/testAgent.ts';
import { createRun, startTestAgent, waitForRunStatus, waitForSessionStatus } from '../support/testAgent.ts';
import type { TestHub } from '../support/testHub.ts';
import { startTestHub } from '../support/testHub.ts';
import type { PaneState } from '../support/tmux.ts';
import { stateDifferences, Tmux } from '../support/tmux.ts';
import { TestViewer } from '../support/viewerClient.ts';
import { waitUntil } from '../support/wait.ts';

const HANDOFF = join(resolve(import.meta.dirname, '../..'), 'bin/handoff.js');
/** The agent's ptys say xterm-256color; the reference pane runs the program under the same TERM. */
const TERM = 'xterm-256color';
/** Printed last by every program: once a pane shows it, the pane has parsed everything before. */
const END_MARK = '<<END>>';
/** Ends the part before the join: an OSC that terminals ignore, seen by a socket viewer. */
const BEFORE_DONE = 'handoff-test=before-done';

interface Program {
  name: string;
  /** Shell run before the late viewer joins (after the early one did). */
  before: string;
  /** Shell run after the late viewer joined. */
  after: string;
  /** Keys typed into the reference pane and into the late viewer (which then holds a write grant), after the program's output; what the program reads is compared. */
  input?: (tmux: Tmux, pane: string) => void;
  /** Compare the late viewer with the early one only (the program's output depends on its machine: time, processes). */
  runDependent?: boolean;
}

/** The program as a script: $1 is this side's folder (ref or run), $2 the folder both wait on. */
function script(p: Program): string {
  return [
    'd=$1; shared=$2',
    // a wait for a file the test creates (at most ~60 s), without output
    'wait_for() { w=0; while [ ! -e "$shared/$1" ] && [ $w -lt 1200 ]; do sleep 0.05; w=$((w+1)); done; }',
    `printf 'late join: %s\\n' ${JSON.stringify(p.name)}`,
    'wait_for START',
    p.before,
    `printf '\\033]1337;${BEFORE_DONE}\\007'`,
    'wait_for GO',
    p.after,
    // keys typed from now on are recorded raw (started before the end mark: nothing typed is echoed)
    p.input ? 'stty raw -echo; cat </dev/tty >"$d/keys" & keys=$!' : '',
    `printf '${END_MARK}'`,
    'wait_for END',
    p.input ? 'kill $keys; stty sane' : '',
  ].join('\n');
}

function which(cmd: string): boolean {
  try {
    execFileSync('which', [cmd], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

describe('e2e: late join equals an independent terminal (tmux)', function () {
  this.timeout(90_000);
  let hub: TestHub;
  let agent: TestAgent;
  let work: string;
  let tmux: Tmux;
  let viewers: TestViewer[] = [];

  before(async function () {
    this.timeout(30_000);
    if (!which('tmux')) throw new Error('tmux is required for these tests (apt-get install -y tmux)');
    work = mkdtempSync(join(tmpdir(), 'handoff-latejoin-'));
    hub = await startTestHub('postgres');
    agent = startTestAgent(hub);
    await agent.ready();
  });

  after(async function () {
    this.timeout(30_000);
    await agent?.close({ cancelRuns: true });
    await hub?.close();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  beforeEach(() => {
    tmux = new Tmux();
  });

  afterEach(() => {
    for (const v of viewers) v.close();
    viewers = [];
    tmux.close();
  });

  const cliEnv = () => ({ HANDOFF_HUB_URL: hub.url, HANDOFF_TOKEN: hub.token('operator', 'alice') });

  /** Starts `handoff attach` in a new pane; resolves once it painted its join snapshot (its title is set right after). */
  async function attach(runId: string, rw = false): Promise<string> {
    const pane = tmux.spawn(`node ${HANDOFF} attach ${runId}${rw ? ' --rw' : ''}`, cliEnv());
    await waitUntil(`handoff attach in ${pane} to paint the run`, () => (tmux.format(pane, '#{pane_title}').startsWith('handoff ') ? true : undefined), 30_000, 50);
    return pane;
  }

  const showsEnd = (pane: string) => waitUntil(`${END_MARK} in ${pane}`, () => (tmux.screen(pane).includes(END_MARK) ? true : undefined), 20_000, 50);

  function expectSame(what: string, want: PaneState, got: PaneState): void {
    const diff = stateDifferences(want, got);
    if (diff.length) expect.fail(`${what} differs from the reference:\n  ${diff.join('\n  ')}`);
  }

  /** Runs the program in a reference pane and as a run with an early and a late viewer; compares the three. */
  async function compare(p: Program): Promise<{ ref: PaneState; early: PaneState; late: PaneState }> {
    const dir = join(work, p.name.replace(/[^a-z0-9]+/gi, '-'));
    for (const side of ['ref', 'run', 'shared']) mkdirSync(join(dir, side), { recursive: true });
    const file = join(dir, 'program.sh');
    writeFileSync(file, script(p));
    const shared = join(dir, 'shared');

    const run = await createRun(hub, [`bash ${file} ${join(dir, 'run')} ${shared}`]);
    await waitForSessionStatus(hub, run.id, ['ready'], 20_000);
    const ref = tmux.spawn(`bash ${file} ${join(dir, 'ref')} ${shared}`, { TERM });
    const watcher = await TestViewer.connect(hub.url, hub.token('viewer'), { terminal: false });
    viewers.push(watcher);
    await watcher.join(run.id);
    const early = await attach(run.id);

    writeFileSync(join(shared, 'START'), '');
    await watcher.waitForOutput(TASK_PANE, (b) => b.includes(BEFORE_DONE), 20_000, 'the part before the join');
    const late = await attach(run.id, p.input !== undefined);
    writeFileSync(join(shared, 'GO'), '');

    for (const pane of [ref, early, late]) await showsEnd(pane);
    if (p.input) {
      for (const pane of [ref, late]) p.input(tmux, pane);
      for (const side of ['ref', 'run']) {
        await waitUntil(`the keys typed into ${side}`, () => (existsSync(join(dir, side, 'keys')) && readFileSync(join(dir, side, 'keys'), 'latin1').endsWith('Z') ? true : undefined), 20_000, 50);
      }
    }
    const states = { ref: tmux.state(ref), early: tmux.state(early), late: tmux.state(late) };
    writeFileSync(join(shared, 'END'), '');
    expect((await waitForRunStatus(hub, run.id, ['succeeded', 'failed', 'cancelled'], 30_000)).status).to.equal('succeeded');

    if (p.runDependent) expectSame('the late viewer (against the early one)', states.early, states.late);
    else {
      expectSame('the early viewer', states.ref, states.early);
      expectSame('the late viewer', states.ref, states.late);
    }
    if (p.input) {
      const typed = (side: string) => JSON.stringify(readFileSync(join(dir, side, 'keys'), 'latin1'));
      expect(typed('run'), 'what the late viewer\'s keys sent').to.equal(typed('ref'));
    }
    return states;
  }

  const rowsOf = (n: number) => `for i in $(seq 1 ${n}); do printf '\\033[%d;1Hline %d of the screen' $i $i; done`;

  describe('each piece of state set before the join', () => {
    const programs: Program[] = [
      {
        name: 'scroll region (DECSTBM)',
        before: `${rowsOf(39)}; printf '\\033[5;20r\\033[20;1H'`,
        after: `for i in 1 2 3 4 5 6; do printf '\\nscrolled %d' $i; done; printf ' '`,
      },
      {
        name: 'saved cursor (DECSC): position, attributes, character set',
        before: `printf '\\033[12;30H\\033[1;31m\\033(0\\0337\\033(B\\033[0m\\033[1;1Hmoved away'`,
        after: `printf '\\0338lqqk restored '`,
      },
      {
        name: 'G0 designated DEC graphics (ESC ( 0)',
        before: `printf '\\033(0'`,
        after: `printf 'lqqqk x mqqqj '`,
      },
      {
        name: 'G1 designated and shifted in (ESC ) 0, SO / SI)',
        before: `printf '\\033)0\\016'`,
        after: `printf 'lqqk\\017 plain lqqk \\016x\\017 '`,
      },
      {
        name: 'origin mode (DECOM) set after the cursor was placed',
        before: `${rowsOf(12)}; printf '\\033[8;30r\\033[?6h\\033[3;5HX'`,
        after: `printf 'after join\\033[1;1Hhome of the region '`,
      },
      {
        name: 'tab stops (TBC, HTS)',
        before: `printf '\\033[3g\\033[5G\\033H\\033[17G\\033H\\033[60G\\033H\\033[9G\\033H\\033[3;9H\\033[0g\\r'`,
        after: `printf 'a\\tb\\tc\\td\\te\\n'`,
      },
      {
        name: 'cursor hidden (?25l)',
        before: `printf 'a hidden cursor\\033[?25l'`,
        after: `printf ' still hidden '`,
      },
      {
        name: 'mouse: button events, SGR encoding (?1002, ?1006)',
        before: `printf '\\033[?1002h\\033[?1006h'`,
        after: `printf 'mouse '`,
      },
      {
        name: 'mouse: normal tracking, UTF-8 encoding (?1000, ?1005)',
        before: `printf '\\033[?1000h\\033[?1005h'`,
        after: `printf 'mouse '`,
      },
      {
        name: 'mouse: any events, urxvt encoding (?1003, ?1015)',
        before: `printf '\\033[?1003h\\033[?1015h'`,
        after: `printf 'mouse '`,
      },
      {
        name: 'application keypad and cursor keys (ESC =, ?1)',
        before: `printf '\\033[?1h\\033='`,
        after: `printf 'keys '`,
      },
      {
        name: 'insert mode (IRM)',
        before: `printf 'abcdef\\033[4h\\033[1;3H'`,
        after: `printf 'XY'`,
      },
      {
        name: 'autowrap off (DECAWM)',
        before: `printf '\\033[?7l\\033[5;1H'`,
        after: `printf '%s' "$(printf 'w%.0s' $(seq 1 130))"; printf '\\r\\n'`,
      },
      {
        name: 'pending wrap at the right margin',
        before: `printf '\\033[5;1H%s' "$(printf 'w%.0s' $(seq 1 120))"`,
        after: `printf 'next'`,
      },
      {
        name: 'attributes (SGR) set and not yet used',
        before: `printf 'plain\\033[1;4;35;46m'`,
        after: `printf 'coloured'`,
      },
      {
        name: 'alternate screen with the normal screen behind it',
        before: `printf 'normal line 1\\nnormal line 2\\n\\033[1;33m\\033[?1049h\\033[0m\\033[2J\\033[10;10Halt screen\\033[5;20r'`,
        after: `printf '\\033[20;1H\\nmore alt\\033[?1049l after alt '`,
      },
      {
        // curses programs turn output processing off (nonl) and move down with a bare LF
        name: 'line feed alone moves down (the program\'s tty has -onlcr)',
        before: `stty -onlcr; printf '\\033[3;10Habc\\ndef'`,
        after: `printf '\\nghi\\n\\n'; stty onlcr`,
      },
      {
        name: 'what the keys send: cursor keys, keypad, bracketed paste',
        before: `printf '\\033[?1h\\033=\\033[?2004h\\033[?1000h\\033[?1006h'`,
        after: `printf 'type here: '`,
        input: (t, pane) => {
          t.keys(pane, 'Up', 'Left', 'KP1', 'KPEnter', 'Home');
          t.paste(pane, 'pasted text');
          t.keys(pane, '-l', 'Z');
        },
      },
    ];
    for (const p of programs) it(p.name, async () => void (await compare(p)));
  });
});
