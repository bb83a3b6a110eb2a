/**
 * Builds the operator dashboard: client/src → client/dist/{index.html, app.js, app.css} (+ source
 * maps). Everything the page needs is bundled (xterm and its CSS, socket.io-client, shared code
 * from common/); the page makes no request outside the hub it is served from.
 *
 *   node client/build.mjs            one minified build (what `npm run build` runs)
 *   node client/build.mjs --watch    rebuild on change, unminified
 */
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';

const root = fileURLToPath(new URL('.', import.meta.url));
const outdir = `${root}dist`;
const watch = process.argv.includes('--watch');

// The page's CSP is an HTTP header the hub sends (hub/http/securityHeaders.ts): a <meta> CSP
// cannot forbid framing.
const INDEX_HTML = `<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8" />
    <meta name="viewport" content="width=device-width, initial-scale=1" />
    <meta name="referrer" content="no-referrer" />
    <title>handoff</title>
    <link rel="icon" href="data:," />
    <link rel="stylesheet" href="/app.css" />
    <script type="module" src="/app.js"></script>
  </head>
  <body>
    <div id="app"><noscript>The handoff dashboard needs JavaScript.</noscript></div>
  </body>
</html>
`;

/** @type {import('esbuild').BuildOptions} */
const options = {
  entryPoints: [
    { in: `${root}src/main.ts`, out: 'app' },
    { in: `${root}src/app.css`, out: 'app' },
  ],
  outdir,
  bundle: true,
  format: 'esm',
  platform: 'browser',
  target: ['es2022', 'chrome110', 'firefox110', 'safari16'],
  minify: !watch,
  sourcemap: true,
  legalComments: 'linked',
  loader: { '.woff': 'file', '.woff2': 'file', '.ttf': 'file', '.svg': 'file', '.png': 'file' },
  assetNames: 'assets/[name]-[hash]',
  define: { 'process.env.NODE_ENV': watch ? '"development"' : '"production"' },
  logLevel: 'warning',
  metafile: true,
};

const writeIndex = {
  name: 'index-html',
  setup(build) {
    build.onEnd(async (result) => {
      if (!result.errors.length) await writeFile(`${outdir}/index.html`, INDEX_HTML);
    });
  },
};

await rm(outdir, { recursive: true, force: true });
await mkdir(outdir, { recursive: true });
if (watch) {
  const ctx = await esbuild.context({ ...options, plugins: [writeIndex] });
  await ctx.watch();
  console.log(`watching client/src → ${outdir}`);
} else {
  const started = Date.now();
  const result = await esbuild.build({ ...options, plugins: [writeIndex] });
  const bytes = Object.values(result.metafile.outputs).reduce((n, o) => n + o.bytes, 0);
  console.log(`client built in ${Date.now() - started} ms → ${outdir} (${Math.round(bytes / 1024)} KiB with maps)`);
}
