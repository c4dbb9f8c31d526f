"""The offline plan as the commands run it: a chart archive that cannot be used, or a chart that
refuses to render, is one line and exit 2 naming the archive, before anything is written."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

from .errors import fail

if TYPE_CHECKING:
    from mlops_platform.components.config import PlatformConfig
    from mlops_platform.planner.cluster_model import ClusterView
    from mlops_platform.planner.plan import Plan


def offline_plan(config: PlatformConfig, title: str) -> Plan:
    """The plan, with its steps shown under `title` on stderr while it works."""
    from mlops_platform.planner import charts
    from mlops_platform.planner.chart_render import RenderError
    from mlops_platform.planner.plan import build_plan

    from . import display

    try:
        with display.steps(title) as step:
            return build_plan(config, on_step=step)
    except charts.ArchiveError as err:
        fail(str(err), f"replace it: {charts.PULL_HINT} --force")
    except RenderError as err:
        fail(str(err), f"if the archive was changed, replace it: {charts.PULL_HINT} --force")


def report_missing_charts(view: ClusterView) -> None:
    """One line when some releases could not be rendered: which, and how to get their charts."""
    if not view.missing:
        return
    from mlops_platform.planner.charts import PULL_HINT

    from . import display

    listed = ", ".join(f"{m.reference.rsplit('/', 1)[-1]} {m.version}" for m in view.missing)
    display.err().print(
        "[yellow]warning:[/yellow] " + display.literal(
            f"not rendered (chart not in {view.charts_dir}): {listed}; their footprint is "
            f"estimated from values and their pods are not checked (run `{PULL_HINT}`)")
    )


def base_plan(path: Path, stack: str, flag: str) -> dict[str, Any]:
    """A saved plan given with `flag` (--compare, --from), checked before any work: readable, a
    plan, and of this stack."""
    from mlops_platform.planner.compare import PlanFileError, load_plan

    from . import paths

    paths.input_file(path, flag)
    try:
        document = load_plan(path)
    except PlanFileError as err:
        fail(f"{flag} {err}", "give a file written by platform plan --json")
    if document["stack"] != stack:
        fail(f"{flag} {path} is a plan of stack {document['stack']}, not {stack}",
             "give a plan of the same stack (--cloud and --env as when it was saved)")
    return document


def deployed_plan(config: PlatformConfig, engine: Any) -> dict[str, Any]:
    """What the stack runs, in the form of a saved plan: its `deployment` output and its state's
    resources (the Helm releases' inputs: chart, version, values), secrets masked."""
    from mlops_platform.components import names

    from .running import run_operation

    record = deployed_record(config, engine)
    if record is None:
        fail(f"stack {config.stack_name} has no deployment record in its outputs (never deployed, or deployed by a "
             "version before `platform upgrade`)", "give the plan saved at the deployed version: --from BASE.json")

    def unsecret(value: Any) -> Any:
        if isinstance(value, dict):
            return names.SECRET_MASK if names.PULUMI_SIGNATURE_KEY in value else {k: unsecret(v) for k, v in value.items()}
        if isinstance(value, list):
            return [unsecret(v) for v in value]
        return value

    resources = [{"type": r.get("type"), "urn": r.get("urn"), "name": str(r.get("urn", "")).rsplit("::", 1)[-1],
                  "inputs": unsecret(r.get("inputs") or {})} for r in run_operation(config, engine.resources)]
    return {"stack": config.stack_name, "deployment": record, "resources": resources}


def deployed_record(config: PlatformConfig, engine: Any) -> Optional[dict[str, Any]]:
    """The stack's `deployment` output, or None when it has none (never deployed, or by an older version)."""
    from .running import run_operation

    output = run_operation(config, engine.outputs).get("deployment")
    return output.value if output is not None and isinstance(output.value, dict) else None


def check_kubernetes_skew(config: PlatformConfig, record: Optional[dict[str, Any]]) -> None:
    """`up` and `preview`: the stack's Kubernetes minor moves by one at most from what it runs (its
    deployment output, `record`), before the engine previews anything; a new stack has nothing to
    skew from. The node pools follow the control plane in the same update (each pool depends on the
    cluster)."""
    from mlops_platform.planner.upgrade import UpgradeError, check_kubernetes

    deployed = (record or {}).get("kubernetes")
    if not deployed:
        return
    try:
        check_kubernetes(str(deployed), config.cluster.kubernetes_version)
    except UpgradeError as err:
        fail(f"stack {config.stack_name}: {err}; nothing was previewed or deployed",
             "set cluster.kubernetesVersion in the stack file (see README, Upgrades)")


def pending_mlflow_migrations(config: PlatformConfig, record: Optional[dict[str, Any]]) -> list[tuple[str, str]]:
    """The MLflow schema migrations this `up` would run on the deployed database (from the schema
    revision in its deployment record to the pinned head); none for a new stack or no MLflow."""
    from mlops_platform.planner.upgrade import pending_migrations

    deployed = (record or {}).get("mlflowSchema")
    if not deployed or not config.mlflow.enabled:
        return []
    return pending_migrations(str(deployed))  # none from the pinned head
