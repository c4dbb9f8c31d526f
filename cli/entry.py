"""The `platform` console script: Ctrl-C handling first, then the typer app.

Installed before anything heavy is imported, a SIGINT ends the process at once with one line and
exit code 130: nothing offline needs unwinding (files are written to temporary names, removed here,
and renamed into place with Ctrl-C held back: planner/files.py), and unwinding a
KeyboardInterrupt through the Pulumi SDK's executor threads and half-imported modules could hang
or end in an unrelated error. Engine operations replace this handler with their own while they
run, so in-flight steps can finish (cli/engine/interrupt.py), and restore it afterwards.
"""

from __future__ import annotations

import os
import signal
import sys

INTERRUPTED = 130


def _interrupted(signum: int, frame: object) -> None:
    # Temporary files of a write in progress go first (planner/files.py); the module is looked up,
    # not imported: it is loaded exactly when something is being written.
    files = sys.modules.get("mlops_platform.planner.files")
    if files is not None:
        files.discard_scratch()
    os.write(2, b"\nerror: interrupted\n")
    os._exit(INTERRUPTED)


def main() -> None:
    signal.signal(signal.SIGINT, _interrupted)
    from .app import main as run

    run()


if __name__ == "__main__":  # pragma: no cover
    main()
    sys.exit(0)
