"""A passphrase file other users can read decrypts every secret of its stack: named in a warning
for a dev stack, refused for a prod one and for the generated one once loosened, before the engine
runs (cli/engine/workspace.py, check_passphrase_file)."""

from __future__ import annotations

from support.cli import invoke, one_line_error


def test_a_passphrase_file_others_can_read_is_named_in_dev_and_refused_in_prod(project, state, fake, tmp_path, monkeypatch):
    secret = tmp_path / "passphrase"
    secret.write_text("correct horse battery staple")
    secret.chmod(0o644)
    fake.events("preview", "preview-same")
    dev = invoke("preview", "--cloud", "aws", "--passphrase-file", str(secret))
    assert dev.exit_code == 0, dev.stderr
    assert f"--passphrase-file {secret} can be read by other users (mode 644)" in " ".join(dev.stderr.split())
    calls = len(fake.calls())
    prod = invoke("preview", "--cloud", "aws", "--env", "prod", "--passphrase-file", str(secret))
    assert prod.exit_code == 2 and "can be read by other users" in one_line_error(prod) and "chmod 600" in prod.stderr
    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE_FILE", str(secret))  # the same file, given the other way
    by_env = invoke("preview", "--cloud", "aws", "--env", "prod")
    assert by_env.exit_code == 2 and "PULUMI_CONFIG_PASSPHRASE_FILE" in one_line_error(by_env)
    assert not any(c["args"][:1] == ["preview"] for c in fake.calls()[calls:]), "the engine never ran for prod"
    monkeypatch.delenv("PULUMI_CONFIG_PASSPHRASE_FILE")
    secret.chmod(0o600)
    assert "can be read" not in invoke("preview", "--cloud", "aws", "--passphrase-file", str(secret)).stderr


def test_the_generated_passphrase_loosened_since_is_refused(project, state, fake):
    fake.events("preview", "preview-same")
    assert invoke("preview", "--cloud", "local").exit_code == 0
    generated = state / "mlops-platform" / "passphrases" / "local-dev.txt"
    generated.chmod(0o640)
    again = invoke("preview", "--cloud", "local")
    assert again.exit_code == 2 and f"the generated passphrase {generated} can be read by other users" in one_line_error(again)
