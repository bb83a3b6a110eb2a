/** Socket.IO room names, in one place (they cross hubs through the adapter). */
export const viewerRunRoom = (runId: string) => `run:${runId}`;
/** The run's output only: a stalled viewer leaves this room but stays in the run's room. */
export const viewerOutputRoom = (runId: string) => `out:${runId}`;
export const agentRunRoom = (runId: string) => `agent-run:${runId}`;
export const workerRoom = (workerId: string) => `worker:${workerId}`;
export const RUNS_WATCH_ROOM = 'runs';
/** Every viewer socket of one operator session: ending the session disconnects the room on every hub. */
export const operatorSessionRoom = (sid: string) => `op-session:${sid}`;
