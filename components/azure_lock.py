"""A `CanNotDelete` lock on an Azure resource: nothing deletes it, not a portal click, not another
tool, until the lock goes (the stack's `protect` guards only against this program). On prod data
and on the audit trail's storage.
Ref: https://learn.microsoft.com/azure/azure-resource-manager/management/lock-resources
"""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_azure_native.authorization as authorization


def delete_lock(resource_name: str, what: str, target: Any, opts: pulumi.ResourceOptions) -> authorization.ManagementLockByScope:
    return authorization.ManagementLockByScope(
        resource_name,
        lock_name=f"mlops-platform-{what}",
        level="CanNotDelete",
        notes="prod data of mlops-platform: remove this lock before deleting the resource",
        scope=target.id,
        opts=opts,
    )
