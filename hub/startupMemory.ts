/**
 * A hub's start (imports, the embedded store's recovery and migrations) grows V8's heap to some
 * 90 MiB, the young generation at its largest, of which half is live afterwards. V8 hands the rest
 * back in a memory-reducing collection only once it has seen the process allocate little for 8 s
 * after a full collection, so an idle hub held it for its first 10-20 s, or longer when that
 * check fell in the start. One such collection as the start ends gives it back at once
 * (bench/README.md: idle hub RSS).
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/** V8's `gc` extension: a "last resort" major collection is the one that shrinks the heap. */
type GcExtension = (options: { type: 'major'; execution: 'sync'; flavor: 'last-resort' }) => void;

/** Runs one memory-reducing full collection (a pause of ~0.1-0.2 s on a started hub). */
export function releaseStartupMemory(): void {
  // The extension is installed in contexts created while the flag is on: one context, then off.
  setFlagsFromString('--expose-gc');
  let gc: GcExtension;
  try {
    gc = runInNewContext('gc') as GcExtension;
  } finally {
    setFlagsFromString('--no-expose-gc');
  }
  gc({ type: 'major', execution: 'sync', flavor: 'last-resort' });
}
