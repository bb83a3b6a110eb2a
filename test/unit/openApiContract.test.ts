/** The contract checker of the REST tests refuses what the document does not say (test/support/openApiContract.ts). */
import { expect } from 'chai';
import { buildOpenApi } from '../../hub/http/openapi.ts';
import type { OpenApiDoc } from '../support/openApiContract.ts';
import { OpenApiContract } from '../support/openApiContract.ts';

const json = (body: unknown, status = 200) => ({ status, contentType: 'application/json; charset=utf-8', text: JSON.stringify(body) });
const error = (status: number, code: string) => json({ error: { code, message: 'm' } }, status);

describe('OpenAPI contract checker', () => {
  const contract = new OpenApiContract(buildOpenApi() as unknown as OpenApiDoc);
  const id = '6f1c1d0e-3a8b-4a43-9a39-1f2b4c5d6e7f';

  it('passes answers the document describes', () => {
    contract.check('GET', '/healthz', json({ status: 'ok' }));
    contract.check('GET', `/api/task-runs/${id}/events?after=3`, json({ events: [] }));
    contract.check('GET', `/api/task-runs/${id}/events?after=-1`, error(422, 'invalid_payload'));
    contract.check('POST', '/api/task-runs/claim', { status: 204, contentType: null, text: '' });
    contract.check('GET', '/metrics', { status: 200, contentType: 'text/plain; version=0.0.4', text: '# HELP x\n' });
    contract.check('GET', `/api/task-runs/${id}`, error(500, 'internal')); // `default`
    contract.check('GET', '/api/nothing-here', error(404, 'not_found'));
  });

  it('refuses an undocumented status, a body off its schema, an unknown error code, a wrong type, a body where none is documented', () => {
    expect(() => contract.check('GET', `/api/task-runs/${id}`, error(409, 'conflict'))).to.throw(/409 is not documented for getTaskRun/);
    expect(() => contract.check('GET', '/healthz', json({ status: 'fine' }))).to.throw(/does not match the document/);
    expect(() => contract.check('GET', `/api/task-runs/${id}`, error(404, 'gone'))).to.throw(/does not match the document/);
    expect(() => contract.check('GET', `/api/task-runs/${id}/events`, json({ events: [{ id: 'x' }] }))).to.throw(/does not match the document/);
    expect(() => contract.check('GET', '/metrics', json({}))).to.throw(/content type/);
    expect(() => contract.check('POST', '/api/task-runs/claim', { status: 204, contentType: 'text/plain', text: 'x' })).to.throw(/no body/);
    expect(() => contract.check('GET', '/api/nothing-here', json({}, 200))).to.throw(/no operation/);
  });
});
