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
  /** Runs this socket may stream for (checked per output chunk: a Set lookup, no I/O). */
  runs: Set<string>;
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
}

// eslint-disable-next-line @typescript-eslint/no-empty-object-type
type NoServerEvents = {};
/** Hub ↔ hub messages (through the Redis adapter): RW state lives on the hub holding the viewer socket. */
export interface HubToHubEvents {
  'rw:generation': (runId: string, generation: number, reason: string) => void;
  /** These operator sessions ended on another hub: refuse them here too (their sockets are dropped by the adapter). */
  'operator:ended': (sessionIds: string[]) => void;
}
export type AgentNamespace = Namespace<AgentToHubEvents, HubToAgentEvents, NoServerEvents, AgentSocketData>;
export type AgentSocket = Socket<AgentToHubEvents, HubToAgentEvents, NoServerEvents, AgentSocketData>;
export type ViewerNamespace = Namespace<ViewerToHubEvents, HubToViewerEvents, HubToHubEvents, ViewerSocketData>;
export type ViewerSocket = Socket<ViewerToHubEvents, HubToViewerEvents, HubToHubEvents, ViewerSocketData>;
