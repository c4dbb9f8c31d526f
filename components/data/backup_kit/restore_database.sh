#!/bin/sh
# A pg_dump (custom format) restored into a new database, and MLflow's own login given its rights on
# the restored tables (a dump carries no grants, and the tables are the restoring login's). Run by
# the CLI (cli/backup/postgres.py) and by the local stack's restore Job (components/data/restore_jobs.py).
#
# Usage: restore_database.sh DATABASE DUMP GRANTS_SQL
# libpq's environment says where and as whom (PGHOST, PGPORT, PGUSER, PGPASSWORD, PGSSLMODE), so no
# password is on a command line; PSQL and PG_RESTORE name the client tools (default: on PATH).
# Exit 2: refused, nothing changed (a bad name, the database exists). Exit 1: a step failed, and a
# half-restored database is dropped. The last line on stderr says why.
# Ref: https://www.postgresql.org/docs/current/app-pgrestore.html
set -eu
database=$1 dump=$2 grants=$3
psql=${PSQL:-psql} pg_restore=${PG_RESTORE:-pg_restore}
app_role=mlflow_app  # components/addons/mlflow_grants.py: APP_ROLE

case $database in
  *[!a-z0-9_]* | "") echo "'$database' is not a database name this platform uses" >&2; exit 2 ;;
esac
q() { "$psql" -d postgres -X -v ON_ERROR_STOP=1 -Atc "$1"; }

exists=$(q "SELECT count(*) FROM pg_database WHERE datname = '$database'") || exit 1
if [ "$exists" != 0 ]; then
  echo "database $database already exists on ${PGHOST:-the server}; drop it or restore under another name" >&2
  exit 2
fi
q "CREATE DATABASE \"$database\"" > /dev/null || exit 1
drop() { q "DROP DATABASE IF EXISTS \"$database\"" > /dev/null || true; }
if ! errors=$("$pg_restore" --exit-on-error --no-owner --no-privileges -d "$database" "$dump" 2>&1); then
  drop
  echo "pg_restore into database $database: $(printf '%s\n' "$errors" | grep . | tail -n 1)" >&2
  exit 1
fi
role=$(q "SELECT count(*) FROM pg_roles WHERE rolname = '$app_role'") || { drop; exit 1; }
if [ "$role" != 0 ]; then
  if ! errors=$("$psql" -d "$database" -X -q -v ON_ERROR_STOP=1 -v app_role="$app_role" -f "$grants" 2>&1); then
    drop
    echo "granting $app_role its rights on database $database: $(printf '%s\n' "$errors" | grep . | tail -n 1)" >&2
    exit 1
  fi
fi
