/** The Express application: REST API, health, metrics, OpenAPI, and the dashboard's static files. */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import express from 'express';
import type { NextFunction, Request, Response } from 'express';
import { DriverException } from '@mikro-orm/core';
import type { Logger } from 'pino';
import type { MikroORM } from '@mikro-orm/postgresql';
import type { TokenService } from '../auth/tokens.ts';
import { isDatabaseDown } from '../db/databaseDown.ts';
import { ApiError } from '../domain/errors.ts';
import type { LiveSessionService } from '../domain/liveSessions.ts';
import type { TaskRunService } from '../domain/taskRuns.ts';
import type { HubMetrics } from '../metrics.ts';
import type { RecordingStore } from '../recordings/recordingStore.ts';
import { buildOpenApi } from './openapi.ts';
import { securityHeaders } from './securityHeaders.ts';
import type { OperatorAuth } from '../auth/operatorAuth.ts';
import { liveSessionRoutes } from './routes/liveSessionRoutes.ts';
import { operatorSessionRoutes } from './routes/operatorSessionRoutes.ts';
import type { OidcSignIn } from '../auth/oidcSignIn.ts';
import { authRoutes } from './routes/authRoutes.ts';
import { taskRunRoutes } from './routes/taskRunRoutes.ts';

const CLIENT_DIST = fileURLToPath(new URL('../../client/dist/', import.meta.url));

export interface AppDeps {
  orm: MikroORM;
  tokens: TokenService;
  operatorAuth: OperatorAuth;
  runs: TaskRunService;
  sessions: LiveSessionService;
  recordings: RecordingStore;
  metrics: HubMetrics;
  log: Logger;
  publicUrl: string | undefined;
  /** OpenID Connect sign-in; null when not configured (development sign-in only). */
  oidc?: OidcSignIn | null;
}

/** The error code of a client error Express or a middleware raised with only a status. */
const CLIENT_ERROR_CODES: Record<number, string> = { 401: 'unauthorized', 403: 'forbidden', 404: 'not_found', 405: 'method_not_allowed', 413: 'payload_too_large', 415: 'unsupported_media_type' };

export function createApp(deps: AppDeps): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', 'loopback');
  app.use(securityHeaders);

  app.use((req, res, next) => {
    const end = deps.metrics.httpDuration.startTimer();
    res.on('finish', () => {
      // Labels from route templates only: a raw path would let anyone grow /metrics without bound.
      const template = req.route?.path as string | RegExp | undefined;
      const route = template !== undefined ? `${req.baseUrl}${String(template)}` : res.locals.staticFile && res.statusCode < 400 ? 'static' : 'unmatched';
      const labels = { method: req.method, route };
      end(labels);
      deps.metrics.httpRequests.inc({ ...labels, status: String(res.statusCode) });
    });
    next();
  });

  app.get('/healthz', (_req, res) => void res.json({ status: 'ok' }));
  app.get('/readyz', async (_req, res) => {
    try {
      await deps.orm.em.getConnection().execute('select 1');
      res.json({ status: 'ready' });
    } catch {
      res.status(503).json({ error: { code: 'unavailable', message: 'database unavailable' } });
    }
  });
  app.get('/metrics', async (_req, res) => {
    res.type(deps.metrics.registry.contentType).send(await deps.metrics.registry.metrics());
  });
  const openapi = buildOpenApi(deps.publicUrl, { oidc: !!deps.oidc });
  app.get('/api/openapi.json', (_req, res) => void res.json(openapi));
  authRoutes(app, { auth: deps.operatorAuth, oidc: deps.oidc ?? null, publicUrl: deps.publicUrl, log: deps.log });

  const api = express.Router();
  api.use(express.json({ limit: '1mb', strict: false }));
  api.use(taskRunRoutes(deps.tokens, deps.operatorAuth, deps.runs, deps.recordings));
  api.use(liveSessionRoutes(deps.tokens, deps.operatorAuth, deps.sessions));
  api.use(operatorSessionRoutes(deps.operatorAuth));
  api.use((req, _res, next) => next(new ApiError(404, 'not_found', `no route ${req.method} ${req.baseUrl}${req.path}`)));
  app.use('/api', api);

  if (existsSync(CLIENT_DIST)) {
    // The bundle's file names carry no content hash: browsers revalidate (ETag) on every load,
    // so a rebuilt dashboard is never mixed with a cached older one.
    app.use(express.static(CLIENT_DIST, { index: 'index.html', maxAge: 0, setHeaders: (res) => void (res.locals.staticFile = true) }));
    // The dashboard routes its own paths (/runs/…); serve its shell for them.
    app.get(/^\/(runs|signin)(\/.*)?$/, (_req, res) => res.sendFile('index.html', { root: CLIENT_DIST }));
  }

  // Anything else is unknown: answered in the API's error shape, not Express's HTML page.
  app.use((req, _res, next) => next(new ApiError(404, 'not_found', `no route ${req.method} ${req.path}`)));

  app.use((err: unknown, req: Request, res: Response, _next: NextFunction) => {
    if (err instanceof ApiError) return void res.status(err.status).json(err.toBody());
    const type = (err as { type?: unknown })?.type;
    if (type === 'entity.parse.failed') return void res.status(422).json({ error: { code: 'invalid_json', message: 'request body is not valid JSON' } });
    if (type === 'entity.too.large') return void res.status(413).json({ error: { code: 'payload_too_large', message: 'request body is too large' } });
    if (type === 'charset.unsupported' || type === 'encoding.unsupported') return void res.status(415).json({ error: { code: 'unsupported_media_type', message: String((err as Error).message) } });
    // Other client errors raised by Express itself (e.g. a path parameter that is not valid percent-encoding: URIError, status 400).
    const status = (err as { status?: unknown })?.status;
    if (typeof status === 'number' && status >= 400 && status < 500) return void res.status(status).json({ error: { code: CLIENT_ERROR_CODES[status] ?? 'bad_request', message: String((err as Error).message) } });
    if (isDatabaseDown(err)) {
      deps.log.warn({ err: (err as Error).message, path: req.path }, 'database unavailable');
      return void res.status(503).json({ error: { code: 'unavailable', message: 'database unavailable, try again shortly' } });
    }
    if (err instanceof DriverException) deps.log.error({ err: err.message, path: req.path }, 'database error');
    else deps.log.error({ err, path: req.path }, 'unhandled error');
    res.status(500).json({ error: { code: 'internal', message: 'internal error' } });
  });
  return app;
}
