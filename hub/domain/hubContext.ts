/** What the domain services need, built once per hub process. */
import type { MikroORM } from '@mikro-orm/postgresql';
import type { EntityManager } from '@mikro-orm/postgresql';
import type { Logger } from 'pino';
import type { ControlEventDto } from '../../common/api.ts';
import type { ControlAction } from '../../common/statuses.ts';
import type { HubConfig } from '../config.ts';
import type { SealedBox } from '../auth/sealedBox.ts';
import type { TokenService } from '../auth/tokens.ts';
import { TaskRunControlEvent } from '../db/entities.ts';
import type { Actor } from './actors.ts';
import { actorMetadata, actorUserId } from './actors.ts';
import type { HubEvents } from './hubEvents.ts';
import { eventDto } from './serializers.ts';

export interface HubContext {
  orm: MikroORM;
  config: HubConfig;
  events: HubEvents;
  tokens: TokenService;
  sealedBox: SealedBox;
  log: Logger;
}

/** A unit of work: the changes of one command, committed together, then announced. */
export class UnitOfWork {
  private readonly appended: TaskRunControlEvent[] = [];
  private readonly after: Array<() => void> = [];

  constructor(readonly em: EntityManager) {}

  /** Appends an audit event in the same transaction as the change it records. */
  audit(runId: string, action: ControlAction, actor: Actor, metadata: Record<string, unknown> = {}): TaskRunControlEvent {
    const event = this.em.create(TaskRunControlEvent, {
      taskRun: runId,
      actorUserId: actorUserId(actor),
      action,
      metadataJson: { ...actorMetadata(actor), ...metadata },
      createdAt: new Date(),
    });
    this.appended.push(event);
    return event;
  }

  /** Runs after the commit (announcements to the real-time layer). */
  afterCommit(fn: () => void): void {
    this.after.push(fn);
  }

  /** @internal */
  committed(ctx: HubContext): void {
    for (const e of this.appended) ctx.events.emit('event:appended', eventDto(e) as ControlEventDto);
    for (const fn of this.after) {
      try {
        fn();
      } catch (err) {
        ctx.log.error({ err }, 'after-commit hook failed');
      }
    }
  }
}

export async function transact<T>(ctx: HubContext, fn: (uow: UnitOfWork) => Promise<T>): Promise<T> {
  let uow: UnitOfWork | undefined;
  const result = await ctx.orm.em.fork().transactional(async (em) => {
    uow = new UnitOfWork(em);
    return fn(uow);
  });
  uow?.committed(ctx);
  return result;
}
