/** Typed namespaces of the hub (common/protocol.ts event maps + per-socket data). */
import type { Namespace, Socket } from 'socket.io';
import type {
  AgentToHubEvents,
  HubToAgentEvents,
  HubToViewerEvents,
  ViewerToHubEvents,
} from '../../common/protocol.ts';
import type { GrantClaims, OperatorClaims } from '../auth/tokens.ts';

export interface AgentSocketData {
  workerId: string;
  hostname: string;
  capacity: number;
  /** Run → the attempt this socket may stream for (checked per output chunk: a Map lookup, no I/O). */
  runs: Map<string, number>;
}

export interface RwVerdict {
  until: number;
  generation: number;
  grantee: string;
  jti: string;
  bytes: number;
  timer: NodeJS.Timeout;
}

export interface ViewerSocketData {
  operator: OperatorClaims;
  grant: GrantClaims | null;
  /** Why the grant given in the handshake was refused (expired, bad signature…); null if none was. */
  grantRefused: string | null;
  joined: Set<string>;
  /** runId → cached RW verdict, valid until its expiry instant or a generation change. */
  rw: Map<string, RwVerdict>;
  inputWindowStart: number;
  inputFrames: number;
  /** Token bucket of join / resync requests (each costs a database read and an agent snapshot). */
  requestTokens: number;
  requestRefilledAt: number;
  /** `runId paneId` → the highest offset this viewer acknowledged (`pane:ack`). */
  acked: Map<string, number>;
  /** When an acknowledgement last moved on (performance.now()); null for a viewer that never acks. */
  readingAt: number | null;
}

/** Hub ↔ hub messages (through the Redis adapter): RW state lives on the hub holding the viewer socket. */
export interface HubToHubEvents {
  'rw:generation': (runId: string, generation: number, reason: string) => void;
  /** These operator sessions ended on another hub: refuse them here too (their sockets are dropped by the adapter). */
  'operator:ended': (sessionIds: string[]) => void;
}
/** Hub ↔ hub messages on the agent namespace: a run's attempt moved on (re-queued, claimed again), fence the older ones. */
export interface AgentHubToHubEvents {
  'run:fenced': (runId: string, attempt: number, workerId: string | null) => void;
}
export type AgentNamespace = Namespace<AgentToHubEvents, HubToAgentEvents, AgentHubToHubEvents, AgentSocketData>;
export type AgentSocket = Socket<AgentToHubEvents, HubToAgentEvents, AgentHubToHubEvents, AgentSocketData>;
export type ViewerNamespace = Namespace<ViewerToHubEvents, HubToViewerEvents, HubToHubEvents, ViewerSocketData>;
export type ViewerSocket = Socket<ViewerToHubEvents, HubToViewerEvents, HubToHubEvents, ViewerSocketData>;
