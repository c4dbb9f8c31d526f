"""Which Pulumi provider SDK each cloud needs, installed as an extra of this package.

The local stack (kind) needs none of them: `pip install mlops-platform` stays small, and a cloud
is added with `pip install 'mlops-platform[aws]'` (or `[azure]`, `[gcp]`, `[all]`).
"""

from __future__ import annotations

import importlib.util
from typing import Optional

# cloud -> (import name of the provider SDK, the package extra that installs it)
SDKS = {"aws": ("pulumi_aws", "aws"), "azure": ("pulumi_azure_native", "azure"), "gcp": ("pulumi_gcp", "gcp")}


def missing(cloud: str) -> Optional[str]:
    """The one-line reason a stack on `cloud` cannot run here, or None when its SDK is installed."""
    if cloud not in SDKS:
        return None
    module, extra = SDKS[cloud]
    if importlib.util.find_spec(module) is not None:
        return None
    return f"{cloud} stacks need the {module.replace('_', '-')} SDK, an optional extra: pip install 'mlops-platform[{extra}]'"
