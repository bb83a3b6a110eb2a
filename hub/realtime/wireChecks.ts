/** Cheap shape checks for socket event arguments (malformed events are refused, never thrown). */
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export const isRunId = (v: unknown): v is string => typeof v === 'string' && UUID.test(v);
export const isPaneId = (v: unknown): v is string => typeof v === 'string' && v.length > 0 && v.length <= 64;
export const isOffset = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
export const isSize = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 1 && v <= 1000;
export const isBytes = (v: unknown): v is Uint8Array | ArrayBuffer => v instanceof Uint8Array || v instanceof ArrayBuffer;
export const byteLength = (v: Uint8Array | ArrayBuffer) => v.byteLength;
export const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
