"""Keep libpq's password file holding a fresh database login token (MLflow's native sidecar).

MLflow and its sign-in plugin open their database connections through libpq with no password of
their own; libpq then reads the password file (PGPASSFILE) at each new connection. This loop writes
that file with a token of the pod's cloud identity, which the managed database takes as the password
of that identity's database user, and writes it again every TOKEN_REFRESH_SECONDS, well before it
expires:
- DB_LOGIN_TOKEN=cloudsql: an OAuth 2.0 access token of the pod's Google service account (Workload
  Identity, through the GKE metadata server), an hour's life.
  Ref: https://cloud.google.com/sql/docs/postgres/iam-logins#log-in-manually
- DB_LOGIN_TOKEN=rds: an RDS auth token, a request signed with the pod's IRSA role's credentials
  (boto3's generate_db_auth_token, signed here: no call), 15 minutes' life.
  Ref: https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/UsingWithRDS.IAMDBAuth.Connecting.Python.html
- DB_LOGIN_TOKEN=entra: an Entra ID access token of the pod's managed identity for Azure's database
  servers, exchanged for the pod's projected service-account token (Azure Workload Identity: the
  webhook gives the pod AZURE_CLIENT_ID, AZURE_TENANT_ID, AZURE_FEDERATED_TOKEN_FILE and
  AZURE_AUTHORITY_HOST), an hour's life or more.
  Ref: https://learn.microsoft.com/azure/postgresql/flexible-server/how-to-connect-with-managed-identity
Ref: https://www.postgresql.org/docs/current/libpq-pgpass.html

Runs in the MLflow image (google-auth, boto3 and azure-identity are its GCS, S3 and Blob
dependencies). Configured by environment:

  PGPASSFILE              the file to write (an emptyDir shared with the server's container)
  DB_LOGIN_TOKEN          cloudsql, rds or entra
  DB_LOGIN_HOST, DB_LOGIN_PORT, DB_LOGIN_USER   the line's host, port and user (and what RDS signs)
  DB_LOGIN_REGION         the RDS instance's region (rds only)
  TOKEN_REFRESH_SECONDS   between tokens (default 600)
  DB_LOGIN_ONCE           "true": write one token and end (0), or end 1 if it cannot (a Job's step
                          before the step that connects, where a loop would keep the Job running)

The file appears whole, by a rename of a finished sibling, readable by its owner only. A failed
fetch is one line on stderr and a retry after RETRY_SECONDS; the token already written stays until
it expires. The first token is written before the pod's other containers start (the sidecar's
startup probe waits for the file).
"""

import os
import sys
import tempfile
import time
from typing import Any

# The scope Cloud SQL asks of a token used as an IAM database login.
SCOPES = ["https://www.googleapis.com/auth/sqlservice.login"]
# The resource an Entra ID token for Azure Database for PostgreSQL is issued for.
# Ref: https://learn.microsoft.com/azure/postgresql/flexible-server/how-to-connect-with-managed-identity
ENTRA_SCOPE = "https://ossrdbms-aad.database.windows.net/.default"
RETRY_SECONDS = 10


def escaped(field: str) -> str:
    """A password-file field: `:` and `\\` escaped with a backslash (libpq-pgpass)."""
    return field.replace("\\", "\\\\").replace(":", "\\:")


def line(host: str, port: str, user: str, token: str) -> str:
    """The file's one line: this host, port and user, any database, the token as password."""
    return ":".join(escaped(field) for field in (host, port, "*", user, token)) + "\n"


def write_whole(path: str, text: str) -> None:
    folder = os.path.dirname(path) or "."
    handle, temporary = tempfile.mkstemp(dir=folder, prefix=".pgpass-", suffix=".tmp")
    try:
        # libpq ignores a password file that group or others may read.
        os.fchmod(handle, 0o600)
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise


def google_token(credentials: Any) -> str:  # google.auth.credentials.Credentials
    from google.auth.transport.requests import Request

    credentials.refresh(Request())
    if not credentials.token:
        raise ValueError("the metadata server answered without a token")
    return str(credentials.token)


def rds_token(host: str, port: str, user: str, region: str) -> str:
    import boto3

    return str(boto3.client("rds", region_name=region).generate_db_auth_token(DBHostname=host, Port=int(port), DBUsername=user))


def one_line(err: BaseException) -> str:
    """An error as one line of the log (Entra ID's answers span several)."""
    return f"{type(err).__name__}: {' '.join(str(err).split())}"


def entra_source() -> Any:
    """A function returning an Entra ID token of the pod's workload identity (azure-identity caches it
    and asks again before it expires); ValueError where the webhook gave the pod no identity."""
    import logging

    from azure.identity import WorkloadIdentityCredential

    # Its own warning of a failed request would repeat the error this script reports in one line.
    logging.getLogger("azure.identity").setLevel(logging.ERROR)

    credential = WorkloadIdentityCredential()  # ValueError without the AZURE_* settings
    return lambda: credential.get_token(ENTRA_SCOPE).token


def token_source(kind: str, host: str, port: str, user: str) -> Any:
    """A function returning a fresh token; ValueError for a kind this script does not know, or what
    a Google or Entra one cannot start without (no credentials in the pod)."""
    if kind == "rds":
        region = os.environ["DB_LOGIN_REGION"]
        return lambda: rds_token(host, port, user, region)
    if kind == "entra":
        return entra_source()
    if kind != "cloudsql":
        raise ValueError(f"DB_LOGIN_TOKEN {kind!r} is not rds, cloudsql or entra")
    import google.auth
    from google.auth.exceptions import DefaultCredentialsError

    try:
        credentials, _ = google.auth.default(scopes=SCOPES)
    except DefaultCredentialsError as err:
        raise ValueError(f"no Google credentials in this pod: {err}") from None
    return lambda: google_token(credentials)


def main() -> int:
    try:
        path = os.environ["PGPASSFILE"]
        host, port, user = (os.environ[key] for key in ("DB_LOGIN_HOST", "DB_LOGIN_PORT", "DB_LOGIN_USER"))
        refresh = float(os.environ.get("TOKEN_REFRESH_SECONDS", "600"))
        fresh_token = token_source(os.environ["DB_LOGIN_TOKEN"], host, port, user)
        once = os.environ.get("DB_LOGIN_ONCE", "false") == "true"
    except (KeyError, ValueError) as err:
        print(f"db-login-token: bad configuration: {err}", file=sys.stderr)
        return 2
    if once:
        try:
            write_whole(path, line(host, port, user, fresh_token()))
            return 0
        except Exception as err:  # one line: the Job's step fails and Kubernetes runs it again
            print(f"db-login-token: could not get a login token: {one_line(err)}", file=sys.stderr)
            return 1
    while True:
        try:
            write_whole(path, line(host, port, user, fresh_token()))
            wait = refresh
        except Exception as err:  # one line, then a retry: the server keeps the token it has
            print(f"db-login-token: could not refresh the login token: {one_line(err)}", file=sys.stderr, flush=True)
            wait = RETRY_SECONDS
        time.sleep(wait)


if __name__ == "__main__":
    sys.exit(main())
