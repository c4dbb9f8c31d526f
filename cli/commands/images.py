"""`platform images list`: every image a stack's cluster runs, and where each comes from; `platform
images lock`: each of them resolved to its digest, in the image lock."""

from __future__ import annotations

from typing import Optional

import typer

from .common import Cloud, CloudOption, EnvOption, JsonOption

images_app = typer.Typer(name="images", short_help="The images a stack runs.", no_args_is_help=True, add_completion=False,
                         help="The container images a stack's cluster runs.")


def register(app: typer.Typer) -> None:
    app.add_typer(images_app)


@images_app.command("list", short_help="Every image the cluster will run, with where it comes from.")
def list_images(
    cloud: Cloud = CloudOption,
    env: str = EnvOption,
    json_output: bool = JsonOption,
) -> None:
    """Every image of every container the stack's cluster will run, offline: the platform's own,
    each chart's (rendered), the serving runtimes', and what controllers inject (KServe's
    storage-initializer, agent and model server, prometheus-operator's config reloader). A chart
    not in the cache leaves its images out: the list says it is partial."""
    from rich.markup import escape
    from rich.table import Table

    from mlops_platform.planner.images import inventory

    from .. import display
    from ..planning import offline_plan, report_missing_charts
    from ..project import load_config

    config = load_config(cloud, env)
    result = offline_plan(config, f"Rendering stack {config.stack_name}")
    report_missing_charts(result.view)
    images, unknown = inventory(result.view)
    if json_output:
        display.print_json({"stack": config.stack_name, "partial": result.view.partial,
                            "images": [i.to_json() for i in images], "unknownImages": unknown})
        return
    table = Table(box=None)
    for column in ("image", "from", "containers"):
        table.add_column(column)
    for image in images:
        table.add_row(escape(image.reference), escape(", ".join(sorted(image.sources))), str(len(image.used_by)))
    display.out().print(table)
    display.progress(f"{len(images)} images in stack {config.stack_name}"
                     + (" (partial: charts not rendered)" if result.view.partial else "")
                     + (f"; {len(unknown)} containers without an image: {', '.join(unknown[:5])}" if unknown else ""))


ViaOption = typer.Option(
    None, "--via", show_default=False,
    help="Resolve each image where this mirror keeps it (host[/prefix], e.g. registry.example/mirror; with --cloud, "
         "the stack file's mirror.images by default): "
         "images copied by digest keep their digest. Plain HTTP only to a registry on this machine.")


@images_app.command("lock", short_help="Resolve every image to its digest and write the image lock.")
def lock_images(
    cloud: Optional[Cloud] = typer.Option(None, "--cloud", "-c", show_default=False,
                                          help="Only this stack's images (default: those of every stack file in stacks/)."),
    env: str = EnvOption,
    via: Optional[str] = ViaOption,
    json_output: bool = JsonOption,
) -> None:
    """Resolve the tag of every image the stacks run to the digest its registry serves now, and write
    the image lock (components/images.lock.json, or $PLATFORM_IMAGES_LOCK) whole or not at all. Renders
    then pin each locked image by digest. Exit 1 when some image could not be resolved (the lock is
    still written with what was)."""
    from mlops_platform.components import image_lock
    from mlops_platform.planner import image_locking

    from .. import display
    from ..errors import EXIT_FAILED, fail
    from ..project import load_config, stack_names
    from ..stack_images import source_plan, source_references

    if via is not None and (not via or "://" in via or via.startswith("/")):
        fail(f"--via {via!r} is not a registry (host[:port][/prefix])", "e.g. --via registry.example/mirror")
    try:
        before = image_lock.load()
    except image_lock.LockError as err:
        fail(str(err), "remove it, or point PLATFORM_IMAGES_LOCK at another file")
    targets = [(cloud, env)] if cloud is not None else [tuple(name.split("-", 1)) for name in stack_names()]
    references: list[str] = []
    for stack_cloud, stack_env in targets:
        config = load_config(stack_cloud, stack_env)
        references += source_references(source_plan(config))
        if via is None and cloud is not None and config.mirror.images:
            via = config.mirror.images  # an air-gapped stack resolves where it pulls from
    entries = image_locking.lock(references, before, via, on_image=lambda ref: display.progress(f"resolving {ref}"))
    kept = {} if cloud is None else before
    path = image_lock.lock_path()
    try:
        image_locking.write(path, entries, kept)
    except OSError as err:
        fail(f"cannot write the image lock {path}: {err.strerror}", "set PLATFORM_IMAGES_LOCK to a writable file", EXIT_FAILED)
    unresolved = [e for e in entries if e.problem]
    if json_output:
        display.print_json({"lock": str(path), "images": [{"image": e.reference, "digest": e.digest, "problem": e.problem}
                                                          for e in entries]})
    else:
        for entry in entries:
            print(f"{entry.reference}  {entry.digest or 'unresolved: ' + str(entry.problem)}")
    display.progress(f"{len(entries) - len(unresolved)} of {len(entries)} images resolved; lock written to {path}")
    if unresolved:
        fail(f"{len(unresolved)} images could not be resolved (first: {unresolved[0].reference}: {unresolved[0].problem})",
             "each keeps the digest it had, if any", EXIT_FAILED)
