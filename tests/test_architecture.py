"""The shape of the code, checked from its source: imports run one way between the four folders and
never in a circle, and no file or function grows past what a reader takes in at once.

Floors, from the bottom: components/ (the Pulumi program and its config), then policies/ (reads
components' names and quantities) and planner/ (runs the program offline), then cli/ on top.
An import inside `if TYPE_CHECKING:` is for the type checker only and does not count.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Iterator

import pytest

from support import ROOT

PACKAGE = "mlops_platform"
FOLDERS = ("components", "policies", "planner", "cli")
# What each folder may import from the others (itself always).
MAY_IMPORT = {
    "components": set(),
    "policies": {"components"},
    "planner": {"components", "policies"},
    "cli": {"components", "policies", "planner"},
}
MAX_FILE_LINES = 500
MAX_FUNCTION_LINES = 80


def _source_files(folders: tuple[str, ...] = FOLDERS) -> Iterator[tuple[str, Path]]:
    for folder in folders:
        for path in sorted((ROOT / folder).rglob("*.py")):
            yield folder, path


def module_name(folder: str, path: Path) -> str:
    parts = [p for p in path.relative_to(ROOT / folder).with_suffix("").parts if p != "__init__"]
    return ".".join([PACKAGE, folder, *parts])


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _runtime_imports(tree: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    """Every import statement Python may execute: at module level or inside functions, but not in
    an `if TYPE_CHECKING:` block."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.orelse:
                yield from _runtime_imports(ast.Module(body=[child], type_ignores=[]))
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        else:
            yield from _runtime_imports(node)


