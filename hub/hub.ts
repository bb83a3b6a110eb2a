/**
 * Builds and starts one hub process: database, domain services, REST, Socket.IO namespaces,
 * sweepers. `startHub` is what `handoff hub`, the tests and the benchmarks all call.
 */
import { createServer, STATUS_CODES } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { DestinationStream, Logger } from 'pino';
import { Server } from 'socket.io';
import { AGENT_NAMESPACE, SOCKET_PATH, VIEWER_NAMESPACE } from '../common/protocol.ts';
import { SealedBox } from './auth/sealedBox.ts';
import { OperatorAuth } from './auth/operatorAuth.ts';
import { OperatorSessions } from './auth/operatorSessions.ts';
import { OidcSignIn } from './auth/oidcSignIn.ts';
import { ExternalJwtVerifier } from './auth/externalJwt.ts';
import { TokenService } from './auth/tokens.ts';
import type { HubConfig } from './config.ts';
import type { Database } from './db/database.ts';
import { openDatabase } from './db/database.ts';
import type { HubContext } from './domain/hubContext.ts';
import { HubEvents } from './domain/hubEvents.ts';
import { LiveSessionService } from './domain/liveSessions.ts';
import { TaskRunService } from './domain/taskRuns.ts';
import { createApp } from './http/app.ts';
import { createLogger } from './log.ts';
import { HubMetrics } from './metrics.ts';
import { attachAgentGateway } from './realtime/agentGateway.ts';
import { attachDomainFanout } from './realtime/domainFanout.ts';
import { PUBLIC_FRAME_LIMIT } from './realtime/frameLimits.ts';
import { connectRedisAdapter } from './realtime/redisAdapter.ts';
import { RwGate } from './realtime/rwGate.ts';
import { SlowViewerGuard } from './realtime/slowViewerGuard.ts';
import type { AgentNamespace, ViewerNamespace } from './realtime/types.ts';
import { attachViewerGateway } from './realtime/viewerGateway.ts';
import { LiveRecorder } from './recordings/liveRecorder.ts';
import { RecordingStore } from './recordings/recordingStore.ts';
import { resolveSecrets } from './secrets.ts';
import { LeaderLock } from './sweepers/leaderLock.ts';
import { SessionSweeper } from './sweepers/sessionSweeper.ts';

export interface StartHubOptions {
  /** Where logs go (tests collect them to prove secrets never appear). */
  logDestination?: DestinationStream;
  /** An already opened database (tests share one). */
  database?: Database;
}

export interface RunningHub {
  url: string;
  port: number;
  config: HubConfig;
  ctx: HubContext;
  runs: TaskRunService;
  sessions: LiveSessionService;
  operatorAuth: OperatorAuth;
  sweeper: SessionSweeper;
  io: Server;
  log: Logger;
  database: Database;
  close(): Promise<void>;
}

