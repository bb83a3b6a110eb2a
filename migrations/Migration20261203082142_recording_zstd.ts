import { Migration } from '@mikro-orm/migrations';

export class Migration20261203082142_recording_zstd extends Migration {

  override name = 'Migration20261203082142_recording_zstd';

  override up(): void | Promise<void> {
    this.addSql(`alter table "task_run_recording_part" add "events_zstd" bytea null;`);
    this.addSql(`alter table "task_run_recording_part" alter column "events" drop not null;`);
    // already compressed by the hub: the store's pglz would only spend CPU trying again
    this.addSql(`alter table "task_run_recording_part" alter column "events_zstd" set storage external;`);
  }

  override down(): void | Promise<void> {
    // the compressed parts cannot be expanded in SQL: their recordings are lost on the way down
    this.addSql(`delete from "task_run_recording_part" where "events" is null;`);
    this.addSql(`alter table "task_run_recording_part" drop column "events_zstd";`);
    this.addSql(`alter table "task_run_recording_part" alter column "events" set not null;`);
  }

}
