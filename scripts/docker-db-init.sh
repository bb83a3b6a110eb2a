#!/bin/sh
# Run once by the postgres image on its first start (mounted into /docker-entrypoint-initdb.d by
# docker-compose.yaml): the roles of scripts/db-roles.sql, with the passwords the compose file
# gives them. `handoff migrate` then runs as handoff_owner, the hubs as handoff_app (README
# "PostgreSQL").
set -eu
psql -X -q -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" -f /handoff/db-roles.sql
psql -X -q -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
  -v owner_password="$HANDOFF_DB_OWNER_PASSWORD" -v app_password="$HANDOFF_DB_APP_PASSWORD" <<'SQL'
alter role handoff_owner password :'owner_password';
alter role handoff_app password :'app_password';
SQL
