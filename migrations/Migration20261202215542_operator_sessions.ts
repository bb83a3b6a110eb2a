import { Migration } from '@mikro-orm/migrations';

export class Migration20261202215542_operator_sessions extends Migration {

  override name = 'Migration20261202215542_operator_sessions';

  override up(): void | Promise<void> {
    this.addSql(`create table "operator_session" ("id" uuid not null, "subject" varchar(255) not null, "issuer" varchar(255) not null, "display_name" varchar(255) null, "role" text not null, "source" varchar(255) not null, "created_at" timestamptz not null, "expires_at" timestamptz not null, "ended_at" timestamptz null, "ended_by" varchar(255) null, primary key ("id"));`);
    this.addSql(`create index "operator_session_subject_index" on "operator_session" ("subject");`);
    this.addSql(`create index "operator_session_expires_at_index" on "operator_session" ("expires_at");`);

    this.addSql(`alter table "operator_session" add constraint "operator_session_role_check" check ("role" in ('viewer', 'operator', 'admin'));`);
  }

  override down(): void | Promise<void> {
    this.addSql(`drop table if exists "operator_session" cascade;`);
  }

}
