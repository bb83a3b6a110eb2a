/** Tokens (architecture §7): each kind only as itself, expiry, signature, `alg: none`, another secret. */
import { expect } from 'chai';
import { createHmac, randomUUID } from 'node:crypto';
import jwt from 'jsonwebtoken';
import { roleAtLeast } from '../../common/policy.ts';
import { parseDuration, TokenError, TokenService } from '../../hub/auth/tokens.ts';

const SECRET = 'unit-test-secret-0123456789abcdef0123456789';
const OTHER_SECRET = 'another-secret-0123456789abcdef0123456789ab';

const b64url = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');

function decode(token: string): { header: Record<string, unknown>; payload: Record<string, unknown> } {
  const [h, p] = token.split('.');
  return { header: JSON.parse(Buffer.from(h as string, 'base64url').toString()), payload: JSON.parse(Buffer.from(p as string, 'base64url').toString()) };
}

/** Signs header + payload by hand with HS256 (so a test can forge exactly what it wants). */
function handSign(header: Record<string, unknown>, payload: Record<string, unknown>, secret: string): string {
  const head = `${b64url(header)}.${b64url(payload)}`;
  return `${head}.${createHmac('sha256', secret).update(head).digest('base64url')}`;
}

function rejects(fn: () => unknown, message?: RegExp): void {
  try {
    fn();
  } catch (err) {
    expect(err).to.be.instanceOf(TokenError);
    if (message) expect((err as Error).message).to.match(message);
    return;
  }
  expect.fail('token was accepted');
}

