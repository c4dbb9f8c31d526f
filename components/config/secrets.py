"""Which secrets provider encrypts a stack's secrets (`platform:secretsProvider`).

`passphrase` (the default) is Pulumi's passphrase provider: whoever holds the passphrase decrypts
every secret of the stack. On a cloud, a stack can instead name a key of that cloud's KMS, so that
decrypting takes the cloud's own permission on that key (granted per environment, audited by the
cloud) and no shared secret exists at all. The provider is chosen when the stack is created
(`pulumi stack init --secrets-provider`); changing it later is `pulumi stack change-secrets-provider`.
Ref: https://www.pulumi.com/docs/iac/concepts/secrets/#available-encryption-providers
"""

from __future__ import annotations

import re
from typing import Optional

from .errors import shown_text

PASSPHRASE = "passphrase"

_AWS_KEY = r"(alias/[A-Za-z0-9/_-]{1,250}|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|mrk-[0-9a-f]{32})"
# A key id or alias (the region from ?region= or the environment), or a key's ARN after a third slash.
_FORMS: dict[str, tuple[str, re.Pattern[str], str]] = {
    "aws": ("awskms://", re.compile(
        rf"^awskms://({_AWS_KEY}(\?region=[a-z]{{2}}(-[a-z]+)+-\d)?|/arn:aws[a-z-]*:kms:[a-z]{{2}}(-[a-z]+)+-\d:\d{{12}}:"
        rf"(key/([0-9a-f-]{{36}}|mrk-[0-9a-f]{{32}})|alias/[A-Za-z0-9/_-]{{1,250}}))$"),
        "awskms://alias/<alias>?region=<region>, awskms://<key-id>?region=<region> or awskms:///<key ARN>"),
    "azure": ("azurekeyvault://", re.compile(
        r"^azurekeyvault://[a-z][a-z0-9-]{1,22}[a-z0-9]\.vault\.azure\.net/keys/[A-Za-z0-9-]{1,127}(/[0-9a-f]{32})?$"),
        "azurekeyvault://<vault>.vault.azure.net/keys/<key>"),
    "gcp": ("gcpkms://", re.compile(
        r"^gcpkms://projects/[a-z][a-z0-9-]{4,28}[a-z0-9]/locations/[a-z0-9-]+/keyRings/[A-Za-z0-9_-]{1,63}"
        r"/cryptoKeys/[A-Za-z0-9_-]{1,63}$"),
        "gcpkms://projects/<project>/locations/<location>/keyRings/<ring>/cryptoKeys/<key>"),
}


def problem(cloud: str, value: str) -> Optional[str]:
    """Why `value` cannot be the secrets provider of a stack on `cloud`, or None."""
    if value == PASSPHRASE:
        return None
    shown = shown_text(repr(value))
    if cloud not in _FORMS:
        return f"a {cloud} stack keeps its secrets with a passphrase (got {shown}); remove the key"
    scheme, pattern, spelled = _FORMS[cloud]
    others = [s for c, (s, _, _) in _FORMS.items() if c != cloud]
    if any(value.startswith(s) for s in others):
        return f"{shown} is another cloud's key; a {cloud} stack uses {scheme} ({spelled}) or {PASSPHRASE}"
    if not pattern.match(value):
        return f"{shown} is not a {scheme} key ({spelled}) nor {PASSPHRASE}"
    return None


def uses_key(value: Optional[str]) -> bool:
    """Whether a cloud KMS key, not a passphrase, encrypts the stack's secrets."""
    return value is not None and value != PASSPHRASE
