"""Azurite, Microsoft's Azure Storage emulator (npm `azurite`, pinned in tests/azurite/package.json and
installed by .ci/run into .ci/azurite), serving Blob on loopback: the store the Azure stack's backup
Jobs run against here. It keys the well-known development account; the stack's pods authenticate
with their workload identity instead (components/data/backup_kit/blob.py).
Ref: https://learn.microsoft.com/azure/storage/common/storage-use-azurite
"""

from __future__ import annotations

import os
import subprocess
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Optional

import pytest

from .servers import free_port, missing

ROOT = Path(__file__).resolve().parents[2]
ACCOUNT = "devstoreaccount1"
# Azurite's published development key (its README), the same in every install: not a secret.
KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


def azurite_blob() -> Optional[Path]:
    """The azurite-blob launcher: $PLATFORM_AZURITE, else the one .ci/run installs."""
    path = Path(os.environ.get("PLATFORM_AZURITE") or ROOT / ".ci" / "azurite" / "node_modules" / ".bin" / "azurite-blob")
    return path if path.is_file() else None


def connection_string(endpoint: str) -> str:
    return f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={KEY};BlobEndpoint={endpoint};"


@contextmanager
def azurite(folder: Path) -> Iterator[str]:
    """Azurite's Blob service in memory; yields its endpoint (http://127.0.0.1:PORT/devstoreaccount1).
    A skip naming why where it is not installed; in CI (PLATFORM_REQUIRE_AZURITE=1) a failure."""
    launcher = azurite_blob()
    if launcher is None:
        missing("Azurite is not installed (npm ci --prefix .ci/azurite, from tests/azurite/package.json)", "PLATFORM_REQUIRE_AZURITE")
    port = free_port()
    log = folder / "azurite.log"
    # The SDK may speak a newer service version than the emulator knows: its check is skipped.
    process = subprocess.Popen([str(launcher), "--blobHost", "127.0.0.1", "--blobPort", str(port), "--inMemoryPersistence",
                                "--skipApiVersionCheck", "--disableTelemetry"],
                               stdout=log.open("w"), stderr=subprocess.STDOUT, cwd=folder)
    endpoint = f"http://127.0.0.1:{port}/{ACCOUNT}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"{endpoint}?comp=list", timeout=2).close()
                break
            except urllib.error.HTTPError:
                break  # it answers (403 without a key): it serves
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"azurite did not start: {log.read_text(errors='replace')[-2000:]}")
                time.sleep(0.2)
        yield endpoint
    finally:
        process.terminate()
        process.wait(timeout=30)
