"""Pulumi entry point: parse the stack's `platform:` config once, then build the platform."""

import pulumi

from mlops_platform.components.config import PlatformConfig
from mlops_platform.components.platform import MlopsPlatform

config = PlatformConfig.from_pulumi(pulumi.get_stack())
platform = MlopsPlatform("mlops", config)
pulumi.export("endpoints", platform.endpoints)
pulumi.export("kubeconfig", platform.kubeconfig)
pulumi.export("credentials", platform.credentials)
# The issuer and the clients' ids (`platform token` reads them): known after `up` where the cloud makes them.
pulumi.export("signIn", platform.sign_in)
# Where MLflow's artifacts live, as KServe reads them (`platform models promote` maps onto it).
pulumi.export("modelStore", platform.model_store)
# What it runs: per Helm release the chart, version and values digest; Kubernetes; the MLflow schema
# (`platform upgrade` compares it with this version; `up` refuses a skipped Kubernetes minor from it).
pulumi.export("deployment", platform.deployment)
# Where the bucket and the database are (`platform backup` and `restore` read it).
pulumi.export("data", platform.data_stores)