export async function startHub(config: HubConfig, opts: StartHubOptions = {}): Promise<RunningHub> {
  const log = createLogger(config.logLevel, opts.logDestination);
  const secrets = resolveSecrets(config);
  if (secrets.generated) log.warn({ file: `${config.dataDir}/secrets.json` }, 'generated a development JWT secret and encryption key (set HANDOFF_JWT_SECRET and HANDOFF_ENCRYPTION_KEY in production)');
  const database = opts.database ?? (await openDatabase({ databaseUrl: config.databaseUrl, dataDir: config.dataDir, log, queryTimeoutMs: config.databaseQueryTimeoutMs }));
  const ownsDatabase = !opts.database;

  const ctx: HubContext = {
    orm: database.orm,
    config,
    events: new HubEvents(),
    tokens: new TokenService(secrets.jwtSecret, config.tokenMaxSeconds),
    sealedBox: new SealedBox(secrets.encryptionKey),
    log,
  };
  const operatorSessions = new OperatorSessions(database.orm, log);
  await operatorSessions.loadEnded();
  const oidc = config.oidc ? new OidcSignIn(config.oidc, operatorSessions, ctx.tokens, ctx.sealedBox, config.operatorSessionSeconds, log) : null;
  const external = config.oidc?.acceptJwt && oidc ? new ExternalJwtVerifier(config.oidc, oidc, config.tokenMaxSeconds.operator) : null;
  const operatorAuth = new OperatorAuth(ctx.tokens, operatorSessions, external);
  operatorSessions.onEnded = (ids) => ctx.events.emit('operator:sessionsEnded', ids);
  const metrics = new HubMetrics();
  const runs = new TaskRunService(ctx);
  const sessions = new LiveSessionService(ctx);
  const recordings = new RecordingStore(database.orm);
  const recorder = new LiveRecorder(recordings, log);

  const app = createApp({ orm: database.orm, tokens: ctx.tokens, operatorAuth, runs, sessions, recordings, metrics, log, publicUrl: config.publicUrl, oidc });
  const server = createServer(app);
  // Requests Node's HTTP parser refuses (headers too large, malformed) never reach Express:
  // answer them in the API's JSON error shape too, then close.
  server.on('clientError', (err: NodeJS.ErrnoException, socket) => {
    if (err.code === 'ECONNRESET' || !socket.writable) return void socket.destroy();
    const status = err.code === 'HPE_HEADER_OVERFLOW' ? 431 : err.code === 'HPE_REQUEST_TIMEOUT' ? 408 : 400;
    const body = JSON.stringify({ error: { code: status === 431 ? 'headers_too_large' : 'bad_request', message: STATUS_CODES[status] ?? 'bad request' } });
    socket.end(`HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
  });
  const redis = config.redisUrl ? await connectRedisAdapter(config.redisUrl, config.redisChannelPrefix, log) : null;
  const io = new Server(server, {
    ...(redis ? { adapter: redis.adapter } : {}),
    path: SOCKET_PATH,
    serveClient: false,
    // Terminal output is already dense; deflate costs more CPU than it saves on a LAN.
    perMessageDeflate: false,
    // Small for everyone until an agent authenticates (realtime/frameLimits.ts); a connection
    // that joins no namespace is closed after connectTimeout.
    maxHttpBufferSize: PUBLIC_FRAME_LIMIT,
    connectTimeout: 10_000,
    pingInterval: 10_000,
    pingTimeout: 20_000,
    connectionStateRecovery: undefined,
  });
  const agents: AgentNamespace = io.of(AGENT_NAMESPACE);
  const viewers: ViewerNamespace = io.of(VIEWER_NAMESPACE);
  const rw = new RwGate(viewers, sessions, log, redis !== null);
  attachAgentGateway({ agents, viewers, tokens: ctx.tokens, runs, sessions, recorder, config, metrics, events: ctx.events, clustered: redis !== null, log });
  attachViewerGateway({ agents, viewers, tokens: ctx.tokens, operatorAuth, runs, metrics, log, rw });
  attachDomainFanout(ctx.events, agents, viewers, rw, operatorSessions, redis !== null);
  const slowViewers = new SlowViewerGuard(viewers, agents, metrics, log, config.viewerBacklogBytes);
  slowViewers.start();

  const lock = database.embedded ? null : new LeaderLock(config.databaseUrl as string, log);
  const sweeper = new SessionSweeper({ runs, sessions, lock, metrics, log, intervalMs: config.sweepIntervalMs });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.port, config.host, () => resolve());
  });
  sweeper.start();
  const port = (server.address() as AddressInfo).port;
  const host = config.host.includes(':') ? `[${config.host}]` : config.host;
  const url = `http://${host === '0.0.0.0' ? '127.0.0.1' : host}:${port}`;
  log.info({ url, database: database.embedded ? 'embedded' : 'postgresql' }, 'hub listening');

  let closed = false;
  return {
    url,
    port,
    config,
    ctx,
    runs,
    sessions,
    operatorAuth,
    sweeper,
    io,
    log,
    database,
    /**
     * Graceful stop: no new connections, every socket's connection closed so its client
     * reconnects (to another hub behind the balancer), sweepers and database released.
     */
    async close() {
      if (closed) return;
      closed = true;
      server.close();
      slowViewers.stop();
      await sweeper.stop();
      for (const nsp of [agents, viewers]) for (const socket of nsp.sockets.values()) socket.conn.close();
      await new Promise<void>((resolve) => io.close(() => resolve()));
      await recorder.close();
      await redis?.close();
      if (ownsDatabase) await database.close();
    },
  };
}
