/**
 * Late join of real programs from Debian against an independent terminal (architecture §5,
 * issue 14): vim, a curses program with a scrolling window, a dialog gauge, less, top. Each runs
 *  (a) directly in a reference tmux pane, and
 *  (b) as a handoff run, driven by an RW `handoff attach` (the early viewer, joined before the
 *      program drew anything) and watched by a late `handoff attach` that joins after the program
 *      drew, scrolled and edited;
 * the same keys are typed into the reference pane and the driver (through the run's RW path:
 * the CLI's terminal, the hub, the agent's pty), and the program goes on drawing after the late
 * join. Then the three panes are compared row by row with attributes, the cursor and every mode
 * tmux keeps — the input side too: after the late join the viewer's terminal is in the modes the
 * program asked for (cursor keys, keypad, mouse mode and encoding), and a paste typed into the
 * late viewer reaches the program bracketed when the program asked for that. Bursts of coloured
 * logs and of full-screen redraws (issue 17) check what the mirror leaves out unparsed the same
 * way, the redraw burst without an early viewer (so the mirror falls behind) and with the
 * scrollback compared too.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { expect } from 'chai';
import { TASK_PANE } from '../../common/protocol.ts';
import type { TestAgent } from '../support/testAgent.ts';
import { createRun, startTestAgent, waitForRunStatus, waitForSessionStatus } from '../support/testAgent.ts';
import type { TestHub } from '../support/testHub.ts';
import { startTestHub } from '../support/testHub.ts';
import type { PaneState, PaneStateFormat } from '../support/tmux.ts';
import { stateDifferences, Tmux } from '../support/tmux.ts';
import { waitUntil } from '../support/wait.ts';

const HANDOFF = join(resolve(import.meta.dirname, '../..'), 'bin/handoff.js');
/** The agent's ptys say xterm-256color; the reference pane runs the program under the same TERM. */
const TERM = 'xterm-256color';
/** How long the panes may take to show the same thing after a phase. */
const SETTLE_MS = 10_000;

/** What the person does next: keys typed (tmux send-keys arguments), a paste, or a file the program waits for. */
interface Phase {
  keys?: string[];
  /** Pasted as a person's terminal pastes (bracketed if the pane asked for it). */
  paste?: string;
  /** Created in the folder both sides' programs wait on (the program's input is a script). */
  touch?: string;
  /**
   * Before the panes are read: the file the run's program creates with `ran NAME` (the reference's
   * does not), waited for without calling tmux — each call blocks this process, which runs the
   * agent, and output that comes in bursts between the calls is parsed as it comes.
   */
  ran?: string;
  /** Shown on the screen once the program has drawn this phase. */
  until: string;
  /** Typed into the late viewer (which holds a write grant too) instead of the driver. */
  byLate?: boolean;
  /** The reference pane and the viewers at the run's size are resized (the driver's terminal resizes the run's pty). */
  resize?: { cols: number; rows: number };
  /** Only the late (read-only) viewer's own terminal is resized: the run keeps its size. */
  viewerSize?: Size;
}

interface Size {
  cols: number;
  rows: number;
}

interface Scene {
  name: string;
  /** Debian commands the scene needs. */
  needs: string[];
  /** Files written into the scene's folder (the program's working directory) first. */
  files?: Record<string, string>;
  /** The program, a shell line run in the scene's folder; `$shared` is the folder phases touch files in; `wait_for NAME` waits for one. */
  command: string;
  before: Phase[];
  after: Phase[];
  /** Typed at the end to leave the program (the run then succeeds); null: the run is cancelled. */
  quit: Phase | null;
  /** Modes the program asks its terminal for (tmux format → value): the late viewer's terminal must be in them at once. */
  modes: Partial<Record<PaneStateFormat, string>>;
  /** The late viewer's terminal, when not 120×40; a late viewer of another size than the run's is read-only. */
  lateSize?: Size;
  /** Read-only viewers whose terminal stays 120×40 while the run gets smaller: they show the run's area as the reference does, blank around it. */
  bigViewers?: boolean;
  /** What the program shows depends on its machine (time, processes): the late viewer is compared with the early one only. */
  runDependent?: boolean;
  /** The scrollback (with attributes) is compared too: the program runs on the normal screen. */
  history?: boolean;
  /** The run's mirror must have left out at least this much output by the join (the scene covers what it leaves out). */
  leftOut?: number;
  /**
   * No viewer watches before the join: the run goes at the agent's pace (a viewer in a tmux pane
   * holds a burst to tmux's), so its mirror falls behind and leaves frames out. The late viewer
   * (with a write grant) is the driver after the join.
   */
  noEarlyViewer?: boolean;
}

