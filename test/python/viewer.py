#!/usr/bin/python3
"""A minimal handoff viewer in Python, written from docs/protocol.md alone: joins one run, applies
the late-join snapshot, then the live output in offset order (dropping duplicates, resyncing on a
gap), and follows pane:open, pushed snapshots, controls and the run's status. It keeps each
pane's text (what writing it into a terminal would draw) instead of a terminal emulator.

Usage: viewer.py HUB_URL RUN_ID, operator token in HANDOFF_TOKEN. Prints one JSON object a line
(joined, resynced, control, status, done) and exits when the run is over.
"""
import asyncio
import json
import os
import sys

import socketio

NS = '/viewer'
FINISHED = ('succeeded', 'failed', 'cancelled')


def say(event, **fields):
    print(json.dumps({'event': event, **fields}), flush=True)


class Viewer:
    def __init__(self, url, run_id):
        self.url, self.run_id = url, run_id
        self.sio = socketio.AsyncClient(reconnection=True)
        self.joined = False
        self.early = []  # (paneId, offset, bytes) that arrived before the join's answer
        self.text = {}  # paneId → bytes drawn so far
        self.expected = {}  # paneId → offset of the next byte this viewer needs
        self.waiting_full = set()  # panes whose snapshot was partial: a pane:snapshot follows
        self.done = asyncio.Event()
        on = lambda event, fn: self.sio.on(event, fn, namespace=NS)
        on('pane:output', self.on_output)
        on('pane:snapshot', lambda run_id, snap: self.apply_snapshot(snap))
        on('pane:open', self.on_open)
        on('run:control', lambda run_id, lc: say('control', liveControl=lc))
        on('run:status', self.on_status)
        on('session:ended', lambda run_id, status, reason: say('session_ended', status=status, reason=reason))
        on('notice', lambda run_id, code, message: say('notice', code=code, message=message))

    def apply_snapshot(self, snap):
        # reset the pane, write the snapshot: the screen as of byte `offset`
        self.text[snap['paneId']] = snap['data'].encode('utf-8')
        self.expected[snap['paneId']] = snap['offset']
        if not snap.get('partial'):
            self.waiting_full.discard(snap['paneId'])
        else:
            self.waiting_full.add(snap['paneId'])

    def write(self, pane_id, offset, data):
        expected = self.expected.get(pane_id)
        if expected is None:
            return False  # a pane this viewer has no snapshot of yet: pane:open will tell
        if offset + len(data) <= expected:
            return True  # already held (a duplicate)
        if offset > expected:
            return False  # a gap: bytes this viewer never saw
        self.text[pane_id] += data[expected - offset:]
        self.expected[pane_id] = offset + len(data)
        return True

    def on_output(self, run_id, pane_id, offset, data):
        if run_id != self.run_id:
            return
        if not self.joined:
            self.early.append((pane_id, offset, data))
        elif not self.write(pane_id, offset, data):
            asyncio.ensure_future(self.resync(pane_id))

    def on_open(self, run_id, pane):
        held = self.expected.get(pane['paneId'])
        if held == pane['offset']:
            return
        if pane['offset'] == 0:
            self.apply_snapshot({'paneId': pane['paneId'], 'cols': pane['cols'], 'rows': pane['rows'], 'offset': 0, 'data': ''})
        else:
            asyncio.ensure_future(self.resync(pane['paneId']))

    def on_status(self, run_id, run, session):
        say('status', runStatus=run['status'], sessionStatus=session and session['status'])
        if run['status'] in FINISHED:
            self.done.set()

    async def resync(self, pane_id):
        reply = await self.sio.call('pane:resync', (self.run_id, pane_id), namespace=NS, timeout=35)
        if reply['ok']:
            self.apply_snapshot(reply['data'])
            say('resynced', paneId=pane_id, offset=reply['data']['offset'])
        return reply

    async def main(self):
        await self.sio.connect(self.url, auth={'token': os.environ['HANDOFF_TOKEN']}, namespaces=[NS],
                               transports=['websocket'], socketio_path='socket.io')
        reply = await self.sio.call('run:join', self.run_id, namespace=NS, timeout=35)
        if not reply['ok']:
            say('refused', error=reply['error'])
            return 1
        data = reply['data']
        for snap in data['panes']:
            self.apply_snapshot(snap)
        self.joined = True
        for chunk in self.early:
            self.write(*chunk)
        self.early = []
        say('joined', runStatus=data['run']['status'], sessionStatus=data['session'] and data['session']['status'],
            canWrite=data['canWrite'], panes=[{k: s[k] for k in ('paneId', 'offset', 'data', 'cols', 'rows')} for s in data['panes']])
        if data['run']['status'] in FINISHED:
            self.done.set()
        else:
            # pane:resync answers one PaneSnapshot: ask once to show it works, apply it like any resync
            for pane_id in list(self.expected):
                await self.resync(pane_id)
        await self.done.wait()
        say('done', text={p: t.decode('utf-8', 'replace') for p, t in self.text.items()}, offsets=self.expected)
        await self.sio.disconnect()
        return 0


if __name__ == '__main__':
    sys.exit(asyncio.run(Viewer(sys.argv[1], sys.argv[2]).main()))
