"""Keep libpq's password file holding a fresh Cloud SQL IAM login token (MLflow's native sidecar).

MLflow and its sign-in plugin open their database connections through libpq with no password of
their own; libpq then reads the password file (PGPASSFILE) at each new connection. This loop writes
that file with an OAuth 2.0 access token of the pod's Google service account (Workload Identity,
through the GKE metadata server), which Cloud SQL takes as the password of that account's IAM
database user. A token lives an hour: it is fetched again every TOKEN_REFRESH_SECONDS, well before.
Ref: https://cloud.google.com/sql/docs/postgres/iam-logins#log-in-manually
Ref: https://www.postgresql.org/docs/current/libpq-pgpass.html

Runs in the MLflow image (google-auth and requests are MLflow's GCS dependencies). Configured by
environment:

  PGPASSFILE              the file to write (an emptyDir shared with the server's container)
  DB_LOGIN_HOST, DB_LOGIN_PORT, DB_LOGIN_USER   the line's host, port and user
  TOKEN_REFRESH_SECONDS   between fetches (default 600)

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


def fresh_token(credentials: Any) -> str:  # google.auth.credentials.Credentials
    from google.auth.transport.requests import Request

    credentials.refresh(Request())
    if not credentials.token:
        raise ValueError("the metadata server answered without a token")
    return str(credentials.token)


def main() -> int:
    try:
        path = os.environ["PGPASSFILE"]
        host, port, user = (os.environ[key] for key in ("DB_LOGIN_HOST", "DB_LOGIN_PORT", "DB_LOGIN_USER"))
        refresh = float(os.environ.get("TOKEN_REFRESH_SECONDS", "600"))
    except (KeyError, ValueError) as err:
        print(f"db-login-token: bad configuration: {err}", file=sys.stderr)
        return 2
    import google.auth
    from google.auth.exceptions import DefaultCredentialsError

    try:
        credentials, _ = google.auth.default(scopes=SCOPES)
    except DefaultCredentialsError as err:  # no Workload Identity here: the pod does not start
        print(f"db-login-token: no Google credentials in this pod: {err}", file=sys.stderr)
        return 1
    while True:
        try:
            write_whole(path, line(host, port, user, fresh_token(credentials)))
            wait = refresh
        except Exception as err:  # one line, then a retry: the server keeps the token it has
            print(f"db-login-token: could not refresh the login token: {type(err).__name__}: {err}", file=sys.stderr, flush=True)
            wait = RETRY_SECONDS
        time.sleep(wait)


if __name__ == "__main__":
    sys.exit(main())
