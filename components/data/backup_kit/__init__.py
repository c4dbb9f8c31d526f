"""What a backup is, shared by the CLI (`platform backup`, `restore`: cli/backup/) and the local
stack's scheduled backup Job, which runs these same modules in the cluster (shipped in a ConfigMap by
components/data/local_backups.py): the record (record.py), the artifact store's side (objects.py),
their errors (errors.py) and the Job's entry point (job.py). Standard library, pydantic and boto3
only, which the MLflow image the Job runs in has."""
