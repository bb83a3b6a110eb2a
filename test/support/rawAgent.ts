/**
 * Raw agent sockets for the attack suites: a worker speaking the protocol by hand (docs/protocol.md),
 * so a test can send what a real agent never would. Each socket is kept for closeAll().
 */
import { expect } from 'chai';
import type { Socket } from 'socket.io-client';
import type { TaskRunDto } from '../../common/api.ts';
import type { Ack } from '../../common/protocol.ts';
import { PROTOCOL_VERSION } from '../../common/protocol.ts';
import { connectSocket } from './processes.ts';

export interface RawAgentOptions {
  /** Send `agent:hello` (with no runs) and expect it accepted; default true. */
  hello?: boolean;
}

export class RawAgents {
  private readonly sockets: Socket[] = [];

  constructor(
    private readonly url: string,
    private readonly workerToken: (workerId: string) => string,
  ) {}

  /** A connected agent socket of `workerId`; it answers snapshot requests with no panes (a viewer's join is answered at once). */
  async connect(workerId: string, opts: RawAgentOptions = {}): Promise<Socket> {
    const s = await connectSocket(this.url, '/agent', { token: this.workerToken(workerId) });
    this.sockets.push(s);
    s.on('run:snapshot', (_runId: string, _paneId: string | null, _opts: unknown, ack: (a: Ack<unknown[]>) => void) => ack({ ok: true, data: [] }));
    if (opts.hello ?? true) {
      const hello = (await s.timeout(5000).emitWithAck('agent:hello', { protocol: PROTOCOL_VERSION, workerId, hostname: 'h', capacity: 2, runs: [] })) as Ack<unknown>;
      expect(hello.ok, JSON.stringify(hello)).to.equal(true);
    }
    return s;
  }

  /** Claims the next queued run on `s`; fails the test when there is none. */
  async claim(s: Socket): Promise<TaskRunDto> {
    const reply = (await s.timeout(5000).emitWithAck('run:claim')) as Ack<{ taskRun: TaskRunDto | null }>;
    const run = reply.ok ? reply.data.taskRun : null;
    expect(run, `a claimed run (${JSON.stringify(reply).slice(0, 200)})`).to.not.equal(null);
    return run as TaskRunDto;
  }

  /** Keeps another socket (a viewer) to close with the agents. */
  keep(s: Socket): Socket {
    this.sockets.push(s);
    return s;
  }

  closeAll(): void {
    for (const s of this.sockets.splice(0)) s.close();
  }
}
