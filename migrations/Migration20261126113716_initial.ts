import { Migration } from '@mikro-orm/migrations';

export class Migration20261126113716_initial extends Migration {

  override name = 'Migration20261126113716_initial';

  override up(): void | Promise<void> {
    this.addSql(`create table "task_run" ("id" uuid not null, "status" text not null, "steps" jsonb not null, "payload" jsonb not null, "worker_id" varchar(255) null, "exit_code" int null, "attempts" int not null default 0, "created_at" timestamptz not null, "started_at" timestamptz null, "last_heartbeat_at" timestamptz null, "finished_at" timestamptz null, "updated_at" timestamptz not null, primary key ("id"));`);
    this.addSql(`create index "task_run_status_index" on "task_run" ("status");`);
    this.addSql(`create index "task_run_worker_id_index" on "task_run" ("worker_id");`);
    this.addSql(`create index "task_run_created_at_index" on "task_run" ("created_at");`);

    this.addSql(`create table "task_run_control_event" ("id" bigserial primary key, "task_run_id" uuid not null, "actor_user_id" varchar(255) null, "action" varchar(255) not null, "metadata_json" jsonb not null, "created_at" timestamptz not null);`);
    this.addSql(`create index "task_run_control_event_task_run_id_index" on "task_run_control_event" ("task_run_id");`);
    this.addSql(`create index "task_run_control_event_action_index" on "task_run_control_event" ("action");`);

    this.addSql(`create table "task_run_live_session" ("id" uuid not null, "task_run_id" uuid not null, "provider" text not null, "status" text not null, "ready_at" timestamptz null, "ended_at" timestamptz null, "expires_at" timestamptz null, "rw_granted_until" timestamptz null, "last_heartbeat_at" timestamptz null, "worker_id" varchar(255) null, "worker_hostname" varchar(255) null, "attach_ro" text null, "attach_rw_encrypted" text null, "web_ro" text null, "web_rw_encrypted" text null, "error_message" text null, "rw_generation" int not null default 0, "created_at" timestamptz not null, "updated_at" timestamptz not null, primary key ("id"));`);
    this.addSql(`alter table "task_run_live_session" add constraint "task_run_live_session_task_run_id_unique" unique ("task_run_id");`);
    this.addSql(`create index "task_run_live_session_status_index" on "task_run_live_session" ("status");`);

    this.addSql(`alter table "task_run" add constraint "task_run_status_check" check ("status" in ('queued', 'running', 'succeeded', 'failed', 'cancelled'));`);

    this.addSql(`alter table "task_run_control_event" add constraint "task_run_control_event_task_run_id_foreign" foreign key ("task_run_id") references "task_run" ("id") on delete cascade;`);

    this.addSql(`alter table "task_run_live_session" add constraint "task_run_live_session_task_run_id_foreign" foreign key ("task_run_id") references "task_run" ("id") on delete cascade;`);
    this.addSql(`alter table "task_run_live_session" add constraint "task_run_live_session_provider_check" check ("provider" in ('hub', 'none'));`);
    this.addSql(`alter table "task_run_live_session" add constraint "task_run_live_session_status_check" check ("status" in ('disabled', 'starting', 'ready', 'revoked', 'ended', 'error'));`);
  }

  override down(): void | Promise<void> {
    this.addSql(`alter table "task_run_control_event" drop constraint "task_run_control_event_task_run_id_foreign";`);
    this.addSql(`alter table "task_run_live_session" drop constraint "task_run_live_session_task_run_id_foreign";`);

    this.addSql(`drop table if exists "task_run" cascade;`);
    this.addSql(`drop table if exists "task_run_control_event" cascade;`);
    this.addSql(`drop table if exists "task_run_live_session" cascade;`);
  }

}
