import { Migration } from '@mikro-orm/migrations';

export class Migration20261126113722_audit_append_only extends Migration {

  override name = 'Migration20261126113722_audit_append_only';

  override up(): void | Promise<void> {
    // The audit trail is append-only (architecture §3): the database itself refuses to change it.
    this.addSql(`create or replace function handoff_refuse_audit_change() returns trigger language plpgsql as $$
begin
  raise exception 'task_run_control_event is append-only (% refused)', tg_op using errcode = 'insufficient_privilege';
end $$;`);
    this.addSql(`create trigger task_run_control_event_append_only before update or delete on "task_run_control_event"
  for each row execute function handoff_refuse_audit_change();`);
    this.addSql(`create trigger task_run_control_event_no_truncate before truncate on "task_run_control_event"
  for each statement execute function handoff_refuse_audit_change();`);
    // The claim query takes the oldest queued run.
    this.addSql(`create index "task_run_queued_created_at_index" on "task_run" ("created_at") where "status" = 'queued';`);
  }

  override down(): void | Promise<void> {
    this.addSql(`drop index if exists "task_run_queued_created_at_index";`);
    this.addSql(`drop trigger if exists task_run_control_event_no_truncate on "task_run_control_event";`);
    this.addSql(`drop trigger if exists task_run_control_event_append_only on "task_run_control_event";`);
    this.addSql(`drop function if exists handoff_refuse_audit_change();`);
  }

}
