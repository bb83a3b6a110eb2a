/** /api/task-runs: operators create, list, read, cancel, control and message; workers claim and complete. */
import { Router } from 'express';
import type { OperatorAuth } from '../../auth/operatorAuth.ts';
import { operatorActor } from '../../domain/actors.ts';
import type { OperatorClaims } from '../../auth/tokens.ts';
import type { TaskRunService } from '../../domain/taskRuns.ts';
import type { TokenService } from '../../auth/tokens.ts';
import type { RecordingStore } from '../../recordings/recordingStore.ts';
import { ASCIICAST_TYPE } from '../../recordings/recordingStore.ts';
import { ApiError, notFound } from '../../domain/errors.ts';
import { assertHolder } from '../../domain/runRecords.ts';
import { assertSameWorker, requireOperator, requireWorker } from '../authMiddleware.ts';
import { cancelBody, claimBody, completeBody, controlBody, createRunBody, eventsQuery, listRunsQuery, messageBody, parse, recordingUploadQuery } from '../../domain/commands.ts';
import { runId } from '../validate.ts';

export function taskRunRoutes(tokens: TokenService, auth: OperatorAuth, runs: TaskRunService, recordings: RecordingStore): Router {
  const r = Router();
  const viewer = requireOperator(auth, 'runs.read');
  const worker = requireWorker(tokens);
  const op = (c: OperatorClaims | undefined) => operatorActor(c!);

  r.post('/task-runs/claim', worker, async (req, res) => {
    const body = parse(claimBody, req.body);
    const workerId = assertSameWorker(req, body.workerId);
    const taskRun = await runs.claim(workerId);
    if (!taskRun) return void res.status(204).end();
    res.json({ taskRun });
  });

  r.post('/task-runs', requireOperator(auth, 'runs.create'), async (req, res) => {
    const body = parse(createRunBody, req.body);
    res.status(201).json({ taskRun: await runs.create(op(req.operator), body) });
  });

  r.get('/task-runs', viewer, async (req, res) => {
    const q = parse(listRunsQuery, req.query, 'query');
    res.json({ taskRuns: await runs.list(q) });
  });

  r.get('/task-runs/:id', viewer, async (req, res) => {
    res.json({ taskRun: await runs.get(runId(req.params.id)) });
  });

  r.post('/task-runs/:id/cancel', requireOperator(auth, 'runs.cancel'), async (req, res) => {
    const id = runId(req.params.id);
    const body = parse(cancelBody, req.body);
    res.json({ taskRun: await runs.cancel(op(req.operator), id, body.reason) });
  });

  r.get('/task-runs/:id/events', viewer, async (req, res) => {
    const id = runId(req.params.id);
    const q = parse(eventsQuery, req.query, 'query');
    res.json({ events: await runs.events(id, q.after) });
  });

  r.get('/task-runs/:id/steps', viewer, async (req, res) => {
    res.json({ steps: await runs.steps(runId(req.params.id)) });
  });

  r.get('/task-runs/:id/recording', viewer, async (req, res) => {
    const id = runId(req.params.id);
    await runs.get(id); // 404 for an unknown run
    if (!(await recordings.has(id))) throw notFound(`task run ${id} has no recording yet`);
    res.type(ASCIICAST_TYPE);
    // HEAD (a client asking whether the recording is there) would read and unpack every part for a body nobody gets
    if (req.method === 'HEAD') return void res.end();
    await recordings.serve(id, `handoff run ${id}`, res);
    res.end();
  });

  // The owning worker may upload its own recording of the run (a run that was not live
  // throughout); the hub keeps whichever of the two holds more output.
  r.put('/task-runs/:id/recording', worker, async (req, res) => {
    const id = runId(req.params.id);
    const workerId = req.worker!.workerId;
    const { attempt } = parse(recordingUploadQuery, req.query, 'query');
    assertHolder(await runs.get(id), workerId, attempt);
    if (!req.is(ASCIICAST_TYPE)) throw new ApiError(415, 'unsupported_media_type', `a recording is uploaded as ${ASCIICAST_TYPE}`);
    res.json(await recordings.saveUpload(id, req));
  });

  r.post('/task-runs/:id/complete', worker, async (req, res) => {
    const id = runId(req.params.id);
    const body = parse(completeBody, req.body);
    const workerId = assertSameWorker(req, body.workerId);
    res.json({ taskRun: await runs.complete(workerId, id, body.attempt, body) });
  });

  r.post('/task-runs/:id/control', requireOperator(auth, 'runs.control'), async (req, res) => {
    const id = runId(req.params.id);
    const body = parse(controlBody, req.body);
    res.json({ taskRun: await runs.control(op(req.operator), id, body) });
  });

  r.post('/task-runs/:id/operator-messages', requireOperator(auth, 'runs.message'), async (req, res) => {
    const id = runId(req.params.id);
    const body = parse(messageBody, req.body);
    res.status(201).json({ event: await runs.message(op(req.operator), id, body.message) });
  });

  return r;
}
