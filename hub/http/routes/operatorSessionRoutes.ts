/** /api/operator-sessions: an admin lists who is signed in and ends one session or all of a person's (architecture §7). */
import { Router } from 'express';
import type { OperatorAuth } from '../../auth/operatorAuth.ts';
import type { OperatorClaims } from '../../auth/tokens.ts';
import { notFound } from '../../domain/errors.ts';
import { requireOperator } from '../authMiddleware.ts';
import { endSessionsBody, operatorSessionsQuery, parse, runIdParam } from '../../domain/commands.ts';

/** How an ending admin is recorded on the session row. */
export const endedByOf = (c: OperatorClaims) => `${c.idp} ${c.sub}`;

export function operatorSessionRoutes(auth: OperatorAuth): Router {
  const r = Router();

  r.get('/operator-sessions', requireOperator(auth, 'operatorSessions.read'), async (req, res) => {
    const q = parse(operatorSessionsQuery, req.query, 'query');
    res.json({ sessions: await auth.sessions.listActive(q) });
  });

  r.post('/operator-sessions/end', requireOperator(auth, 'operatorSessions.end'), async (req, res) => {
    const body = parse(endSessionsBody, req.body);
    res.json({ ended: await auth.sessions.end(body, endedByOf(req.operator!)) });
  });

  r.post('/operator-sessions/:sid/end', requireOperator(auth, 'operatorSessions.end'), async (req, res) => {
    const raw: unknown = req.params.sid;
    if (typeof raw !== 'string' || !runIdParam.safeParse(raw).success) throw notFound(`operator session ${String(raw).slice(0, 100)} not found`);
    const sid = raw;
    const existing = await auth.sessions.get(sid);
    if (!existing) throw notFound(`operator session ${sid} not found`);
    const ended = await auth.sessions.end({ id: sid }, endedByOf(req.operator!));
    res.json({ session: ended[0] ?? existing });
  });

  return r;
}
