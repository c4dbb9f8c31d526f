"""Entry point the Pulumi engine runs for `--policy-pack policies/`."""

from mlops_platform.policies.pack import build_pack

build_pack()
