"""OIDC clients a cloud creates for the stack (`identity.provider: cognito | entra`): the issuer, the
stack's sign-in client and a client for scripts, made with the cloud's own API instead of the
stack file's `issuer`/`clientId`/`clientSecret`. Each preset yields the same `OidcClient`
(outputs.py); Identity takes it in place of the stack file's values.
"""

from __future__ import annotations

from typing import Optional

import pulumi

from ..cluster.outputs import ClusterOutputs
from ..config import PlatformConfig
from .outputs import OidcClient, OidcClientArgs

# provider -> module:class, relative to this package (a preset's SDK is imported only when used).
PRESETS: dict[str, str] = {"cognito": "cognito:CognitoClient", "entra": "entra:EntraClient"}


def build_oidc_client(name: str, config: PlatformConfig, cluster: ClusterOutputs,
                      parent: pulumi.Resource) -> Optional[OidcClient]:
    """The stack's cloud-made client, a child of `parent`; None when the stack file names its own
    issuer or runs Dex."""
    from ..infrastructure import implementation

    reference = PRESETS.get(config.identity.kind)
    if reference is None:
        return None
    args = OidcClientArgs(
        network=cluster.network,
        domain=config.effective_domain,
        prefix=config.stack_name,
        groups=(*config.identity.admin_groups, *config.identity.user_groups),
        tags=config.resource_tags(),
        protect=config.is_prod,
    )
    component = implementation(f"oidc_clients.{reference}")(f"{name}-oidc-client", args, pulumi.ResourceOptions(parent=parent))
    client: OidcClient = component.outputs
    return client
