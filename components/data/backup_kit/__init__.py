"""What a backup is, shared by the CLI (`platform backup`, `restore`: cli/backup/) and the backup and
restore Jobs of the stacks whose data only their cluster reaches (local, Azure), which run these same
modules in the cluster (shipped in a ConfigMap by components/data/backup_jobs.py): the record
(record.py), the artifact store's side (objects.py; an Azure Blob container in blob.py, chosen by
stores.py), their errors (errors.py) and the Jobs' entry points (job.py, restore.py). Standard
library, pydantic, boto3 and azure-storage-blob/azure-identity only, which the MLflow image the Jobs
run in has."""
