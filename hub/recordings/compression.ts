/**
 * Recording parts are stored zstd-compressed (level 1, on libuv's thread pool) in a column the
 * store does not compress again: the store's own pglz spent ~19 % of the hub's CPU while output
 * flowed, and gave up on text like base64 after trying. zstd-1 costs ~3 ms per MB of base64
 * (saving a quarter) and well under 1 ms on repetitive logs (saving ~99 %).
 *
 * zlib's zstd functions exist from Node 22.15 (the hub needs ≥ 22.17); @types/node 20 does not
 * declare them yet, hence the narrow typing here.
 */
import zlib from 'node:zlib';

type ZstdCallback = (err: Error | null, result: Buffer) => void;
interface ZstdZlib {
  zstdCompress(buf: Buffer, options: { params: Record<number, number> }, cb: ZstdCallback): void;
  zstdDecompress(buf: Buffer, cb: ZstdCallback): void;
  constants: { ZSTD_c_compressionLevel: number };
}

const z = zlib as unknown as Partial<ZstdZlib>;
if (typeof z.zstdCompress !== 'function' || typeof z.zstdDecompress !== 'function' || !z.constants) {
  throw new Error(`recordings need zstd in node:zlib (Node ≥ 22.15); this is Node ${process.versions.node}`);
}
const zstd = z as ZstdZlib;
const LEVEL = { params: { [zstd.constants.ZSTD_c_compressionLevel]: 1 } };

export function compress(data: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => zstd.zstdCompress(data, LEVEL, (err, out) => (err ? reject(err) : resolve(out))));
}

export function decompress(data: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => zstd.zstdDecompress(data, (err, out) => (err ? reject(err) : resolve(out))));
}
