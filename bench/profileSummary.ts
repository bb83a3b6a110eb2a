/**
 * Lists the top self-time functions (and packages) of V8 CPU profiles (`node --cpu-prof`).
 *
 *   node bin/run-ts.js bench/profileSummary.ts FILE.cpuprofile… [--top 15]
 */
import { formatProfile, summarizeProfile } from './lib/profile.ts';

const args = process.argv.slice(2);
const topAt = args.indexOf('--top');
const top = topAt >= 0 ? Number(args[topAt + 1]) : 15;
const files = args.filter((a, i) => !a.startsWith('--') && (topAt < 0 || i !== topAt + 1));
if (!files.length) {
  process.stderr.write('usage: node bin/run-ts.js bench/profileSummary.ts FILE.cpuprofile… [--top N]\n');
  process.exit(2);
}
for (const f of files) process.stdout.write(`${formatProfile(summarizeProfile(f, top), f, top)}\n\n`);
