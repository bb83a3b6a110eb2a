import { Migration } from '@mikro-orm/migrations';

export class Migration20261202064505_recordings extends Migration {

  override name = 'Migration20261202064505_recordings';

  override up(): void | Promise<void> {
    this.addSql(`create table "task_run_recording_part" ("id" bigserial primary key, "task_run_id" uuid not null, "source" text not null, "end_offset" bigint not null default '0', "output_bytes" bigint not null default '0', "events" text not null, "created_at" timestamptz not null);`);
    this.addSql(`create index "task_run_recording_part_task_run_id_index" on "task_run_recording_part" ("task_run_id");`);

    this.addSql(`alter table "task_run_recording_part" add constraint "task_run_recording_part_task_run_id_foreign" foreign key ("task_run_id") references "task_run" ("id") on delete cascade;`);
    this.addSql(`alter table "task_run_recording_part" add constraint "task_run_recording_part_source_check" check ("source" in ('live', 'upload'));`);
  }

  override down(): void | Promise<void> {
    this.addSql(`drop table if exists "task_run_recording_part" cascade;`);
  }

}
