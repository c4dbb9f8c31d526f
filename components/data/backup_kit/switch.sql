-- The restored database takes the live one's name, so MLflow's connection settings stay as they
-- are; the live database, when there is one, is kept as :keep_as until the user drops it, and its
-- name is printed. Run with psql (-X -q -At -v ON_ERROR_STOP=1 -d postgres) and the variables live,
-- restored and keep_as, by the CLI (cli/backup/postgres.py) and the local restore Job.
-- No new connections while it is renamed; the open ones are ended (MLflow's pool pings first and
-- reconnects). Ref: https://www.postgresql.org/docs/current/sql-alterdatabase.html
SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = :'live') AS live_exists \gset
\if :live_exists
ALTER DATABASE :"live" WITH ALLOW_CONNECTIONS false;
SELECT count(pg_terminate_backend(pid)) AS ended FROM pg_stat_activity
 WHERE datname = :'live' AND pid <> pg_backend_pid() \gset
ALTER DATABASE :"live" RENAME TO :"keep_as";
ALTER DATABASE :"keep_as" WITH ALLOW_CONNECTIONS true;
\echo :keep_as
\endif
ALTER DATABASE :"restored" RENAME TO :"live";
