#!/usr/bin/python3
"""A minimal handoff agent in Python, written from docs/protocol.md alone (no pty, no terminal
emulator): it claims runs, runs their steps with /bin/sh (telling the hub where each begins and
ends), streams the output of one `task` pane,
answers run:snapshot with everything it printed so far, applies pause / resume controls and
acknowledges each control state once, appends operator messages to the inbox, and reports the
result. test/e2e/pythonWorker.test.ts drives it against a real hub so the page cannot drift.

Environment: HANDOFF_HUB_URL, HANDOFF_WORKER_TOKEN, HANDOFF_WORKER_ID, HANDOFF_DATA_DIR.
Prints one JSON object a line on stdout for the test (hello, claimed, output, applied, held,
completed).
"""
import asyncio
import json
import os
import random
import signal
import socket
import sys

import socketio

NS = '/agent'
PANE = 'task'
COLS, ROWS = 120, 40


def say(event, **fields):
    print(json.dumps({'event': event, **fields}), flush=True)


class StaleAttempt(RuntimeError):
    """The hub answered stale_attempt: the attempt is not ours any more (protocol.md, fencing)."""
    def __init__(self, message, stale):
        super().__init__(message)
        self.stale = stale


class Run:
    def __init__(self, task_run, claimed_at):
        self.id = task_run['id']
        self.attempt = task_run['attempt']  # named in every message about the run
        self.lease_from = claimed_at  # when the last request the hub acknowledged for it was sent
        self.fenced = False
        self.steps = task_run['steps']
        session = task_run.get('liveSession')
        self.live = session is not None and session['status'] not in ('revoked', 'ended', 'error')
        self.control = task_run['payload'].get('liveControl') or {}
        # updatedAt of the last control state applied and acknowledged (protocol.md: only a new one)
        self.applied_at = None
        self.resumed = asyncio.Event()
        self.output = bytearray()  # every byte of the pane so far: its snapshot is this text
        self.proc = None
        self.cancelled = False
        self.inbox = os.path.join(os.environ['HANDOFF_DATA_DIR'], 'runs', self.id, 'operator_inbox.jsonl')
        os.makedirs(os.path.dirname(self.inbox), exist_ok=True)

    def pane(self):
        return {'paneId': PANE, 'title': 'task', 'cols': COLS, 'rows': ROWS, 'offset': len(self.output)}

    def snapshot(self):
        return {'paneId': PANE, 'cols': COLS, 'rows': ROWS, 'offset': len(self.output),
                'data': self.output.decode('utf-8', 'replace')}


