"""`platform mirror push`: fill an air-gapped install's mirror. The charts go from the local cache
(each archive's digest checked first) into the mirror's OCI registry with Helm's own SDK; the image
copies are printed as `skopeo copy` commands, or run with --run, each by digest where the lock has
one so that the copy keeps it."""

from __future__ import annotations

import shlex
from typing import Any, Optional

import typer

from .common import Cloud, CloudOption, EnvOption, JsonOption

mirror_app = typer.Typer(name="mirror", short_help="Fill an air-gapped install's mirror.", no_args_is_help=True,
                         add_completion=False, help="The registry mirror an air-gapped stack installs from (mirror: in the stack file).")


def register(app: typer.Typer) -> None:
    app.add_typer(mirror_app)


def copies(references: list[str], mirror: str) -> list[dict[str, Any]]:
    """One copy per image: from its source (by its locked digest when there is one) to where the
    stack's ImageSource pulls it under `mirror`, with the skopeo command that makes it."""
    from mlops_platform.components.image_source import ImageSource, text_of

    here, there = ImageSource(), ImageSource(mirror)
    out = []
    for reference in sorted(set(references)):
        found = here.resolve(reference)
        source = text_of(found) if not found.digest else f"{found.name}@{found.digest}"
        target = there.resolve(reference)
        destination = f"{target.name}:{target.tag or 'latest'}"
        # --all: every platform of a multi-arch image; --preserve-digests: the copy keeps the digest the lock pins.
        # Ref: https://github.com/containers/skopeo/blob/main/docs/skopeo-copy.1.md
        command = ["skopeo", "copy", "--all", *(["--preserve-digests"] if found.digest else []),
                   f"docker://{source}", f"docker://{destination}"]
        out.append({"source": source, "destination": destination, "digest": found.digest, "command": command})
    return out


@mirror_app.command("push", short_help="Copy the charts into the mirror and print (or run) the image copies.")
def push(
    to: Optional[str] = typer.Option(None, "--to", show_default=False,
                                     help="The mirror: host[:port][/prefix] (default: the stack file's mirror.images)."),
    cloud: Cloud = CloudOption,
    env: str = EnvOption,
    run: bool = typer.Option(False, "--run", help="Run the image copies (skopeo on PATH, logged in to both registries)."),
    json_output: bool = JsonOption,
) -> None:
    """Push every chart the stack installs, from the local cache and digest-checked, to
    oci://<mirror>/charts (what `mirror.charts` then names), and copy every image the stack runs to
    <mirror>/<source registry path>, where the stack pulls it once `mirror.images` is set."""
    import shutil
    import subprocess

    from mlops_platform.components.config.sections import MirrorConfig
    from mlops_platform.planner import charts

    from .. import display
    from ..errors import EXIT_FAILED, fail
    from ..project import load_config
    from ..stack_images import source_plan, source_references

    config = load_config(cloud, env)
    mirror = to if to is not None else config.mirror.images
    if not mirror:
        fail("no mirror given: pass --to host[/prefix], or set mirror.images in the stack file", "e.g. --to registry.example/mirror")
    try:
        MirrorConfig(images=mirror)
    except ValueError:
        fail(f"--to {mirror!r} is not a registry path (host[:port][/prefix], no scheme)", "e.g. --to registry.example/mirror")
    mirror = mirror.rstrip("/")
    if run and shutil.which("skopeo") is None:
        fail("--run copies the images with skopeo, which is not on PATH",
             "install it (Debian/Ubuntu: apt-get install skopeo), or leave --run out and run the printed commands")
    chart_target = f"oci://{mirror}/charts"
    # The render first: a stack that does not render whole stops here, before anything is pushed.
    plan = source_plan(config)
    images = copies(source_references(plan), mirror)
    pushed = _push_charts(charts.used_by(plan.run), chart_target, display.progress)
    failed = []
    if run:
        for number, item in enumerate(images, start=1):
            display.progress(f"copying {item['source']} ({number}/{len(images)})")
            done = subprocess.run(item["command"], capture_output=True, text=True)
            item["copied"] = done.returncode == 0
            if done.returncode:
                failed.append((item["source"], (done.stderr.strip().splitlines() or ["exit code %d" % done.returncode])[-1]))
    if json_output:
        display.print_json({"stack": config.stack_name, "mirror": mirror, "charts": pushed, "images": images})
    elif not run:
        for item in images:
            print(shlex.join(item["command"]))
    display.progress(f"{len(pushed)} charts pushed to {chart_target}; {len(images)} images "
                     + ("copied" if run else "to copy (the commands above)") + f"; then set mirror: {{charts: {chart_target}, "
                     f"images: {mirror}}} in the stack file")
    if failed:
        fail(f"{len(failed)} of {len(images)} image copies failed (first: {failed[0][0]}: {failed[0][1][:160]})",
             "check that skopeo is logged in to both registries, then run again", EXIT_FAILED)


def _push_charts(selected: list, target: str, progress: Any) -> list[dict[str, Any]]:
    import helm_python as helm

    from mlops_platform.planner import charts, digests

    from ..errors import EXIT_FAILED, fail

    folder = charts.charts_dir()
    archives = [(chart, charts.archive_path(chart, folder)) for chart in selected]
    # Every archive is checked before the first push: a bad one leaves the mirror as it was.
    for chart, path in archives:
        problem = charts.problem(chart, path) if path.is_file() else f"is not in the chart cache {folder}"
        if problem:
            fail(f"{chart.archive} {problem}", f"{charts.PULL_HINT} --force")
    out = []
    for chart, path in archives:
        progress(f"pushing {chart.short_name} {chart.version} to {target}")
        try:
            helm.push(path, target, plain_http=charts.on_loopback(target))
        except Exception as err:  # noqa: BLE001 - the Helm SDK raises its own error types
            fail(f"pushing {chart.archive} to {target}: {str(err).splitlines()[0][:200] if str(err) else type(err).__name__}",
                 "check the registry address and that you are logged in to it (helm registry login)", EXIT_FAILED)
        out.append({"chart": chart.short_name, "version": chart.version, "to": f"{target}/{chart.short_name}",
                    "sha256": digests.sha256_of(path)})
    return out