def import_graph(folders: tuple[str, ...] = FOLDERS) -> dict[str, set[str]]:
    """module -> the package modules it imports at run time (a `from X import y` of a submodule
    y counts as importing X and X.y, as Python does)."""
    files = {module_name(folder, path): path for folder, path in _source_files(folders)}
    graph: dict[str, set[str]] = {name: set() for name in files}
    for name, path in files.items():
        is_package = path.name == "__init__.py"
        for node in _runtime_imports(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                base = node.module or ""
                if node.level:
                    anchor = name.split(".") if is_package else name.split(".")[:-1]
                    anchor = anchor[: len(anchor) - (node.level - 1)]
                    base = ".".join([*anchor, *([node.module] if node.module else [])])
                targets = [base, *(f"{base}.{alias.name}" for alias in node.names)]
            for target in targets:
                while target and target not in files:
                    target = target.rpartition(".")[0]
                if target and target != name:
                    graph[name].add(target)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        for other in graph[module]:
            if other not in index:
                visit(other)
                low[module] = min(low[module], low[other])
            elif other in stack:
                low[module] = min(low[module], index[other])
        if low[module] == index[module]:
            component = []
            while True:
                top = stack.pop()
                component.append(top)
                if top == module:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for module in sorted(graph):
        if module not in index:
            visit(module)
    return found


def test_no_import_cycle():
    assert cycles(import_graph()) == []


def test_the_cycle_finder_finds_one_and_ignores_type_checking(tmp_path, monkeypatch):
    """The checks above are only as good as the graph: a planted cycle is found, and the same
    import under `if TYPE_CHECKING:` is not one."""
    (tmp_path / "components").mkdir()
    (tmp_path / "components" / "a.py").write_text("from . import b\n")
    (tmp_path / "components" / "b.py").write_text("def f():\n    from .a import x\n")
    monkeypatch.setitem(globals(), "ROOT", tmp_path)
    assert cycles(import_graph(("components",))) == [["mlops_platform.components.a", "mlops_platform.components.b"]]
    (tmp_path / "components" / "b.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .a import x\n")
    assert cycles(import_graph(("components",))) == []


def folder_of(module: str) -> str:
    return module.split(".")[1]


@pytest.mark.parametrize("folder", FOLDERS)
def test_imports_run_down_the_floors(folder):
    graph = import_graph()
    crossing = sorted(
        f"{module} imports {target}"
        for module, targets in graph.items() if folder_of(module) == folder
        for target in targets if folder_of(target) != folder and folder_of(target) not in MAY_IMPORT[folder]
    )
    assert crossing == []


def test_commands_do_not_import_other_commands():
    """A command module calls services (cli/*.py, cli/engine, cli/sweep), never another command."""
    graph = import_graph()
    commands = f"{PACKAGE}.cli.commands."
    shared = {f"{commands}common"}
    calls = sorted(f"{m} imports {t}" for m, targets in graph.items() if m.startswith(commands)
                   for t in targets if t.startswith(commands) and t not in shared)
    assert calls == []


def _every_python_file() -> Iterator[Path]:
    for folder in (*FOLDERS, "tests", "tools", "benchmarks"):
        yield from sorted((ROOT / folder).rglob("*.py"))
    yield ROOT / "__main__.py"


def test_no_file_is_over_500_lines():
    long = {str(p.relative_to(ROOT)): n for p in _every_python_file()
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_FILE_LINES}
    assert long == {}


def _is_data_table(function: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    """A function that only returns one literal (a table of values), after its docstring."""
    body = function.body[1:] if ast.get_docstring(function) is not None else function.body
    return len(body) == 1 and isinstance(body[0], ast.Return) and isinstance(body[0].value, (ast.Dict, ast.List, ast.Tuple))


def long_functions(paths: list[Path]) -> dict[str, int]:
    out = {}
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and not _is_data_table(node):
                lines = node.end_lineno - node.lineno + 1  # type: ignore[operator]
                if lines > MAX_FUNCTION_LINES:
                    out[f"{path.relative_to(ROOT)}:{node.lineno} {node.name}"] = lines
    return out


def test_no_function_is_over_80_lines_outside_data_tables():
    assert long_functions(list(_every_python_file())) == {}


def test_a_long_function_is_found_and_a_long_table_is_not(tmp_path, monkeypatch):
    monkeypatch.setitem(globals(), "ROOT", tmp_path)
    body = "\n".join(f"    x{i} = {i}" for i in range(81))
    table = "\n".join(f"        {i}: {i}," for i in range(81))
    (tmp_path / "m.py").write_text(f"def long():\n{body}\n\n\ndef table():\n    \"\"\"Doc.\"\"\"\n    return {{\n{table}\n    }}\n")
    assert long_functions([tmp_path / "m.py"]) == {"m.py:1 long": 82}


def test_the_services_layer_is_the_tests_that_start_a_real_service():
    """`-m services` selects every test that starts a real service on loopback (through a fixture,
    however indirectly) and nothing else, so that layer can be run alone."""
    import subprocess
    import sys

    def collected(marker: str) -> set[str]:
        result = subprocess.run(
            [sys.executable, "-m", "pytest", "-o", "addopts=", "-p", "no:cacheprovider", "-q", "--collect-only", "-m", marker],
            cwd=ROOT, capture_output=True, text=True, timeout=120,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        return {line for line in result.stdout.splitlines() if "::" in line}

    services = collected("services")
    assert {
        "tests/test_sweep.py::test_the_sweep_finds_exactly_the_stacks_leftovers_and_prices_them",  # moto
        "tests/test_models_promote.py::test_list_shows_the_stack_beside_the_registry",  # mlflow server
        "tests/test_models_promote.py::test_promote_by_alias_rewrites_the_stack_file_and_previews",
        "tests/test_chart_pull.py::test_charts_pull_from_an_oci_registry_gets_the_pinned_archives_byte_for_byte",
        "tests/test_kube_api.py::test_no_drain_skips_it_and_the_engine_destroys",  # moto, beside a replayed API
    } <= services
    assert not {t for t in services if t.startswith(("tests/test_architecture.py", "tests/test_policies.py"))}
    assert "tests/test_sweep.py::test_without_credentials_one_line_and_exit_1" not in services
