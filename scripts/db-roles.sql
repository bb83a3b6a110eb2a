-- The PostgreSQL roles of a handoff deployment (README "PostgreSQL"), so that the audit is
-- append-only against the hub itself (architecture §7a):
--   owner (default handoff_owner): owns the schema objects; `handoff migrate` runs as it.
--   app   (default handoff_app):   what the hubs connect as. Reads and writes the runs and the
--         sessions, only inserts into task_run_control_event, owns nothing (so it cannot disable,
--         drop or replace the audit trigger), is no superuser (so it cannot set
--         session_replication_role = replica, which skips triggers), and has no TRUNCATE.
--
-- Run as a superuser (or the database owner with CREATEROLE), connected to the hub's database:
--   psql -v ON_ERROR_STOP=1 -d handoff -f scripts/db-roles.sql [-v owner=NAME] [-v app=NAME]
-- Idempotent: run it again after a restore or when objects were created by another role. Give the
-- roles passwords yourself (`\password handoff_app`); the script sets none.

\set ON_ERROR_STOP on
\if :{?owner}
\else
  \set owner handoff_owner
\endif
\if :{?app}
\else
  \set app handoff_app
\endif

select format('create role %I login', :'owner') where not exists (select from pg_roles where rolname = :'owner') \gexec
select format('create role %I login', :'app') where not exists (select from pg_roles where rolname = :'app') \gexec
alter role :"owner" nosuperuser nocreatedb nocreaterole noreplication nobypassrls;
-- noinherit: even if someone grants it the owner role later, it does not act with its rights.
alter role :"app" nosuperuser nocreatedb nocreaterole noreplication nobypassrls noinherit;

select format('grant connect, temporary on database %I to %I, %I', current_database(), :'owner', :'app') \gexec
revoke create on schema public from public;
grant usage, create on schema public to :"owner";
grant usage on schema public to :"app";

-- Objects created before these roles existed (e.g. migrated as postgres) move to the owner; a
-- table's sequences follow it. Every table of the schema: the database is the hub's.
select format('alter table public.%I owner to %I', tablename, :'owner')
  from pg_tables
 where schemaname = 'public' and tableowner <> :'owner'
\gexec
select format('alter function %s owner to %I', p.oid::regprocedure, :'owner')
  from pg_proc p join pg_namespace n on n.oid = p.pronamespace
 where n.nspname = 'public' and p.proname = 'handoff_refuse_audit_change'
\gexec

-- What the hub may do: on what the owner creates from now on (later migrations' tables) ...
alter default privileges for role :"owner" in schema public grant select, insert, update, delete on tables to :"app";
alter default privileges for role :"owner" in schema public grant usage, select on sequences to :"app";
-- ... and on what exists.
select format('grant select, insert, update, delete on public.%I to %I', tablename, :'app')
  from pg_tables
 where schemaname = 'public' and tablename not in ('task_run_control_event', 'mikro_orm_migrations')
\gexec
select format('grant select on public.%I to %I', tablename, :'app')
  from pg_tables
 where schemaname = 'public' and tablename = 'mikro_orm_migrations'
\gexec
select format('grant usage, select on sequence %s to %I', c.oid::regclass, :'app')
  from pg_class c join pg_namespace n on n.oid = c.relnamespace
 where n.nspname = 'public' and c.relkind = 'S'
\gexec

-- The audit: read and append only. (The migration audit_privileges does the same when the table
-- is created after the default privileges above; the trigger refuses UPDATE and DELETE anyway.)
select format('revoke all on public.%I from %I', tablename, :'app')
  from pg_tables
 where schemaname = 'public' and tablename = 'task_run_control_event'
\gexec
select format('grant select, insert on public.%I to %I', tablename, :'app')
  from pg_tables
 where schemaname = 'public' and tablename = 'task_run_control_event'
\gexec