function has(cmd: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** The scene as a script: $1 the folder phases touch files in. */
function script(s: Scene): string {
  return [
    'shared=$1',
    // a wait for a file the test creates (at most ~60 s), without output
    'wait_for() { w=0; while [ ! -e "$shared/$1" ] && [ $w -lt 1200 ]; do sleep 0.05; w=$((w+1)); done; }',
    // the run's steps have HANDOFF_RUN_ID, the reference pane's program does not
    'ran() { if [ -n "$HANDOFF_RUN_ID" ]; then touch "$shared/$1.ran"; fi; }',
    'wait_for START',
    s.command,
  ].join('\n');
}

const numbered = (n: number, what: string) => Array.from({ length: n }, (_, i) => `${what} ${i + 1}: ${'the quick brown fox '.repeat(1 + (i % 4))}`).join('\n') + '\n';

/** vim as shipped (defaults.vim: syntax, mouse=a, scrolloff), without the terminal queries whose answers differ between terminals. */
const VIMRC = [
  'source $VIMRUNTIME/defaults.vim',
  'set noswapfile viminfo= number laststatus=2 ttymouse=sgr',
  // where the window is and where the cursor: each phase waits for what it moved
  "set statusline=%f\\ top=%{line('w0')}\\ at=%l,%c",
  // the answers to these queries (version, cursor position, colours) come from the viewer's terminal, not the run's
  'set t_RV= t_u7= t_RB= t_RF= t_RC= t_RS= t_Ss= t_SH=',
  // focus events come from the terminal's own focus (tmux reports its sessions' focus changes): not part of the run
  'set t_fe= t_fd=',
].join('\n');

/** vim on a 300-line file; cursor keys and keypad in application mode, mouse=a: button events in SGR encoding. */
const VIM = {
  needs: ['vim'],
  files: { vimrc: VIMRC, 'notes.txt': numbered(300, 'line') },
  command: 'exec vim -u vimrc -i NONE -N notes.txt',
  modes: { keypad_cursor_flag: '1', keypad_flag: '1', mouse_button_flag: '1', mouse_sgr_flag: '1', alternate_on: '1' },
} satisfies Partial<Scene>;

/** A curses program with a scrolling window (its own scroll region) under a fixed header and box. */
const CURSES_PY = `
import curses, sys
def main(scr):
    curses.curs_set(0)
    curses.start_color()
    curses.init_pair(1, curses.COLOR_YELLOW, curses.COLOR_BLUE)
    scr.addstr(0, 0, " curses log viewer ".center(curses.COLS, "="), curses.color_pair(1) | curses.A_BOLD)
    scr.addstr(curses.LINES - 1, 0, "keys: n adds lines, q quits", curses.A_REVERSE)
    scr.refresh()
    box = curses.newwin(curses.LINES - 4, curses.COLS - 10, 2, 5)
    box.box()
    box.refresh()
    log = box.derwin(curses.LINES - 6, curses.COLS - 12, 1, 1)
    log.scrollok(True)
    log.idlok(True)
    log.keypad(True)
    n = 0
    while True:
        c = log.getch()
        if c == ord("q"):
            return
        if c == ord("n"):
            for _ in range(7):
                n += 1
                log.addstr("\\nlog line %d %s" % (n, "*" * (n % 13)), curses.A_BOLD if n % 3 == 0 else 0)
            log.addstr("\\nshown %d" % n)
            log.refresh()
curses.wrapper(main)
`;

/**
 * A full-screen program redrawing its screen as fast as the pty takes it, as top does under load:
 * every row placed with cursor addressing, coloured, cleared to its end (one with a background
 * colour, one full width, two drawn in the colours the row above left set, one redrawn only every
 * ninth frame, the bottom one every 25th), below a log that scrolled into the scrollback; its
 * last colours and cursor are left set for the output after the join. Megabytes of frames: the
 * mirror leaves out the overwritten ones.
 */
const FRAMES_PY = `
import random, sys
w = sys.stdout.buffer.write
r = random.Random(17)
for i in range(1, 151):
    w(b"boot %d: %s\\n" % (i, b"starting the service " * (1 + i % 4)))
sys.stdout.flush()
frame = 0
total = 0
while total < 30000000:
    f = [b"\\x1b[H\\x1b[7m top - frame %d \\x1b[0m\\x1b[K" % frame]
    for y in range(2, 41):
        # the last 6 MB leave both out: a look then cuts at their last drawing
        if (y == 6 and (frame % 9 or total > 24000000)) or (y == 40 and (frame % 25 or total > 24000000)):
            continue
        k = r.randrange(1 << 30)
        if y == 12:
            text = b"\\x1b[44;97m%s\\x1b[K\\x1b[0m" % (b"load %d" % (k % 1000))
        elif y == 39:
            # full width, and no reset at its end (the bottom row is drawn in its colours)
            text = b"\\x1b[35m" + (b"%d " % k * 20)[:120] + b"\\x1b[K"
        elif y == 40:
            text = b"status %d\\x1b[0m\\x1b[K" % k
        elif y == 19:
            # no reset at its end: row 20 is drawn in the colours row 19 left set
            text = b"\\x1b[3;38;5;%dmcarried\\x1b[K" % (k % 256)
        elif y == 20:
            text = b" into the next row %d\\x1b[0m\\x1b[K" % k
        else:
            text = b"%6d user %3d.%d %s \\x1b[1;38;5;%dmproc-%d\\x1b[0m\\x1b[K" % (k % 99999, k % 100, k % 10, b"SR"[k % 2:k % 2 + 1], k % 256, k % 977)
        f.append(b"\\x1b[%d;1H" % y + text)
    out = b"".join(f)
    w(out)
    total += len(out)
    frame += 1
w(b"\\x1b[1;1Hburst done after %d frames\\x1b[K\\x1b[1;38;5;208m\\x1b[20;30H" % frame)
sys.stdout.flush()
`;

const scenes: Scene[] = [
  {
    name: 'vim scrolled and edited after the join',
    ...VIM,
    before: [
      { until: 'notes.txt' },
      { keys: ['120G'], until: 'at=120,1' },
      { keys: ['cc', 'edited before the join', 'Escape'], until: 'at=120,22' },
      { keys: [':set cursorline', 'Enter'], until: ':set cursorline' },
    ],
    after: [
      { keys: ['C-e', 'C-e', 'C-e'], until: 'top=105 at=120,' },
      { keys: ['C-d'], until: 'top=124 at=139,1' },
      { keys: ['o', 'typed after the join', 'Escape'], until: 'at=140,20' },
      { keys: ['C-y', 'C-y', 'k'], until: 'top=122 at=139,' },
      { keys: ['/fox the quick brown fox the quick', 'Enter'], until: '/fox the quick brown fox the quick' },
      // the late viewer types: cursor keys, and a paste in Normal mode, which vim takes as text only when it comes bracketed
      { keys: ['Down', 'Down', 'End'], byLate: true, until: 'at=' },
      { paste: 'pasted-by-the-late-viewer', byLate: true, until: 'pasted-by-the-late-viewer' },
    ],
    quit: { keys: ['Escape', ':qa!', 'Enter'], until: '' },
  },
  {
    name: 'curses program with a scrolling window (python3 curses)',
    needs: ['/usr/bin/python3'],
    files: { 'logview.py': CURSES_PY },
    command: 'exec /usr/bin/python3 logview.py',
    // the window reads with the keypad on; curs_set(0) hides the cursor
    modes: { keypad_cursor_flag: '1', keypad_flag: '1', cursor_flag: '0', alternate_on: '1' },
    before: [
      { until: 'keys: n adds lines' },
      { keys: ['n'], until: 'shown 7' },
      { keys: ['n'], until: 'shown 14' },
      { keys: ['n'], until: 'shown 21' },
      { keys: ['n', 'n'], until: 'shown 35' },
    ],
    after: [
      { keys: ['n'], until: 'shown 42' },
      { keys: ['n', 'n', 'n'], until: 'shown 63' },
    ],
    quit: { keys: ['q'], until: '' },
  },
  {
    name: 'dialog gauge',
    needs: ['dialog'],
    command: [
      '{ echo 5; wait_for P1; echo 30; echo XXX; echo 30; echo "copying the first files"; echo XXX;',
      '  wait_for P2; echo 55; wait_for P3; echo XXX; echo 80; echo "nearly there: checking"; echo XXX;',
      '  wait_for P4; echo 95; wait_for Q; } | dialog --backtitle "handoff late join" --title "Progress" --gauge "starting" 10 60 0',
    ].join('\n'),
    // dialog: keypad, mouse clicks in SGR encoding, no cursor
    modes: { keypad_cursor_flag: '1', keypad_flag: '1', mouse_standard_flag: '1', mouse_sgr_flag: '1', cursor_flag: '0' },
    before: [
      { until: '5%' },
      { touch: 'P1', until: 'copying the first files' },
      { touch: 'P2', until: '55%' },
    ],
    after: [
      { touch: 'P3', until: 'nearly there' },
      { touch: 'P4', until: '95%' },
    ],
    quit: { touch: 'Q', until: '' },
  },
  {
    name: 'less scrolled and searched',
    needs: ['less'],
    files: { 'book.txt': numbered(400, 'page') },
    command: 'LESSHISTFILE=- exec less --mouse -R book.txt',
    // less --mouse: clicks and wheel in SGR encoding; keypad
    modes: { keypad_cursor_flag: '1', keypad_flag: '1', mouse_standard_flag: '1', mouse_sgr_flag: '1', alternate_on: '1' },
    before: [
      { until: 'page 1:' },
      { keys: ['50j'], until: 'page 51:' },
      { keys: ['/quick brown fox the quick', 'Enter'], until: 'page 52:' },
    ],
    after: [
      { keys: ['d'], until: 'page 72:' },
      { keys: ['k', 'k', 'k'], until: 'page 69:' },
      { keys: ['n'], until: 'page 73:' },
      { keys: ['Down', 'Down'], byLate: true, until: 'page 75:' },
    ],
    quit: { keys: ['q'], until: '' },
  },
  {
    name: 'top',
    needs: ['top'],
    // once a second: the screen changes between the phases, the late viewer follows the same frames
    command: 'HOME=$PWD exec top -d 1',
    modes: { cursor_flag: '0', keypad_cursor_flag: '1', keypad_flag: '1' },
    runDependent: true,
    before: [
      { until: 'load average' },
      { keys: ['H'], until: 'Threads:' },
      { keys: ['z'], until: 'Threads:' },
    ],
    after: [
      { keys: ['1'], until: '%Cpu1' },
      { keys: ['H'], until: 'Tasks:' },
    ],
    // top may drop a key typed while it samples: the run is cancelled instead
    quit: null,
  },
  {
    name: 'dialog programbox: a scrolling window fed line by line',
    needs: ['dialog'],
    command: [
      "lines() { for i in $(seq $1 $2); do echo \"step $i: $(printf '#%.0s' $(seq 1 $((i % 30 + 1))))\"; done; }",
      '{ lines 1 8; wait_for A; lines 9 30; wait_for B; lines 31 44; wait_for C; lines 45 60; } | dialog --title "build log" --programbox 20 70',
    ].join('\n'),
    modes: { keypad_cursor_flag: '1', keypad_flag: '1', mouse_standard_flag: '1', mouse_sgr_flag: '1', cursor_flag: '0' },
    before: [
      { until: 'step 8:' },
      { touch: 'A', until: 'step 30:' },
    ],
    after: [
      { touch: 'B', until: 'step 44:' },
      { touch: 'C', until: 'step 60:' },
    ],
    quit: { keys: ['Enter'], until: '' },
  },
  {
    name: 'htop',
    needs: ['htop'],
    // a long delay: the screen holds still between the phases (it is compared with the early viewer's)
    command: 'HOME=$PWD exec htop -d 100',
    runDependent: true,
    modes: { keypad_cursor_flag: '1', keypad_flag: '1', mouse_standard_flag: '1', mouse_sgr_flag: '1', cursor_flag: '0', alternate_on: '1' },
    before: [
      { until: 'F5Tree' },
      { keys: ['t'], until: 'F5List' },
    ],
    after: [
      { keys: ['t'], until: 'F5Tree' },
      { keys: ['F3', 'redis'], until: 'Search: redis' },
      { keys: ['Escape'], until: 'F5Tree' },
    ],
    quit: { keys: ['q'], until: '' },
  },
  {
    // SGR on every line and colours left set at the end: the late viewer's screen and the
    // attributes later output is drawn with are tmux's (at this pace, one run with its viewers,
    // the mirror parses every byte; mirrorSkip covers what it leaves out)
    name: 'a burst of coloured test-runner logs, its last colours left set for the output after the join',
    needs: ['python3'],
    files: {
      'logs.py': [
        'import sys',
        'w = sys.stdout.buffer.write',
        'names = [b"parses", b"the", b"config", b"hub", b"agent", b"replays", b"grant", b"stale"]',
        'for i in range(150000):',
        '    v = b"\\x1b[32m\\xe2\\x9c\\x93\\x1b[0m" if i % 5 else b"\\x1b[31m\\xe2\\x9c\\x97"',
        '    w(b"  %s %d %s \\x1b[90m(%d ms)\\x1b[0m\\x1b[38;5;%dm;\\n" % (v, i, b" ".join(names[(i >> k) % 8] for k in range(3 + i % 5)), i % 900, i % 256))',
        'w(b"\\x1b[1;4;33mburst done\\n")',
        'sys.stdout.flush()',
      ].join('\n'),
    },
    command: ['/usr/bin/python3 logs.py', 'wait_for A', 'echo "after the join, still styled"', "printf '\\033[0mprompt> '", 'wait_for Q'].join('\n'),
    modes: {},
    before: [{ until: 'burst done' }],
    after: [{ touch: 'A', until: 'prompt> ' }],
    quit: { touch: 'Q', until: '' },
  },
  {
    name: 'a full-screen redraw burst (frames overwritten before the mirror parsed them), colours and cursor left set for the output after the join',
    needs: ['python3'],
    files: { 'frames.py': FRAMES_PY },
    command: ['/usr/bin/python3 frames.py', 'ran burst', 'wait_for A', "printf 'after the join, still styled'", "printf '\\033[0m\\033[40;1H\\033[Kprompt> '", 'wait_for Q'].join('\n'),
    modes: {},
    history: true,
    leftOut: 4 * 1024 * 1024,
    noEarlyViewer: true,
    before: [{ ran: 'burst', until: 'burst done' }],
    after: [{ touch: 'A', until: 'prompt> ' }],
    quit: { touch: 'Q', until: '' },
  },
];

/**
 * Resize during a run. Correct means: the run's pty takes the RW holder's size (its terminal was
 * resized), the program redraws for it, and then every viewer whose terminal has that size — the
 * RW holder, a late joiner — shows what the reference pane, resized the same way, shows; a
 * read-only viewer with a bigger terminal (early or late) shows the run's area as the reference
 * does, blank around it — for programs that place what they draw (full-screen programs); text
 * streamed past the pane's width wraps at the bigger terminal's width (a known limit: a byte
 * stream cannot set the width where the viewer's terminal wraps).
 */
const resizeScenes: Scene[] = [
  {
    name: 'vim while the RW holder resizes, before and after the join',
    ...VIM,
    lateSize: { cols: 100, rows: 30 },
    bigViewers: true,
    before: [
      { until: 'notes.txt' },
      { keys: ['120G'], until: 'at=120,1' },
      { resize: { cols: 100, rows: 30 }, until: 'at=120,1' },
      { keys: ['cc', 'edited at 100 x 30', 'Escape'], until: 'at=120,18' },
    ],
    after: [
      { keys: ['C-d'], until: 'at=134,1' },
      { keys: ['o', 'typed after the join', 'Escape'], until: 'at=135,20' },
      { resize: { cols: 110, rows: 35 }, until: 'at=135,20' },
      { keys: ['C-e', 'C-e', 'k'], until: 'at=134,' },
    ],
    quit: { keys: ['Escape', ':qa!', 'Enter'], until: '' },
  },
  {
    name: 'plain output, long lines, while the RW holder resizes (the screens reflow)',
    needs: [],
    command: [
      `out() { for i in $(seq $1 $2); do printf 'output line %d %s\\n' $i "$(printf 'x%.0s' $(seq 1 $((i * 7 % 150))))"; done; }`,
      'out 1 30; wait_for A; out 31 45; wait_for B; out 46 60; printf "prompt> "; wait_for Q',
    ].join('\n'),
    modes: {},
    // no bigger viewer here: lines a program streams wrap at the width of the terminal they land in
    lateSize: { cols: 100, rows: 30 },
    before: [
      { until: 'output line 30 ' },
      { resize: { cols: 100, rows: 30 }, until: 'output line 30 ' },
      { touch: 'A', until: 'output line 45 ' },
    ],
    after: [{ touch: 'B', until: 'prompt> ' }],
    quit: { touch: 'Q', until: '' },
  },
  {
    // a terminal that shrinks clips (tmux drops the alternate screen's cells outside it) and does not get them back when it grows
    name: "a read-only viewer's own terminal shrinks and grows back: it says so, then repaints (vim)",
    ...VIM,
    lateSize: { cols: 120, rows: 40 },
    before: [
      { until: 'notes.txt' },
      { keys: ['120G'], until: 'at=120,1' },
    ],
    after: [
      { viewerSize: { cols: 70, rows: 20 }, until: 'at=120,1' },
      { viewerSize: { cols: 120, rows: 40 }, until: 'at=120,1' },
      { keys: ['C-d'], until: 'at=139,1' },
    ],
    quit: { keys: ['Escape', ':qa!', 'Enter'], until: '' },
  },
];

/**
 * What a viewer bigger than the run shows is the run's area: the reference's rows (the rest of
 * its screen blank) and the same cursor and modes; of its tab stops, those inside the run's width.
 */
function runArea(st: PaneState, cols: number): PaneState {
  const tabs = st.flags.pane_tabs.split(',').filter((t) => t !== '' && Number(t) < cols);
  return { rows: st.rows, flags: { ...st.flags, pane_tabs: tabs.join(',') } };
}

/**
 * What a viewer's terminal showed before the run's screen, which its history keeps (a reset pushes
 * the screen into tmux's history, as a person's terminal keeps the screen `clear` clears): an RW
 * `handoff attach` says until when it may write, then at most a screenful of blank rows. Not
 * part of the run.
 */
function withoutOwnLines(st: PaneState): PaneState {
  const history = st.history ?? [];
  if (!history[0]?.startsWith('handoff: write access to run ')) return st;
  let n = 1;
  while (n < history.length && n < st.rows.length && history[n] === '') n++;
  return { ...st, history: history.slice(n) };
}

describe('e2e: late join of real programs equals an independent terminal (tmux)', function () {
  this.timeout(30_000);
  let hub: TestHub;
  let agent: TestAgent;
  let work: string;
  let tmux: Tmux;

  before(async function () {
    this.timeout(30_000);
    if (!has('tmux')) throw new Error('tmux is required for these tests (apt-get install -y tmux)');
    work = mkdtempSync(join(tmpdir(), 'handoff-latejoin-programs-'));
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

  afterEach(() => tmux.close());

  const cliEnv = () => ({ HANDOFF_HUB_URL: hub.url, HANDOFF_TOKEN: hub.token('operator', 'alice') });

  /** Starts `handoff attach` in a new pane; resolves once it painted its join snapshot (its title is set right after). */
  async function attach(runId: string, rw: boolean, size?: Size): Promise<string> {
    const pane = tmux.spawn(`node ${HANDOFF} attach ${runId}${rw ? ' --rw' : ''}`, cliEnv(), size);
    await waitUntil(`handoff attach in ${pane} to paint the run`, () => (tmux.format(pane, '#{pane_title}').startsWith('handoff ') ? true : undefined), 20_000, 50);
    return pane;
  }

  /** Waits until every pane equals the first one; fails with the differences left at the deadline. */
  async function settled(what: string, panes: Record<string, string>, until: string, areaOnly: string[] = [], history = false): Promise<Record<string, PaneState>> {
    const names = Object.keys(panes);
    const cols = Number(tmux.format(panes[names[0] as string] as string, '#{pane_width}'));
    let last: Record<string, PaneState> = {};
    let diff: string[] = [];
    try {
      return await waitUntil(
        what,
        () => {
          last = Object.fromEntries(names.map((n) => [n, withoutOwnLines(tmux.state(panes[n] as string, history))]));
          const want = last[names[0] as string] as PaneState;
          diff = [];
          for (const n of names.slice(1)) {
            const area = areaOnly.includes(n);
            for (const d of stateDifferences(area ? runArea(want, cols) : want, area ? runArea(last[n] as PaneState, cols) : (last[n] as PaneState))) diff.push(`${n} against ${names[0]}: ${d}`);
          }
          const shown = names.every((n) => (last[n] as PaneState).rows.join('\n').includes(until) || tmux.screen(panes[n] as string).includes(until));
          return shown && diff.length === 0 ? last : undefined;
        },
        SETTLE_MS,
        100,
      );
    } catch {
      const screen = tmux.tmux('capture-pane', '-p', '-t', panes[names[0] as string] as string).trimEnd().replace(/\n/g, '\n    ');
      expect.fail(`${what}: the panes do not show the same (waited for ${JSON.stringify(until)}):\n  ${diff.join('\n  ') || '(equal, but the text is not shown)'}\n  ${names[0]} shows:\n    ${screen}`);
    }
  }

  function act(p: Phase, panes: string[], shared: string, sameSize: string[] = []): void {
    if (p.touch) writeFileSync(join(shared, p.touch), '');
    if (p.resize) for (const pane of [...panes, ...sameSize].filter(Boolean)) tmux.resize(pane, p.resize.cols, p.resize.rows);
    for (const pane of panes.filter(Boolean)) {
      for (const k of p.keys ?? []) tmux.keys(pane, k);
      if (p.paste) tmux.paste(pane, p.paste);
    }
  }

  async function play(s: Scene): Promise<void> {
    for (const cmd of s.needs) if (!has(cmd)) throw new Error(`${cmd} is required for this test (apt-get install -y ${cmd.replace(/.*\//, '')})`);
    const dir = join(work, s.name.replace(/[^a-z0-9]+/gi, '-'));
    const shared = join(dir, 'shared');
    mkdirSync(shared, { recursive: true });
    for (const [f, text] of Object.entries(s.files ?? {})) writeFileSync(join(dir, f), text);
    writeFileSync(join(dir, 'scene.sh'), script(s));
    const line = `cd ${dir} && bash scene.sh ${shared}`;

    const run = await createRun(hub, [line]);
    try {
      await playRun(s, run.id, line, shared);
    } finally {
      // a failed scene leaves its program waiting: end it so the next scene's run gets the agent
      await hub.api('POST', `/api/task-runs/${run.id}/cancel`, hub.token('operator', 'alice'), {});
    }
  }

  async function playRun(s: Scene, runId: string, line: string, shared: string): Promise<void> {
    const run = { id: runId };
    await waitForSessionStatus(hub, run.id, ['ready'], 20_000);
    // a program whose screen depends on its machine has no reference: the late viewer is compared with the early one
    const ref = s.runDependent ? '' : tmux.spawn(line, { TERM });
    const early = s.noEarlyViewer ? '' : await attach(run.id, true);
    const bigEarly = s.bigViewers ? await attach(run.id, false) : '';
    writeFileSync(join(shared, 'START'), '');

    const big: string[] = [];
    const compareWith = (late?: string): Record<string, string> => {
      const all: Record<string, string> = {};
      if (!s.runDependent) all.reference = ref;
      if (early) all.early = early;
      if (late) all.late = late;
      if (bigEarly) all['early 120×40'] = bigEarly;
      if (late && s.bigViewers) all['late 120×40'] = big[0] as string;
      return all;
    };
    const areaOnly = ['early 120×40', 'late 120×40'];
    for (const [i, p] of s.before.entries()) {
      act(p, [ref, early], shared);
      if (p.ran) {
        const file = join(shared, `${p.ran}.ran`);
        await waitUntil(`the run's program to reach ${p.ran}`, () => (existsSync(file) ? true : undefined), SETTLE_MS, 100);
      }
      await settled(`before the join, step ${i + 1}`, compareWith(), p.until, areaOnly, s.history);
    }
    const late = await attach(run.id, !s.lateSize, s.lateSize);
    const driver = early || late;
    if (s.bigViewers) big.push(await attach(run.id, false));
    const joined = await settled('right after the join', compareWith(late), '', areaOnly, s.history);
    if (s.leftOut) {
      // the scene covers what the mirror leaves out: it reports that with its progress, a few times a second
      const least = s.leftOut;
      let skipped = 0;
      await waitUntil(
        `the mirror to report at least ${least} bytes left out`,
        () => ((skipped = agent.agent.runs.get(run.id)?.mirrorSkippedBytes()[TASK_PANE] ?? 0) >= least ? true : undefined),
        2000,
        50,
      ).catch(() => expect.fail(`the mirror left out ${skipped} bytes, not at least ${least}: the scene did not cover what it leaves out`));
    }
    // the input side: what the late viewer's keys and mouse send is what the program asked for
    const flags = (joined.late as PaneState).flags;
    expect(Object.fromEntries(Object.keys(s.modes).map((f) => [f, flags[f as PaneStateFormat]])), 'the late viewer terminal\'s modes').to.deep.equal(s.modes);
    for (const [i, p] of s.after.entries()) {
      if (p.viewerSize) {
        tmux.resize(late, p.viewerSize.cols, p.viewerSize.rows);
        const cut = p.viewerSize.cols < 120 || p.viewerSize.rows < 40;
        if (cut) {
          // read-only: the run keeps its size (the next step compares the driver with the reference); the viewer says it is cut off
          const said = `${p.viewerSize.cols}×${p.viewerSize.rows} < run 120×40`;
          await waitUntil('the small viewer to say it is smaller than the run', () => (tmux.format(late, '#{pane_title}').includes(said) && tmux.screen(late).includes('smaller than the run') ? true : undefined), SETTLE_MS, 100);
          continue;
        }
      } else act(p, [ref, p.byLate ? late : driver], shared, [late]);
      await settled(`after the join, step ${i + 1}`, compareWith(late), p.until, areaOnly, s.history);
    }

    if (!s.quit) return; // play() cancels it
    act(s.quit, [ref, driver], shared);
    expect((await waitForRunStatus(hub, run.id, ['succeeded', 'failed', 'cancelled'], 15_000)).status).to.equal('succeeded');
  }

  for (const s of scenes) it(s.name, () => play(s));
  describe('resize during a run', () => {
    for (const s of resizeScenes) it(s.name, () => play(s));
  });
});
