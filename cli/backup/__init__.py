"""Backups of what a team keeps on the platform, MLflow's database and its artifact store, and their
restore (`platform backup`, `platform backups list`, `platform restore`).

A backup is a folder `backups/<id>/` in the stack's own bucket: the record (record.json), the
artifact manifest, and the database dump when the database is dumped rather than snapshotted.
Modules: record (the record and its place in the bucket), objects (the artifact store: version
manifests and their restore), postgres (pg_dump, pg_restore and the switch to a restored database),
rds (snapshots and restores of an RDS instance), counts (MLflow's health and what it holds), and
operations (a backup and a restore, step by step).
"""