class Agent:
    def __init__(self):
        # Reconnecting is ours, after every disconnect: the library would not retry one the hub made.
        self.sio = socketio.AsyncClient(reconnection=False)
        self.reconnecting = False
        self.worker_id = os.environ['HANDOFF_WORKER_ID']
        self.runs = {}
        self.finished = {}  # runs that completed: their final screen is still asked for, for 30 s
        self.heartbeat_seconds = 5
        self.lease_seconds = None  # the hub's lease (hello): past it without a heartbeat, kill the runs
        self.wake = asyncio.Event()
        self.ready = False
        on = lambda event: (lambda fn: self.sio.on(event, fn, namespace=NS))
        on('connect')(self.on_connect)
        on('disconnect')(self.on_disconnect)
        on('run:available')(lambda: self.wake.set())
        on('run:snapshot')(self.on_snapshot)
        on('run:control')(self.on_control)
        on('run:message')(self.on_message)
        on('run:cancel')(self.on_cancel)
        on('session:revoked')(self.on_revoked)
        on('session:enable')(self.on_enable)
        # pane:input / pane:resize / run:flow: this agent has no pty to type into and never holds output.

    async def request(self, event, *args, retry_for=0):
        """An event with an acknowledgement: the one argument is { ok, data } or { ok: false, error }.
        Retried across disconnects (and `unavailable` answers) for `retry_for` seconds."""
        deadline = asyncio.get_running_loop().time() + retry_for
        while True:
            try:
                reply = await self.sio.call(event, args if len(args) != 1 else args[0], namespace=NS, timeout=10)
                if reply.get('ok'):
                    return reply['data']
                if reply['error']['code'] == 'stale_attempt':
                    raise StaleAttempt(reply['error']['message'], (reply['error'].get('details') or {}).get('stale', []))
                if reply['error']['code'] != 'unavailable':
                    raise RuntimeError(f"{event} refused: {reply['error']['code']}: {reply['error']['message']}")
            except (socketio.exceptions.SocketIOError, asyncio.TimeoutError):
                pass  # not connected, or no answer: the hub is away
            if asyncio.get_running_loop().time() >= deadline:
                raise RuntimeError(f'{event}: no answer from the hub')
            await asyncio.sleep(0.5)

    async def send(self, event, args):
        """An event without an answer; dropped while the hub is away (the hello after the reconnect says where the panes are)."""
        if self.ready:
            try:
                await self.sio.emit(event, args, namespace=NS)
            except socketio.exceptions.SocketIOError:
                pass

    def on_connect(self):
        asyncio.ensure_future(self.hello())

    def on_disconnect(self):
        self.ready = False
        say('disconnected')
        if not self.reconnecting:
            self.reconnecting = True
            asyncio.ensure_future(self.reconnect())

    async def reconnect(self):
        delay = 0.25
        while not self.sio.connected:
            await asyncio.sleep(delay + random.random() * 0.5)
            try:
                await self.connect()
            except socketio.exceptions.ConnectionError:
                delay = min(delay * 2, 5)
        self.reconnecting = False

    async def connect(self):
        await self.sio.connect(os.environ['HANDOFF_HUB_URL'], auth={'token': os.environ['HANDOFF_WORKER_TOKEN']},
                               namespaces=[NS], transports=['websocket'], socketio_path='socket.io')

    def states(self):
        return [{'runId': r.id, 'attempt': r.attempt, 'panes': [r.pane()] if r.live else []} for r in self.runs.values()]

    async def hello(self):
        sent_at = asyncio.get_running_loop().time()
        data = await self.request('agent:hello', {'protocol': 2, 'workerId': self.worker_id,
                                                  'hostname': socket.gethostname(), 'capacity': 1, 'runs': self.states()}, retry_for=30)
        self.heartbeat_seconds = data['heartbeatSeconds']
        self.lease_seconds = data.get('leaseSeconds')
        for run_id in data.get('stale', []):
            self.fence(run_id, 'the hub says this attempt is not ours')
        for run in self.runs.values():
            if run.id not in data['abandon']:
                run.lease_from = sent_at
        for run_id in data['abandon']:
            if run_id in self.runs:
                self.on_cancel(run_id)
        self.ready = True
        self.wake.set()
        say('hello', heartbeatSeconds=self.heartbeat_seconds)

    # --- hub → agent ---------------------------------------------------------------------------

    def on_snapshot(self, run_id, pane_id, opts):
        run = self.runs.get(run_id) or self.finished.get(run_id)
        if run is None:
            return {'ok': False, 'error': {'code': 'not_found', 'message': 'run not on this agent'}}
        snaps = [run.snapshot()] if pane_id in (None, PANE) else []
        return {'ok': True, 'data': snaps}  # always the full state: never partial

    def on_control(self, command):
        run = self.runs.get(command['runId'])
        if run:
            self.apply_control(run, command['liveControl'], command.get('summary'))

    def apply_control(self, run, lc, summary=None):
        # The hub sends run:control again when it marks a state applied: same updatedAt, nothing to do.
        if lc.get('updatedAt') is None or lc['updatedAt'] == run.applied_at:
            return
        run.control = lc
        run.applied_at = lc['updatedAt']
        pgid = run.proc.pid if run.proc and run.proc.returncode is None else None
        if lc['paused']:
            run.resumed.clear()
            if pgid and lc['mode'] == 'hard':
                os.killpg(pgid, signal.SIGSTOP)
        else:
            if pgid:
                os.killpg(pgid, signal.SIGCONT)
            if summary:
                self.append_inbox(run, {'type': 'resume_summary', 'from': None, 'message': summary, 'at': lc['updatedAt']})
            run.resumed.set()
        asyncio.ensure_future(self.send('control:applied', (run.id, run.attempt, lc)))
        say('applied', runId=run.id, updatedAt=lc['updatedAt'], paused=lc['paused'], mode=lc['mode'])

    def on_message(self, msg):
        run = self.runs.get(msg['runId'])
        if run:
            self.append_inbox(run, {'type': 'message', 'id': msg['id'], 'from': msg['from'], 'message': msg['message'], 'at': msg['createdAt']})

    def append_inbox(self, run, record):
        with open(run.inbox, 'a', encoding='utf-8') as f:
            f.write(json.dumps(record) + '\n')

    def on_cancel(self, run_id):
        run = self.runs.get(run_id)
        if not run:
            return
        run.cancelled = True
        run.resumed.set()
        if run.proc and run.proc.returncode is None:
            os.killpg(run.proc.pid, signal.SIGCONT)
            os.killpg(run.proc.pid, signal.SIGKILL)

    def fence(self, run_id, why):
        """The attempt is over for the hub (it may run elsewhere): kill it now, send nothing more for it."""
        run = self.runs.pop(run_id, None)
        if not run:
            return
        run.fenced = True
        run.cancelled = True
        run.resumed.set()
        if run.proc and run.proc.returncode is None:
            os.killpg(run.proc.pid, signal.SIGKILL)
        say('fenced', runId=run_id, attempt=run.attempt, why=why)

    def on_revoked(self, run_id, reason):
        run = self.runs.get(run_id)
        if run:
            run.live = False  # headless from now on: the steps go on, no more output is sent

    def on_enable(self, run_id):
        run = self.runs.get(run_id)
        if run and not run.live:
            asyncio.ensure_future(self.go_live(run))

    # --- the run -------------------------------------------------------------------------------

    async def go_live(self, run):
        try:
            await self.request('session:report', {'runId': run.id, 'attempt': run.attempt, 'status': 'starting'}, retry_for=30)
            run.live = True
            await self.send('pane:open', (run.id, run.attempt, run.pane()))
            await self.request('session:report', {'runId': run.id, 'attempt': run.attempt, 'status': 'ready', 'workerHostname': socket.gethostname(),
                                                  'attachRo': f'handoff attach {run.id}'}, retry_for=30)
        except StaleAttempt as err:
            self.fence(run.id, str(err))

    async def emit_output(self, run, data):
        data = data.replace(b'\n', b'\r\n')  # what a pty's line discipline would do
        offset = len(run.output)
        run.output += data
        if run.live and self.ready and not run.fenced:
            await self.send('pane:output', (run.id, run.attempt, PANE, offset, bytes(data)))
            say('output', runId=run.id, offset=offset, bytes=len(data))

    async def execute(self, run):
        if run.live:
            run.live = False
            await self.go_live(run)
        if run.control.get('paused'):
            self.apply_control(run, run.control)
        else:
            run.resumed.set()
        exit_code = 0
        for i, step in enumerate(run.steps):
            if not run.resumed.is_set():
                say('held', runId=run.id, step=i)  # soft pause: hold before the next step
                await run.resumed.wait()
            if run.cancelled:
                break
            await self.send('run:step', (run.id, run.attempt, {'index': i, 'phase': 'start'}))
            run.proc = await asyncio.create_subprocess_shell(step, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
                                                             cwd=os.path.dirname(run.inbox), start_new_session=True,
                                                             env={**os.environ, 'HANDOFF_RUN_ID': run.id, 'HANDOFF_OPERATOR_INBOX': run.inbox,
                                                                  'HANDOFF_WORKER_TOKEN': ''})
            while chunk := await run.proc.stdout.read(65536):
                await self.emit_output(run, chunk)
            exit_code = await run.proc.wait()
            if run.fenced:
                return  # killed as stale: nothing more is said about this attempt
            await self.send('run:step', (run.id, run.attempt, {'index': i, 'phase': 'end', 'exitCode': exit_code}))
            if exit_code != 0:
                break
        if run.fenced:
            return
        status = 'cancelled' if run.cancelled else 'succeeded' if exit_code == 0 else 'failed'
        # The hub ends the live session itself when the run completes: no `ended` report.
        try:
            data = await self.request('run:complete', {'runId': run.id, 'attempt': run.attempt, 'status': status,
                                                       'exitCode': None if run.cancelled else exit_code}, retry_for=60)
        except StaleAttempt as err:
            return self.fence(run.id, str(err))
        self.finished[run.id] = self.runs.pop(run.id)
        say('completed', runId=run.id, status=data['run']['status'], output=run.output.decode('utf-8', 'replace'))

    async def claim_loop(self):
        while True:
            try:
                await asyncio.wait_for(self.wake.wait(), timeout=1)  # run:available, or poll every second
            except asyncio.TimeoutError:
                pass
            self.wake.clear()
            if not self.ready or self.runs:
                continue
            claimed_at = asyncio.get_running_loop().time()
            try:
                task_run = (await self.request('run:claim'))['taskRun']
            except RuntimeError as err:
                say('error', message=str(err))
                continue
            if task_run:
                run = Run(task_run, claimed_at)
                self.runs[run.id] = run
                say('claimed', runId=run.id)
                asyncio.ensure_future(self.execute(run))

    async def lease_loop(self):
        """Past the lease without an acknowledged heartbeat the hub may run our runs elsewhere: kill them first."""
        while True:
            await asyncio.sleep(0.25)
            if self.lease_seconds is None:
                continue
            now = asyncio.get_running_loop().time()
            for run in list(self.runs.values()):
                if now - run.lease_from > self.lease_seconds:
                    self.fence(run.id, 'lease expired')

    async def heartbeat_loop(self):
        while True:
            await asyncio.sleep(self.heartbeat_seconds)
            if not self.ready or not self.runs:
                continue
            sent_at = asyncio.get_running_loop().time()
            try:
                data = await self.request('run:heartbeat', self.states())
            except StaleAttempt as err:
                for run_id in err.stale:  # the beat was refused whole: the others beat again next time
                    self.fence(run_id, str(err))
                continue
            except RuntimeError as err:
                say('error', message=str(err))
                continue
            for run in self.runs.values():
                if run.id not in data['abandon']:
                    run.lease_from = sent_at
            for run_id in data['abandon']:
                self.on_cancel(run_id)
            for run_id, lc in data['controls'].items():  # a back-stop for a missed run:control
                if run_id in self.runs:
                    self.apply_control(self.runs[run_id], lc)

    async def main(self):
        await self.connect()
        await asyncio.gather(self.claim_loop(), self.heartbeat_loop(), self.lease_loop())


if __name__ == '__main__':
    try:
        asyncio.run(Agent().main())
    except KeyboardInterrupt:
        sys.exit(0)
