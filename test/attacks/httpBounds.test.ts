/**
 * Unauthenticated HTTP costs and the dashboard's headers (issue 12 item 7–8, architecture §7a):
 * junk requests cannot grow /metrics (labels are route templates, anything else is `unmatched`),
 * and every response — API, dashboard shell, static files, errors — forbids framing and sniffing.
 */
import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { startTestHub } from '../support/testHub.ts';
import type { TestHub } from '../support/testHub.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const JUNK_REQUESTS = 1000;

async function metricsBytes(url: string): Promise<number> {
  return Buffer.byteLength(await (await fetch(`${url}/metrics`)).text());
}

describe('attack: HTTP costs and headers', function () {
  this.timeout(120_000);
  let t: TestHub;

  before(async () => {
    // The hub serves client/dist only if it exists when it starts: build first (< 1 s).
    execFileSync(process.execPath, [`${ROOT}client/build.mjs`], { cwd: ROOT, stdio: 'pipe' });
    t = await startTestHub('postgres');
  });
  after(async () => t?.close());

  it(`${JUNK_REQUESTS} unauthenticated junk requests on random paths leave /metrics bounded`, async () => {
    const before = await metricsBytes(t.url);
    for (let i = 0; i < JUNK_REQUESTS; i += 50) {
      await Promise.all(
        Array.from({ length: 50 }, (_, j) => {
          const junk = randomBytes(8).toString('hex');
          const paths = [`/${junk}`, `/api/${junk}`, `/api/task-runs/${junk}`, `/api/task-runs/${junk}/live-session/report`];
          const path = paths[(i + j) % paths.length];
          const post = (i + j) % 2 === 1;
          return fetch(`${t.url}${path}`, post ? { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{not json' } : {}).then((r) => r.arrayBuffer());
        }),
      );
    }
    const after = await metricsBytes(t.url);
    console.log(`      /metrics: ${before} bytes before, ${after} after ${JUNK_REQUESTS} junk requests`);
    // A few new label sets (unmatched × method × status), never one per path.
    expect(after - before).to.be.lessThan(32 * 1024);
    const text = await (await fetch(`${t.url}/metrics`)).text();
    expect(text).to.not.match(/route="[^"]*[0-9a-f]{16}/);
  });

  it('every response carries the CSP (frame-ancestors none), nosniff, X-Frame-Options and Referrer-Policy', async () => {
    const paths = ['/', '/index.html', '/app.js', '/app.css', '/runs/00000000-0000-4000-8000-000000000000', '/signin', '/healthz', '/metrics', '/api/openapi.json', '/api/task-runs', '/no-such-page'];
    for (const path of paths) {
      const res = await fetch(`${t.url}${path}`);
      await res.arrayBuffer();
      const csp = res.headers.get('content-security-policy') ?? '';
      expect(csp, `${path} CSP`).to.include("frame-ancestors 'none'");
      // What the dashboard's own page needs stays allowed (its bundle, its socket).
      expect(csp, `${path} CSP`).to.include("script-src 'self'").and.include("connect-src 'self' ws: wss:");
      expect(res.headers.get('x-content-type-options'), `${path} nosniff`).to.equal('nosniff');
      expect(res.headers.get('x-frame-options'), `${path} X-Frame-Options`).to.equal('DENY');
      expect(res.headers.get('referrer-policy'), `${path} Referrer-Policy`).to.equal('no-referrer');
    }
  });
});
