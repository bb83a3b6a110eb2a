/**
 * Incoming frame limits (architecture §7a: costs bounded before authentication). engine.io has
 * one `maxHttpBufferSize` for every connection, checked before any namespace handshake: it is
 * kept small (what a viewer or an unauthenticated client ever sends), and a connection whose
 * agent handshake succeeded is raised to the agent limit (its late-join snapshots travel in one
 * ack). engine.io offers no per-connection setting, so this is the one place that reaches into
 * its transports (and ws's receiver); `raiseFrameLimit` fails loudly if those change.
 */
import type { Socket } from 'socket.io';

type EngineSocket = Socket['conn'];

/** Before authentication, and for viewers: a 64 KiB input frame, base64-encoded when polling. */
export const PUBLIC_FRAME_LIMIT = 128 * 1024;
/** An authenticated agent: a serialized scrollback in a `run:snapshot` ack. */
export const AGENT_FRAME_LIMIT = 64 * 1024 * 1024;

interface LimitedTransport {
  name: string;
  /** polling: the POST body limit. */
  maxHttpBufferSize?: number;
  /** websocket: the ws socket, whose receiver holds the frame limit. */
  socket?: { _receiver?: { _maxPayload?: number } };
}

function raiseTransport(transport: LimitedTransport, limit: number): void {
  if (transport.name === 'polling') {
    transport.maxHttpBufferSize = limit;
    return;
  }
  const receiver = transport.socket?._receiver;
  if (transport.name !== 'websocket' || !receiver || typeof receiver._maxPayload !== 'number') throw new Error(`cannot raise the frame limit of a ${transport.name} transport (engine.io / ws internals changed)`);
  receiver._maxPayload = limit;
}

/** Raises one engine.io connection's incoming frame limit, now and after a transport upgrade. */
export function raiseFrameLimit(conn: EngineSocket, limit: number): void {
  raiseTransport(conn.transport as unknown as LimitedTransport, limit);
  conn.on('upgrade', (transport: unknown) => raiseTransport(transport as LimitedTransport, limit));
}
