/**
 * Asciicast v2 recordings of runs, kept in the data folder. The agent records its run (it has
 * every byte, even while the hub is away) and uploads the file when the run ends.
 */
import { createWriteStream } from 'node:fs';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { Readable } from 'node:stream';

export const MAX_RECORDING_BYTES = 2 * 1024 ** 3;

export class RecordingStore {
  private readonly dir: string;

  constructor(dataDir: string) {
    this.dir = join(dataDir, 'recordings');
  }

  private file(runId: string) {
    return join(this.dir, `${runId}.cast`);
  }

  async pathIfExists(runId: string): Promise<string | null> {
    try {
      const s = await stat(this.file(runId));
      return s.isFile() ? this.file(runId) : null;
    } catch {
      return null;
    }
  }

  /** Stores a recording atomically (temp file + rename), refusing more than the limit. */
  async save(runId: string, body: Readable): Promise<number> {
    await mkdir(this.dir, { recursive: true });
    const tmp = `${this.file(runId)}.${process.pid}.${Date.now()}.tmp`;
    let bytes = 0;
    try {
      await pipeline(
        body,
        async function* (source: AsyncIterable<Buffer>) {
          for await (const chunk of source) {
            bytes += chunk.length;
            if (bytes > MAX_RECORDING_BYTES) throw new Error('recording too large');
            yield chunk;
          }
        },
        createWriteStream(tmp),
      );
      await rename(tmp, this.file(runId));
      return bytes;
    } catch (err) {
      await rm(tmp, { force: true });
      throw err;
    }
  }
}
