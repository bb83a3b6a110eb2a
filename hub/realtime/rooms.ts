/** Socket.IO room names, in one place (they cross hubs through the adapter). */
export const viewerRunRoom = (runId: string) => `run:${runId}`;
export const agentRunRoom = (runId: string) => `agent-run:${runId}`;
export const workerRoom = (workerId: string) => `worker:${workerId}`;
export const RUNS_WATCH_ROOM = 'runs';
