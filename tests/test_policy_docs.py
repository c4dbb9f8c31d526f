"""The policy pack's own files and its documentation: what the engine loads, and README's table."""

from __future__ import annotations

from mlops_platform.policies.registry import RULES
from support import ROOT


def test_pack_files_describe_a_python_pack():
    import yaml

    meta = yaml.safe_load((ROOT / "policies" / "PulumiPolicy.yaml").read_text())
    assert meta["runtime"] == "python" and meta["version"]
    assert "build_pack()" in (ROOT / "policies" / "__main__.py").read_text()


def test_readme_lists_every_rule():
    readme = (ROOT / "README.md").read_text()
    missing = [r.name for r in RULES if f"`{r.name}`" not in readme]
    assert not missing, missing
