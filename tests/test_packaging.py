"""The distribution installs one import package and shadows nothing."""

from __future__ import annotations

import subprocess
import sys
import tomllib

from support import ROOT


def test_every_package_folder_is_listed_in_pyproject():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(config["packages"])
    mapping = config["package-dir"]
    found = set()
    for package, folder in mapping.items():
        for init in (ROOT / folder).rglob("__init__.py"):
            relative = init.parent.relative_to(ROOT / folder).parts
            found.add(".".join((package, *relative)))
    assert found == listed, f"missing: {found - listed}, stale: {listed - found}"


def test_no_generic_top_level_names_and_stdlib_platform_intact(tmp_path):
    code = (
        "import importlib.util, platform, sys\n"
        "assert platform.python_version()\n"
        "for name in ('cli', 'components', 'planner', 'policies'):\n"
        "    assert importlib.util.find_spec(name) is None, name\n"
        "import mlops_platform.components.config, mlops_platform.cli.app, mlops_platform.policies\n"
        "print('ok')\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True)
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr


def test_pulumi_project_points_at_the_stack_folder():
    import yaml

    project = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())
    assert project["name"] == "mlops-platform"
    assert project["runtime"]["name"] == "python"
    assert project["stackConfigDir"] == "stacks"
    main = (ROOT / "__main__.py").read_text()
    assert "PlatformConfig.from_pulumi" in main and "MlopsPlatform(" in main


def test_ci_runs_exactly_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    block = readme.split("## Set up", 1)[1].split("```sh", 1)[1].split("```", 1)[0]
    commands = [line.split("#", 1)[0].strip() for line in block.strip().splitlines()]
    assert len(commands) == 2 and commands[0].endswith("platform up --cloud local")
    ci = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines() if line.strip() and not line.startswith("#")]
    assert ci[-1] == commands[1]
