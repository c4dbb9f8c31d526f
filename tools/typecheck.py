"""Type-check the package as it is installed: `python tools/typecheck.py [mypy options]`.

The source folders (components/, planner/, cli/, policies/) install as one package, `mlops_platform`,
through setuptools' package-dir mapping, which mypy cannot see in an editable install. This lays
them out under a temporary `mlops_platform/` of symbolic links and runs mypy on that package with
the settings in pyproject.toml ([tool.mypy]).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FOLDERS = ("components", "planner", "cli", "policies")


def main(argv: list[str]) -> int:
    with tempfile.TemporaryDirectory(prefix="mlops-typecheck-") as tree:
        package = Path(tree) / "mlops_platform"
        package.mkdir()
        for folder in FOLDERS:
            (package / folder).symlink_to(ROOT / folder, target_is_directory=True)
        env = {**os.environ, "MYPYPATH": tree}
        command = [sys.executable, "-m", "mypy", "--config-file", str(ROOT / "pyproject.toml"),
                   "--cache-dir", str(ROOT / ".mypy_cache"), "-p", "mlops_platform", *argv]
        result = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True)
        # Name the files as they are in the repository, not as they are in the temporary tree.
        sys.stdout.write(result.stdout.replace(f"{package}{os.sep}", ""))
        sys.stderr.write(result.stderr.replace(f"{package}{os.sep}", ""))
        return result.returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
