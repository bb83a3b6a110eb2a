/** /api/task-runs/{id}/live-session…: the live handoff contract (architecture §4, kept as specified). */
import { Router } from 'express';
import type { OperatorAuth } from '../../auth/operatorAuth.ts';
import { operatorActor } from '../../domain/actors.ts';
import type { OperatorClaims, TokenService } from '../../auth/tokens.ts';
import type { LiveSessionService } from '../../domain/liveSessions.ts';
import { assertSameWorker, requireOperator, requireWorker } from '../authMiddleware.ts';
import { enableBody, grantWriteBody, heartbeatBody, parse, reportBody, revokeBody } from '../../domain/commands.ts';
import { runId } from '../validate.ts';

export function liveSessionRoutes(tokens: TokenService, auth: OperatorAuth, sessions: LiveSessionService): Router {
  const r = Router();
  const worker = requireWorker(tokens);
  const op = (c: OperatorClaims | undefined) => operatorActor(c!);
  const base = '/task-runs/:id/live-session';

  r.post(base, requireOperator(auth, 'session.enable'), async (req, res) => {
    const id = runId(req.params.id);
    parse(enableBody, req.body);
    res.json({ session: await sessions.enable(op(req.operator), id) });
  });

  r.get(base, requireOperator(auth, 'runs.read'), async (req, res) => {
    res.json({ session: await sessions.get(runId(req.params.id)) });
  });

  r.post(`${base}/grant-write`, requireOperator(auth, 'session.grantWrite'), async (req, res) => {
    const id = runId(req.params.id);
    const body = parse(grantWriteBody, req.body);
    res.json(await sessions.grantWrite(op(req.operator), id, body.ttlMinutes));
  });

  r.post(`${base}/revoke-write`, requireOperator(auth, 'session.revokeWrite'), async (req, res) => {
    const id = runId(req.params.id);
    const body = parse(revokeBody, req.body);
    res.json({ session: await sessions.revokeWrite(op(req.operator), id, body.reason) });
  });

  r.post(`${base}/revoke`, requireOperator(auth, 'session.revoke'), async (req, res) => {
    const id = runId(req.params.id);
    const body = parse(revokeBody, req.body);
    res.json({ session: await sessions.revoke(op(req.operator), id, body.reason) });
  });

  r.post(`${base}/report`, worker, async (req, res) => {
    const id = runId(req.params.id);
    const body = parse(reportBody, req.body);
    const workerId = assertSameWorker(req, body.workerId);
    res.json({ session: await sessions.report(workerId, { ...body, runId: id }) });
  });

  r.post(`${base}/heartbeat`, worker, async (req, res) => {
    const id = runId(req.params.id);
    const body = parse(heartbeatBody, req.body);
    const workerId = assertSameWorker(req, body.workerId);
    res.json({ session: await sessions.heartbeat(workerId, id, body.attempt) });
  });

  return r;
}
