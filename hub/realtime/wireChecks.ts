/** Cheap shape checks for socket event arguments (malformed events are refused, never thrown). */
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export const isRunId = (v: unknown): v is string => typeof v === 'string' && UUID.test(v);
/** A short lower-case id ('task', 'operator'): never a name an object already has (`constructor`, `__proto__`). */
const PANE_ID = /^[a-z0-9-]{1,32}$/;
export const isPaneId = (v: unknown): v is string => typeof v === 'string' && PANE_ID.test(v) && v !== 'constructor';
/** Runs one agent may list in a hello or a heartbeat (capacity is at most 256, plus runs ending). */
export const MAX_AGENT_RUNS = 1024;
export const isOffset = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
export const isSize = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 1 && v <= 1000;
export const isBytes = (v: unknown): v is Uint8Array | ArrayBuffer => v instanceof Uint8Array || v instanceof ArrayBuffer;
export const byteLength = (v: Uint8Array | ArrayBuffer) => v.byteLength;
export const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