describe('tokens', () => {
  const tokens = new TokenService(SECRET);
  const inAnHour = () => Date.now() + 3600_000;
  const mintGrant = (expiresAt = inAnHour()) =>
    tokens.mintGrant({ runId: randomUUID(), sessionId: randomUUID(), grantee: 'alice', generation: 3, expiresAt });

  it('verifies each kind as itself, with its claims', () => {
    const op = tokens.verifyOperator(tokens.mintOperator('alice', 'operator'));
    expect(op).to.deep.include({ kind: 'operator', sub: 'alice', role: 'operator', idp: 'handoff:dev', name: null });
    // every operator token belongs to an operator session (a fresh one for a development token)
    expect(op.sid).to.match(/^[0-9a-f-]{36}$/);
    expect(tokens.verifyOperator(tokens.mintOperator('alice', 'operator', 60, { sid: op.sid, idp: 'https://idp.example', name: 'Alice A.' }))).to.deep.include({ sid: op.sid, idp: 'https://idp.example', name: 'Alice A.' });
    expect(tokens.verifyWorker(tokens.mintWorker('w-1'))).to.deep.equal({ kind: 'worker', workerId: 'w-1' });
    const runId = randomUUID();
    const sessionId = randomUUID();
    const expiresAt = Math.floor(inAnHour() / 1000) * 1000;
    const { token, jti } = tokens.mintGrant({ runId, sessionId, grantee: 'bob', generation: 2, expiresAt });
    expect(tokens.verifyGrant(token)).to.deep.equal({ kind: 'rw-grant', runId, sessionId, grantee: 'bob', generation: 2, jti, expiresAt });
  });

  it('uses HS256 and gives each grant its own jti', () => {
    const a = mintGrant();
    const b = mintGrant();
    expect(a.jti).not.to.equal(b.jti);
    expect(decode(a.token).header['alg']).to.equal('HS256');
    expect(decode(tokens.mintOperator('x', 'viewer')).header['alg']).to.equal('HS256');
    expect(decode(tokens.mintWorker('w')).header['alg']).to.equal('HS256');
  });

  it('a grant expires no later than asked', () => {
    const until = Date.now() + 5 * 60_000;
    const { token } = mintGrant(until);
    expect((decode(token).payload['exp'] as number) * 1000).to.be.at.most(until);
  });

  describe('a token of one kind is never accepted as another', () => {
    const kinds = {
      operator: () => tokens.mintOperator('alice', 'admin'),
      worker: () => tokens.mintWorker('w-1'),
      grant: () => mintGrant().token,
    };
    const verifiers = {
      operator: (t: string) => tokens.verifyOperator(t),
      worker: (t: string) => tokens.verifyWorker(t),
      grant: (t: string) => tokens.verifyGrant(t),
    };
    for (const [kind, mint] of Object.entries(kinds)) {
      for (const [as, verify] of Object.entries(verifiers)) {
        if (kind === as) continue;
        it(`${kind} token refused as ${as}`, () => rejects(() => verify(mint()), /invalid token/));
      }
    }
  });

  it('refuses expired tokens of every kind, saying so', () => {
    rejects(() => tokens.verifyOperator(tokens.mintOperator('alice', 'admin', -10)), /expired/);
    rejects(() => tokens.verifyWorker(tokens.mintWorker('w-1', -10)), /expired/);
    rejects(() => tokens.verifyGrant(mintGrant(Date.now() - 10_000).token), /expired/);
  });

  it('refuses a token whose signature was tampered with', () => {
    const t = tokens.mintOperator('alice', 'viewer');
    const [h, , sig] = t.split('.');
    // Same signature, payload promoted to admin.
    const forged = `${h}.${b64url({ ...decode(t).payload, role: 'admin' })}.${sig}`;
    rejects(() => tokens.verifyOperator(forged), /invalid token/);
    // Signature bytes flipped.
    const s = Buffer.from(sig as string, 'base64url');
    s[0] = (s[0] as number) ^ 0xff;
    rejects(() => tokens.verifyOperator(`${t.split('.').slice(0, 2).join('.')}.${s.toString('base64url')}`), /invalid token/);
  });

  it('refuses a hand-crafted `alg: none` token', () => {
    const now = Math.floor(Date.now() / 1000);
    const payload = { role: 'admin', sub: 'mallory', sid: randomUUID(), idp: 'handoff:dev', aud: 'handoff:operator', iss: 'handoff', iat: now, exp: now + 3600 };
    const none = `${b64url({ alg: 'none', typ: 'JWT' })}.${b64url(payload)}.`;
    rejects(() => tokens.verifyOperator(none));
    const noneWorker = `${b64url({ alg: 'none', typ: 'JWT' })}.${b64url({ sub: 'w-1', aud: 'handoff:worker', iss: 'handoff', iat: now, exp: now + 3600 })}.`;
    rejects(() => tokens.verifyWorker(noneWorker));
    // And with the claims otherwise valid, the same payload signed properly is accepted: the refusal is the alg.
    expect(tokens.verifyOperator(handSign({ alg: 'HS256', typ: 'JWT' }, payload, SECRET)).role).to.equal('admin');
    // a session id that names no possible session (not a UUID) is refused before any lookup
    rejects(() => tokens.verifyOperator(handSign({ alg: 'HS256', typ: 'JWT' }, { ...payload, sid: "x' or 1=1" }, SECRET)), /invalid token/);
    rejects(() => tokens.verifyOperator(handSign({ alg: 'HS256', typ: 'JWT' }, { ...payload, sid: undefined }, SECRET)), /no operator session/);
  });

  it('refuses a token re-signed with another secret', () => {
    const other = new TokenService(OTHER_SECRET);
    rejects(() => tokens.verifyOperator(other.mintOperator('alice', 'admin')), /invalid token/);
    rejects(() => tokens.verifyWorker(other.mintWorker('w-1')), /invalid token/);
    const g = other.mintGrant({ runId: randomUUID(), sessionId: randomUUID(), grantee: 'a', generation: 0, expiresAt: inAnHour() });
    rejects(() => tokens.verifyGrant(g.token), /invalid token/);
    // The very payload of a valid token, re-signed with another key.
    const { payload } = decode(tokens.mintOperator('alice', 'admin'));
    rejects(() => tokens.verifyOperator(handSign({ alg: 'HS256', typ: 'JWT' }, payload, OTHER_SECRET)), /invalid token/);
  });

  it('refuses another algorithm even with the right secret (HS512)', () => {
    const t = jwt.sign({ role: 'admin' }, SECRET, { algorithm: 'HS512', subject: 'a', audience: 'handoff:operator', issuer: 'handoff', expiresIn: 60 });
    rejects(() => tokens.verifyOperator(t));
  });

  it('refuses a wrong issuer, an unknown role and a missing subject', () => {
    const now = Math.floor(Date.now() / 1000);
    const base = { aud: 'handoff:operator', iss: 'handoff', iat: now, exp: now + 60 };
    rejects(() => tokens.verifyOperator(handSign({ alg: 'HS256' }, { ...base, sub: 'a', role: 'admin', iss: 'someone-else' }, SECRET)));
    rejects(() => tokens.verifyOperator(handSign({ alg: 'HS256' }, { ...base, sub: 'a', role: 'root' }, SECRET)));
    rejects(() => tokens.verifyOperator(handSign({ alg: 'HS256' }, { ...base, role: 'admin' }, SECRET)));
    rejects(() => tokens.verifyWorker(handSign({ alg: 'HS256' }, { ...base, aud: 'handoff:worker' }, SECRET)));
  });

  it('keeps every kind within its maximum lifetime, minting and verifying (a --ttl of 99999999d is refused)', () => {
    rejects(() => tokens.mintOperator('a', 'admin', parseDuration('99999999d')), /operator tokens live at most 30d/);
    rejects(() => tokens.mintOperator('a', 'admin', 31 * 86400), /30d/);
    rejects(() => tokens.mintWorker('w', 401 * 86400), /400d/);
    expect(tokens.verifyOperator(tokens.mintOperator('a', 'admin', 30 * 86400)).sub).to.equal('a');
    // signed with the hub's secret but claiming more than the maximum, or nothing about when it was issued
    const now = Math.floor(Date.now() / 1000);
    const op = { aud: 'handoff:operator', iss: 'handoff', sub: 'a', role: 'admin' };
    rejects(() => tokens.verifyOperator(handSign({ alg: 'HS256' }, { ...op, iat: now, exp: now + 31 * 86400 }, SECRET)), /lifetime/);
    rejects(() => tokens.verifyOperator(handSign({ alg: 'HS256' }, { ...op, exp: now + 60 }, SECRET)), /lifetime/);
    rejects(() => tokens.verifyOperator(handSign({ alg: 'HS256' }, { ...op, iat: now, exp: 8.6e24 }, SECRET)));
    rejects(() => tokens.verifyGrant(mintGrant(Date.now() + 2 * 86400_000).token), /lifetime/);
  });

  it('refuses garbage', () => {
    for (const t of ['', 'garbage', 'a.b.c', 'Bearer x']) {
      rejects(() => tokens.verifyOperator(t));
      rejects(() => tokens.verifyWorker(t));
      rejects(() => tokens.verifyGrant(t));
    }
  });

  it('ranks roles viewer < operator < admin', () => {
    expect(roleAtLeast('viewer', 'viewer')).to.equal(true);
    expect(roleAtLeast('viewer', 'operator')).to.equal(false);
    expect(roleAtLeast('operator', 'operator')).to.equal(true);
    expect(roleAtLeast('operator', 'admin')).to.equal(false);
    expect(roleAtLeast('admin', 'viewer')).to.equal(true);
  });

  it('parses token lifetimes', () => {
    expect(parseDuration('90')).to.equal(90);
    expect(parseDuration('15m')).to.equal(900);
    expect(parseDuration('8h')).to.equal(28_800);
    expect(parseDuration('7d')).to.equal(604_800);
    expect(() => parseDuration('soon')).to.throw(TokenError);
  });
});
