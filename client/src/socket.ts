/**
 * The viewer socket (architecture §5, docs/protocol.md): namespace /viewer on /socket.io, websocket
 * only, authenticated with the tab's token (plus an RW grant token when the tab holds one).
 */
import { io } from 'socket.io-client';
import type { Socket } from 'socket.io-client';
import type { Ack, HubToViewerEvents, ViewerToHubEvents } from '../../common/protocol.ts';
import { SOCKET_PATH, VIEWER_NAMESPACE } from '../../common/protocol.ts';
import { backToSignIn } from './nav.ts';
import { signOut } from './session.ts';

export type ViewerSocket = Socket<HubToViewerEvents, ViewerToHubEvents>;
export interface ViewerAuth {
  token: string;
  grant?: string;
}

export function connectViewer(auth: ViewerAuth): ViewerSocket {
  const socket: ViewerSocket = io(VIEWER_NAMESPACE, { path: SOCKET_PATH, transports: ['websocket'], auth: { ...auth } });
  socket.on('connect_error', (err) => {
    // The handshake refuses a bad or expired operator token with "unauthorized: …".
    if (err.message.startsWith('unauthorized')) {
      socket.disconnect();
      signOut();
      backToSignIn(`The hub refused your token for live updates (${err.message.replace(/^unauthorized:\s*/, '')}). Please sign in again.`);
    }
  });
  return socket;
}

/** Unwraps a protocol acknowledgement: the data, or an Error with the hub's message. */
export function unwrap<T>(ack: Ack<T>): T {
  if (ack.ok) return ack.data;
  throw new Error(ack.error.message);
}
