"""The platform's MLflow model registry, as `platform models` reads it (the MLflow client library).

A registered version's artifacts are served by MLflow's proxy as `mlflow-artifacts:/<path>`, which
KServe's storage initializer cannot read. They live, though, under MLflow's artifacts destination,
which the platform sets to `<object store>/mlflow` (components/addons/mlflow.py) and exports as the
stack output `modelStore`: `s3://<bucket>/mlflow`, `gs://<bucket>/mlflow`,
`https://<account>.blob.core.windows.net/<container>/mlflow` (KServe's Azure form), and on kind
`s3://mlops-artifacts/mlflow` in the in-cluster S3 store. `store_uri` maps one onto the other.
"""

from __future__ import annotations

import os
import re
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Iterator, Optional

import yaml

SERVABLE_FLAVOR = "python_function"  # what MLServer's MLflow runtime loads
SCHEMES = ("s3://", "gs://", "https://")


class RegistryError(Exception):
    """A registry that cannot be used, or a model it does not have; `str()` is one line."""


def store_uri(artifact_uri: str, model_store: str) -> str:
    """The object-store URI of an artifact MLflow reports: `mlflow-artifacts:` paths under the model
    store, URIs of a store KServe reads kept as they are."""
    if artifact_uri.startswith("mlflow-artifacts:"):
        rest = artifact_uri[len("mlflow-artifacts:"):]
        if rest.startswith("//"):  # mlflow-artifacts://host:port/path: the server part goes
            rest = "/" + rest[2:].split("/", 1)[1] if "/" in rest[2:] else "/"
        path = rest.lstrip("/")
        if not path:
            raise RegistryError(f"{artifact_uri} names no artifact path")
        return f"{model_store.rstrip('/')}/{path}"
    if artifact_uri.startswith(SCHEMES):
        return artifact_uri
    raise RegistryError(f"the model's artifacts are at {artifact_uri}, which KServe cannot read "
                        "(it reads s3://, gs:// and https:// object stores)")


@dataclass(frozen=True)
class Resolved:
    name: str
    version: int
    alias: Optional[str]
    artifact_uri: str
    flavors: tuple[str, ...]


@contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def signed_in(config: Any, url: str) -> None:
    """Refuse (exit 2) unless the caller gave the MLflow client a sign-in. MLflow signs people in at
    the stack's issuer; the client sends what the caller set: an issuer's access token (bearer) or
    an MLflow access token made after signing in (basic).
    Ref: https://mlflow.org/docs/latest/self-hosting/security/basic-http-auth (environment variables)"""
    from .errors import EXIT_USAGE, fail

    has_token = bool(os.environ.get("MLFLOW_TRACKING_TOKEN", "").strip())
    has_login = all(os.environ.get(k, "").strip() for k in ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD"))
    if not (has_token or has_login):
        fail(f"MLflow at {url} needs you signed in: set $MLFLOW_TRACKING_TOKEN, or $MLFLOW_TRACKING_USERNAME and "
             "$MLFLOW_TRACKING_PASSWORD (an MLflow access token)",
             f"platform token --cloud {config.cloud} --env {config.env} says how to get either", EXIT_USAGE)


class Registry:
    def __init__(self, url: str, insecure: bool = False):
        self.url = url.rstrip("/")
        env = {
            # Fail fast: the client's default retries a refused connection for minutes.
            "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0",
            "MLFLOW_HTTP_REQUEST_TIMEOUT": "20",
        }
        if insecure:
            env["MLFLOW_TRACKING_INSECURE_TLS"] = "true"
        self._env = env

    @contextmanager
    def client(self) -> Iterator[Any]:
        try:
            from mlflow.exceptions import MlflowException
            from mlflow.tracking import MlflowClient
        except ImportError:  # the caller checks the extra first; this is the last guard
            raise RegistryError("the MLflow client is not installed: pip install 'mlops-platform[models]'") from None
        with _environment(self._env):
            try:
                yield MlflowClient(tracking_uri=self.url, registry_uri=self.url)
            except MlflowException as err:
                raise RegistryError(_explain(err, self.url)) from None
            except OSError as err:  # connection refused, DNS, TLS
                raise RegistryError(f"MLflow is unreachable at {self.url}: {err}") from None

    def resolve(self, name: str, version: Optional[int] = None, alias: Optional[str] = None) -> Resolved:
        from mlflow.exceptions import MlflowException

        with self.client() as client:
            try:
                found = client.get_model_version_by_alias(name, alias) if alias else client.get_model_version(name, str(version))
            except MlflowException as err:
                raise RegistryError(self._not_found(client, name, version, alias, err)) from None
            number = _version_number(name, found.version)
            artifact_uri = client.get_model_version_download_uri(name, found.version)
            flavors = self._flavors(artifact_uri, f"model '{name}' version {number}")
        return Resolved(name, number, alias, artifact_uri, flavors)

    def _not_found(self, client: Any, name: str, version: Optional[int], alias: Optional[str], err: Any) -> str:
        # MLflow's OIDC plugin answers a model the caller may not read, or that does not exist, with
        # "Permission denied" alike (it does not say which exists); search lists what they may read.
        refused = _is_refusal(err)
        if getattr(err, "error_code", "") not in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE") and not refused:
            return _explain(err, self.url)
        try:
            model = client.get_registered_model(name)
        except Exception:  # noqa: BLE001 - the model itself is missing (or hidden from this caller)
            known = sorted(m.name for m in client.search_registered_models())
            if refused:
                return (f"no registered model '{name}' in MLflow at {self.url} that your sign-in may read "
                        f"(readable: {', '.join(known) or 'none'})")
            return f"no registered model '{name}' in MLflow at {self.url} (registered: {', '.join(known) or 'none'})"
        versions = sorted(_version_number(name, v.version) for v in client.search_model_versions(f"name='{name}'"))
        if alias:
            aliases = sorted((model.aliases or {}).keys())
            return f"model '{name}' has no alias '{alias}' (aliases: {', '.join(aliases) or 'none'})"
        return f"model '{name}' has no version {version} (versions: {', '.join(map(str, versions)) or 'none'})"

    def _flavors(self, artifact_uri: str, what: str) -> tuple[str, ...]:
        """The flavors in the model's MLmodel file, read through the tracking server's artifact proxy.
        A file that is not the mapping MLflow writes is a RegistryError naming the model and version."""
        import tempfile

        from mlflow.artifacts import download_artifacts

        with tempfile.TemporaryDirectory(prefix="mlops-mlmodel-") as folder:
            try:
                path = download_artifacts(artifact_uri=f"{artifact_uri.rstrip('/')}/MLmodel", dst_path=folder, tracking_uri=self.url)
            except Exception:  # noqa: BLE001 - no MLmodel: the version is no MLflow model
                return ()
            with open(path, "rb") as handle:
                raw = handle.read(MAX_MLMODEL_BYTES + 1)
        if len(raw) > MAX_MLMODEL_BYTES:
            raise RegistryError(f"{what}: its MLmodel file is larger than {MAX_MLMODEL_BYTES // 1024} KiB, not one MLflow writes")
        try:
            document = yaml.safe_load(raw.decode("utf-8"))  # safe: no tags that build objects
        except (yaml.YAMLError, UnicodeDecodeError) as err:
            reason = " ".join(str(getattr(err, "problem", None) or err).split())[:80]
            raise RegistryError(f"{what}: its MLmodel file is not valid YAML ({reason})") from None
        flavors = (document or {}).get("flavors") if isinstance(document, dict) or document is None else None
        if not isinstance(document, (dict, type(None))) or not isinstance(flavors, (dict, type(None))):
            raise RegistryError(f"{what}: its MLmodel file is not the mapping MLflow writes (with a flavors mapping)")
        return tuple(sorted(str(key)[:60] for key in (flavors or {})))

    def registered(self) -> list[dict[str, Any]]:
        """Every registered model: its versions and aliases."""
        with self.client() as client:
            out = []
            for model in client.search_registered_models():
                versions = sorted(_version_number(model.name, v.version) for v in client.search_model_versions(f"name='{model.name}'"))
                out.append({"name": model.name, "versions": versions,
                            "aliases": {alias: _version_number(model.name, v) for alias, v in sorted((model.aliases or {}).items())}})
            return out


MAX_MLMODEL_BYTES = 256 * 1024  # an MLmodel file is a few kilobytes


def _version_number(name: str, version: Any) -> int:
    try:
        return int(str(version))
    except ValueError:
        raise RegistryError(f"model '{name}': the registry answered version {str(version)[:40]!r}, not a number") from None


# How MLflow's client reports an answer that is not JSON (a proxy's 401, say). The status is read from
# there only: a "401" elsewhere in a message (a port, 127.0.0.1:40171) is not a refusal.
# Ref: mlflow/utils/rest_utils.py verify_rest_response
_STATUS = re.compile(r"failed with error code (\d{3}) ")


def _status(message: str) -> Optional[int]:
    found = _STATUS.search(message)
    return int(found.group(1)) if found else None


def _is_refusal(err: Any) -> bool:
    message = str(getattr(err, "message", err))
    return getattr(err, "error_code", "") == "PERMISSION_DENIED" or "Permission denied" in message or _status(message) == 403


def _explain(err: Any, url: str) -> str:
    message = str(getattr(err, "message", err)).splitlines()[0]
    code = getattr(err, "error_code", "")
    if _status(message) == 401 or "Unauthorized" in message or code == "UNAUTHENTICATED":
        return (f"MLflow at {url} refused the sign-in in $MLFLOW_TRACKING_TOKEN or $MLFLOW_TRACKING_PASSWORD "
                f"(expired, or not the stack's): {message[:120]}")
    if _is_refusal(err) or "Forbidden" in message:
        return (f"MLflow at {url} refused the token's user (not in the stack's user or admin groups, or no "
                f"permission on this model): {message[:120]}")
    if "Max retries" in message or "Connection" in message or "API request to" in message:
        return f"MLflow is unreachable at {url}: {message[:160]}"
    return f"MLflow at {url}: {message[:200]}"
