/**
 * The source folders' import graph (docs/architecture.md §2): no cycle among modules, and hub/
 * is imported by none of agent/, client/, common/. The lint rule checks the second per file; a
 * cycle only shows in the whole graph, which no per-file rule sees.
 * Type-only imports are left out: they vanish at run time, so they cannot make a load-order cycle.
 */
import { expect } from 'chai';
import fs from 'node:fs';
import path from 'node:path';

const ROOT = path.resolve(import.meta.dirname, '../..');
const FOLDERS = ['hub', 'agent', 'cli', 'common', 'client/src'];

function sources(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return sources(p);
    return /\.tsx?$/.test(e.name) && !e.name.endsWith('.d.ts') ? [p] : [];
  });
}

/** Relative value imports (and re-exports) of one file, resolved to files. */
function imports(file: string): string[] {
  const text = fs.readFileSync(file, 'utf8');
  const out: string[] = [];
  for (const m of text.matchAll(/^\s*(?:import|export)\s+(type\s+)?(?:[^'";]*?\s+from\s+)?['"](\.[^'"]+)['"]/gm)) {
    if (m[1]) continue;
    out.push(path.resolve(path.dirname(file), m[2] as string));
  }
  return out;
}

describe('import graph of the source folders', () => {
  const files = FOLDERS.flatMap((f) => sources(path.join(ROOT, f)));
  const graph = new Map(files.map((f) => [f, imports(f).filter((i) => fs.existsSync(i))]));
  const rel = (f: string) => path.relative(ROOT, f);

  it('reads a real graph (the walk finds the files and their imports)', () => {
    expect(files.length).to.be.greaterThan(100);
    expect(graph.get(path.join(ROOT, 'hub/realtime/agentGateway.ts'))?.map(rel)).to.include('hub/domain/commands.ts');
  });

  it('has no import cycle', () => {
    const state = new Map<string, 'open' | 'done'>();
    const cycles: string[] = [];
    const visit = (f: string, trail: string[]) => {
      if (state.get(f) === 'done') return;
      if (state.get(f) === 'open') return void cycles.push([...trail.slice(trail.indexOf(f)), f].map(rel).join(' → '));
      state.set(f, 'open');
      for (const i of graph.get(f) ?? []) visit(i, [...trail, f]);
      state.set(f, 'done');
    };
    for (const f of files) visit(f, []);
    expect(cycles).to.deep.equal([]);
  });

  it('agent/, client/ and common/ never import hub/ (cli/ starts a hub, so it may)', () => {
    const hub = path.join(ROOT, 'hub') + path.sep;
    const guarded = ['agent', 'client', 'common'].map((d) => path.join(ROOT, d) + path.sep);
    const offenders = [...graph].flatMap(([f, is]) => (guarded.some((g) => f.startsWith(g)) ? is.filter((i) => i.startsWith(hub)).map((i) => `${rel(f)} → ${rel(i)}`) : []));
    expect(offenders).to.deep.equal([]);
  });
});
