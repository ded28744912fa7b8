"""The code stays easy to live in: ruff finds nothing, modules and functions stay small, imports run one way."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from pledgebox import ROOT

PACKAGE = ROOT / "pledgebox"
MAX_MODULE_LINES = 450
MAX_FUNCTION_LINES = 60


def module_name(path: Path, package: Path) -> str:
    """pledgebox/web.py -> pledgebox.web; pledgebox/__init__.py -> pledgebox."""
    parts = path.relative_to(package.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path, package: Path, modules: set[str]) -> set[str]:
    """The package's modules that the file at path imports, at the top or inside any function."""
    me = module_name(path, package)
    # A module's relative imports start from its package; a package's own __init__ is that package.
    base = me if path.name == "__init__.py" else me.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                anchor = base.rsplit(".", node.level - 1)[0] if node.level > 1 else base
                origin = f"{anchor}.{node.module}" if node.module else anchor
            else:
                origin = node.module or ""
            # `from . import web` imports the module pledgebox.web; `from . import ROOT` the package.
            names = [
                f"{origin}.{alias.name}" if f"{origin}.{alias.name}" in modules else origin for alias in node.names
            ]
        else:
            continue
        for name in names:
            while name and name not in modules:  # `import pledgebox.web.x` -> pledgebox.web
                name = name.rpartition(".")[0]
            if name and name != me:
                found.add(name)
    return found


def import_graph(package: Path) -> dict[str, set[str]]:
    """Every module of the package, with the package's modules it imports."""
    files = sorted(package.rglob("*.py"))
    modules = {module_name(path, package) for path in files}
    return {module_name(path, package): imported_modules(path, package, modules) for path in files}


def import_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Each group of modules that import one another in a circle (Tarjan's strongly connected components)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in sorted(graph.get(node, ())):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                cycles.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return cycles


def oversize(package: Path) -> tuple[list[str], list[str]]:
    """(modules over MAX_MODULE_LINES, functions over MAX_FUNCTION_LINES), each as a readable line."""
    modules, functions = [], []
    for path in sorted(package.rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        where = path.relative_to(package).as_posix()
        lines = len(text.splitlines())
        if lines > MAX_MODULE_LINES:
            modules.append(f"{where}: {lines} lines")
        for node in ast.walk(ast.parse(text, filename=str(path))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = node.end_lineno - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    functions.append(f"{where}:{node.lineno} {node.name}(): {length} lines")
    return modules, functions


# -- the project ------------------------------------------------------------------------


def test_ruff_finds_nothing():
    """`ruff check` over the project (rules and line length in pyproject.toml) reports no finding."""
    run = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--no-cache", "--output-format", "concise", "."],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, f"ruff check found:\n{run.stdout}{run.stderr}"


def test_ruff_format_changes_nothing():
    """The code is as `ruff format` writes it (the version is pinned in pyproject.toml's test extras)."""
    run = subprocess.run(
        [sys.executable, "-m", "ruff", "format", "--check", "--no-cache", "."],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, f"ruff format would change:\n{run.stdout}{run.stderr}"


def test_no_module_or_function_is_too_long():
    modules, functions = oversize(PACKAGE)
    offenders = modules + functions
    assert not offenders, (
        f"over {MAX_MODULE_LINES} lines a module or {MAX_FUNCTION_LINES} a function "
        "(split it by what it does):\n  " + "\n  ".join(offenders)
    )


def test_no_import_cycle_between_pledgebox_modules():
    graph = import_graph(PACKAGE)
    assert "pledgebox.web" in graph["pledgebox.cli"]  # the graph sees function-level imports
    cycles = import_cycles(graph)
    assert not cycles, "modules that import one another:\n  " + "\n  ".join(" <-> ".join(c) for c in cycles)


def test_mirror_renders_without_the_server():
    """A mirror is built offline: it uses the pages, never web's Site (store, rate limit, token keys)."""
    graph = import_graph(PACKAGE)
    assert "pledgebox.pages" in graph["pledgebox.mirror"]
    assert "pledgebox.web" not in graph["pledgebox.mirror"]


def test_the_readme_layout_names_every_module_once():
    """README's "Layout of the code" has one line per pledgebox module, and no line for a module that is gone."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = readme.split("## Layout of the code", 1)[1].split("```", 2)[1]
    listed = [line.split()[0] for line in block.splitlines() if line.startswith("pledgebox/")]
    modules = sorted(path.relative_to(ROOT).as_posix() for path in PACKAGE.rglob("*.py"))
    assert sorted(listed) == modules, (
        f"missing: {sorted(set(modules) - set(listed))}; "
        f"gone: {sorted(set(listed) - set(modules))}; "
        f"twice: {sorted({m for m in listed if listed.count(m) > 1})}"
    )


# -- the checks themselves, on packages made up for the purpose -------------------------


def make_package(tmp_path: Path, files: dict[str, str]) -> Path:
    """A package `pkg` under tmp_path holding these files (relative path -> source)."""
    package = tmp_path / "pkg"
    for name, source in ({"__init__.py": "ROOT = 1\n"} | files).items():
        (package / name).parent.mkdir(parents=True, exist_ok=True)
        (package / name).write_text(source, encoding="utf-8")
    return package


@pytest.mark.parametrize(
    "b_imports_a",
    [
        "from . import a\n",
        "from .a import thing\n",
        "import pkg.a\n",
        "from pkg import a\n",
        "def later():\n    from . import a\n",  # a function-level import closes a cycle too
        "class C:\n    def m(self):\n        from .sub.c import x\n",  # through a subpackage
    ],
)
def test_the_cycle_check_sees_every_form_of_import(tmp_path, b_imports_a):
    package = make_package(
        tmp_path,
        {"a.py": "from . import b\n", "b.py": b_imports_a, "sub/__init__.py": "", "sub/c.py": "from .. import a\n"},
    )
    cycles = import_cycles(import_graph(package))
    assert cycles and "pkg.a" in cycles[0] and "pkg.b" in cycles[0]


def test_imports_that_run_one_way_are_no_cycle(tmp_path):
    package = make_package(
        tmp_path, {"a.py": "from . import ROOT, b\nimport os\n", "b.py": "from .c import x\n", "c.py": "x = 1\n"}
    )
    graph = import_graph(package)
    assert graph["pkg.a"] == {"pkg", "pkg.b"} and graph["pkg.b"] == {"pkg.c"} and graph["pkg.c"] == set()
    assert import_cycles(graph) == []


def test_the_size_check_names_each_offender(tmp_path):
    body = "\n".join(f"    x{i} = {i}" for i in range(MAX_FUNCTION_LINES - 1))
    package = make_package(
        tmp_path,
        {
            "ok.py": f"def fits():\n{body}\n",  # exactly the limit
            "long.py": f"def too_long():\n{body}\n    return 0\n" + "\n" * MAX_MODULE_LINES,
        },
    )
    modules, functions = oversize(package)
    assert modules == [f"long.py: {MAX_FUNCTION_LINES + 1 + MAX_MODULE_LINES} lines"]
    assert functions == [f"long.py:1 too_long(): {MAX_FUNCTION_LINES + 1} lines"]
