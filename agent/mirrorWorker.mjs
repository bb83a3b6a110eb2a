// Worker entry: workers do not inherit loader hooks registered with module.register(), so
// register tsx here before loading the TypeScript worker.
import { register } from 'tsx/esm/api';

register();
await import('./mirrorWorker.ts');
