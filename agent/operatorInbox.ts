/** The run's operator_inbox.jsonl: messages and resume summaries, one JSON object a line. */
import { appendFile } from 'node:fs/promises';

export interface InboxEntry {
  type: 'message' | 'resume_summary';
  id?: number;
  from: string | null;
  message: string;
  at: string;
}

export class OperatorInbox {
  private chain: Promise<void> = Promise.resolve();

  constructor(readonly path: string) {}

  /** Appends in arrival order (writes are chained, never interleaved). */
  append(entry: InboxEntry): Promise<void> {
    this.chain = this.chain.then(() => appendFile(this.path, `${JSON.stringify(entry)}\n`, { mode: 0o600 })).catch(() => undefined);
    return this.chain;
  }
}
