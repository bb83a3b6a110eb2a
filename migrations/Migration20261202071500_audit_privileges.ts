import { Migration } from '@mikro-orm/migrations';

export class Migration20261202071500_audit_privileges extends Migration {

  override name = 'Migration20261202071500_audit_privileges';

  override up(): void | Promise<void> {
    // The audit is append-only against the hub's own role too (architecture §7a, README
    // "PostgreSQL"): whoever got UPDATE, DELETE or TRUNCATE on it — e.g. through the default
    // privileges of scripts/db-roles.sql — loses them; only the owner keeps them (and the trigger
    // still refuses the owner's UPDATE and DELETE).
    this.addSql(`do $$
declare g record;
begin
  for g in
    select distinct a.grantee::regrole::text as role
      from pg_class c, aclexplode(c.relacl) a
     where c.oid = '"task_run_control_event"'::regclass
       and a.grantee <> 0 and a.grantee <> c.relowner
       and a.privilege_type in ('UPDATE', 'DELETE', 'TRUNCATE')
  loop
    execute format('revoke update, delete, truncate on "task_run_control_event" from %s', g.role);
  end loop;
  revoke update, delete, truncate on "task_run_control_event" from public;
end $$;`);
  }

  override down(): void | Promise<void> {
    // Nothing to give back: the privileges were never meant to be there.
  }

}
