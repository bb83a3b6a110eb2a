/** Domain events → sockets: what changed reaches the agent and every viewer in one hop. */
import type { OperatorSessions } from '../auth/operatorSessions.ts';
import type { HubEvents } from '../domain/hubEvents.ts';
import { agentRunRoom, operatorSessionRoom, RUNS_WATCH_ROOM, viewerOutputRoom, viewerRunRoom } from './rooms.ts';
import type { RwGate } from './rwGate.ts';
import type { AgentNamespace, ViewerNamespace } from './types.ts';

export function attachDomainFanout(events: HubEvents, agents: AgentNamespace, viewers: ViewerNamespace, rw: RwGate, operatorSessions: OperatorSessions, clustered: boolean): void {
  events.on('run:available', () => agents.emit('run:available'));

  events.on('run:changed', (run, session) => {
    viewers.to(viewerRunRoom(run.id)).to(RUNS_WATCH_ROOM).emit('run:status', run.id, run, session);
    if (session && (session.status === 'ended' || session.status === 'error')) {
      rw.revokeAll(run.id, `session ${session.status}`);
      viewers.to(viewerRunRoom(run.id)).emit('session:ended', run.id, session.status, session.errorMessage ?? `run ${run.status}`);
    }
  });

  events.on('run:cancelled', (runId) => agents.to(agentRunRoom(runId)).emit('run:cancel', runId));

  events.on('run:control', (runId, liveControl, summary) => {
    agents.to(agentRunRoom(runId)).emit('run:control', { runId, liveControl, ...(summary !== undefined ? { summary } : {}) });
    viewers.to(viewerRunRoom(runId)).emit('run:control', runId, liveControl);
  });
  events.on('run:controlApplied', (runId, liveControl) => viewers.to(viewerRunRoom(runId)).emit('run:control', runId, liveControl));

  events.on('run:message', (runId, event) => {
    const message = { id: event.id, runId, from: event.actorUserId, message: String(event.metadata['message'] ?? ''), createdAt: event.createdAt };
    agents.to(agentRunRoom(runId)).emit('run:message', message);
    viewers.to(viewerRunRoom(runId)).emit('run:message', message);
  });

  events.on('event:appended', (event) => viewers.to(viewerRunRoom(event.taskRunId)).emit('run:event', event));

  events.on('session:enabled', (runId) => agents.to(agentRunRoom(runId)).emit('session:enable', runId));

  events.on('session:revoked', (runId, reason) => {
    agents.to(agentRunRoom(runId)).emit('session:revoked', runId, reason);
    rw.revokeAll(runId, `session revoked: ${reason}`);
    viewers.to(viewerRunRoom(runId)).emit('session:ended', runId, 'revoked', reason);
    // Viewers are detached from the stream; they may still read the run over REST.
    viewers.in(viewerRunRoom(runId)).socketsLeave([viewerRunRoom(runId), viewerOutputRoom(runId)]);
  });

  // An ended operator session: other hubs refuse its tokens from now on (their caches do not wait to
  // age), and its viewer sockets are disconnected wherever they are (the adapter reaches every hub).
  events.on('operator:sessionsEnded', (ids) => {
    if (clustered) viewers.serverSideEmit('operator:ended', ids);
    viewers.in(ids.map(operatorSessionRoom)).disconnectSockets(true);
  });
  if (clustered) viewers.on('operator:ended', (ids) => operatorSessions.markEnded(ids));

  events.on('rw:changed', (runId, generation, until) => {
    if (until === null) rw.downgradeEverywhere(runId, generation, 'write revoked');
  });
}
