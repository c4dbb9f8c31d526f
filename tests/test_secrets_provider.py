"""`platform:secretsProvider`: a cloud stack's secrets encrypted by a key of its cloud's KMS instead of
a shared passphrase (components/config/secrets.py), given to `pulumi stack init` on creation, no
passphrase asked for, and a stack whose recorded provider differs from the stack file refused
before the engine runs (cli/engine/workspace.py)."""

from __future__ import annotations

import pytest
import yaml

from mlops_platform.components.config import ConfigError, PlatformConfig
from support.cli import invoke, refused

SOURCE = "stacks/Pulumi.test.yaml"
AWS_KEY = "awskms://alias/mlops-prod?region=us-east-1"
BASE = {
    "aws": {"region": "us-east-1"},
    "azure": {"region": "eastus"},
    "gcp": {"region": "us-central1", "gcp": {"project": "my-project-123"}},
}


def _config(cloud: str, provider: str) -> PlatformConfig:
    values = {"cloud": cloud, "domain": "ml.example.com", "cluster": {"apiAllowedCidrs": ["203.0.113.0/24"]},
              "secretsProvider": provider, **BASE.get(cloud, {})}
    if cloud == "local":
        values = {"cloud": "local", "secretsProvider": provider}
    return PlatformConfig.from_values(values, SOURCE)


@pytest.mark.parametrize("cloud, provider", [
    ("aws", AWS_KEY),
    ("aws", "awskms://1234abcd-12ab-34cd-56ef-1234567890ab?region=eu-west-1"),
    ("aws", "awskms:///arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"),
    ("azure", "azurekeyvault://mlops-vault.vault.azure.net/keys/pulumi-prod"),
    ("gcp", "gcpkms://projects/my-project-123/locations/global/keyRings/mlops/cryptoKeys/pulumi-prod"),
    ("local", "passphrase"),
    ("aws", "passphrase"),
])
def test_each_cloud_takes_its_own_kms_key(cloud, provider):
    assert _config(cloud, provider).secrets_provider == provider


@pytest.mark.parametrize("cloud, provider, fragment", [
    ("aws", "gcpkms://projects/my-project-123/locations/global/keyRings/r/cryptoKeys/k", "another cloud's key"),
    ("gcp", AWS_KEY, "another cloud's key"),
    ("local", AWS_KEY, "a local stack keeps its secrets with a passphrase"),
    ("aws", "awskms://my key", "is not a awskms:// key"),
    ("aws", "awskms:///arn:aws:kms:us-east-1:1111:key/x", "is not a awskms:// key"),
    ("azure", "azurekeyvault://vault.example.com/keys/k", "is not a azurekeyvault:// key"),
    ("gcp", "gcpkms://projects/p/keyRings/r", "is not a gcpkms:// key"),
    ("aws", "hashivault://transit/key", "is not a awskms:// key"),
])
def test_a_key_the_stack_cannot_use_is_one_line_naming_the_key(cloud, provider, fragment):
    with pytest.raises(ConfigError) as caught:
        _config(cloud, provider)
    message = str(caught.value)
    assert "\n" not in message and "secretsProvider" in message and fragment in message, message


def _use_key(project, stack: str, provider: str) -> None:
    path = project / "stacks" / f"Pulumi.{stack}.yaml"
    document = yaml.safe_load(path.read_text())
    document["config"]["platform:secretsProvider"] = provider
    path.write_text(yaml.safe_dump(document, sort_keys=False))


def test_a_kms_stack_is_created_with_its_key_and_asks_for_no_passphrase(project, state, fake):
    _use_key(project, "aws-dev", AWS_KEY)
    fake.events("preview", "preview-same")
    result = invoke("preview", "--cloud", "aws")  # no PULUMI_CONFIG_PASSPHRASE anywhere (the `state` fixture)
    assert result.exit_code == 0, result.stderr
    created = [c["args"] for c in fake.calls() if c["args"][:2] == ["stack", "init"]]
    assert created and created[0][created[0].index("--secrets-provider") + 1] == AWS_KEY, created
    assert not any(c["env"].get("PULUMI_CONFIG_PASSPHRASE_FILE") for c in fake.calls()), "no passphrase was generated"
    recorded = yaml.safe_load((project / "stacks" / "Pulumi.aws-dev.yaml").read_text())
    assert recorded["secretsprovider"] == AWS_KEY and "encryptionsalt" not in recorded
    again = invoke("preview", "--cloud", "aws")
    assert again.exit_code == 0, again.stderr


def test_a_passphrase_stack_is_still_created_with_a_passphrase(project, state, fake, monkeypatch):
    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE", "correct horse battery staple")
    fake.events("preview", "preview-same")
    assert invoke("preview", "--cloud", "aws").exit_code == 0
    created = [c for c in fake.calls() if c["args"][:2] == ["stack", "init"]]
    assert created and "--secrets-provider" not in created[0]["args"]


def test_a_provider_changed_after_creation_is_refused_before_the_engine_runs(project, state, fake, monkeypatch):
    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE", "correct horse battery staple")
    fake.events("preview", "preview-same")
    assert invoke("preview", "--cloud", "aws").exit_code == 0  # created with the passphrase: a salt recorded
    _use_key(project, "aws-dev", AWS_KEY)
    calls = len(fake.calls())
    result = invoke("preview", "--cloud", "aws")
    refused(result, "aws-dev", "encrypted by passphrase", f"platform:secretsProvider is {AWS_KEY}")
    assert "change-secrets-provider" in result.stderr
    assert not any(c["args"][:1] == ["preview"] for c in fake.calls()[calls:]), "the engine never ran"


def test_a_passphrase_file_for_a_kms_stack_is_refused(project, state, fake, tmp_path):
    _use_key(project, "aws-dev", AWS_KEY)
    secret = tmp_path / "passphrase"
    secret.write_text("correct horse battery staple")
    secret.chmod(0o600)
    result = invoke("preview", "--cloud", "aws", "--passphrase-file", str(secret))
    refused(result, "--passphrase-file", AWS_KEY)
    assert not fake.ran("preview")
