/**
 * docs/protocol.md names every event of common/protocol.ts in the table of its direction, and
 * nothing the event maps do not have: a new event cannot land undocumented.
 */
import { readFileSync } from 'node:fs';
import { expect } from 'chai';

const root = new URL('../../', import.meta.url);
const source = readFileSync(new URL('common/protocol.ts', root), 'utf8');
const page = readFileSync(new URL('docs/protocol.md', root), 'utf8');

/** The event names of one `export interface X { 'event': … }` map. */
function events(map: string): string[] {
  const start = source.indexOf(`export interface ${map} {`);
  expect(start, map).to.be.above(-1);
  const body = source.slice(start, source.indexOf('\n}\n', start));
  return [...body.matchAll(/^ {2}'([a-z:]+)':/gm)].map((m) => m[1] as string).sort();
}

/** The events of the table whose header row begins with `| <header> |`, or that follows `### <header>`. */
function documented(header: string): string[] {
  const at = page.search(new RegExp(`^(### ${header}$|\\| ${header} \\|)`, 'm'));
  expect(at, header).to.be.above(-1);
  const lines = page.slice(at).split('\n');
  const first = lines.findIndex((l) => l.startsWith('| '));
  const rows: string[] = [];
  for (const l of lines.slice(first + 2)) {
    if (!l.startsWith('| ')) break;
    for (const m of (l.split('|')[1] ?? '').matchAll(/`([a-z:]+)`/g)) rows.push(m[1] as string);
  }
  return rows.sort();
}

describe('docs/protocol.md and common/protocol.ts', () => {
  it('document the same events, each in the table of its direction', () => {
    expect(documented('agent → hub')).to.deep.equal(events('AgentToHubEvents'));
    expect(documented('hub → agent')).to.deep.equal(events('HubToAgentEvents'));
    expect(documented('viewer → hub')).to.deep.equal(events('ViewerToHubEvents'));
    expect(documented('hub → viewer')).to.deep.equal(events('HubToViewerEvents'));
  });
});
