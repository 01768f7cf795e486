"""The house of DESIGN.md §2 holds: imports run one way.

An import graph of ``src/grukit`` is built with ``ast`` (imports inside functions included,
since a function-level import hides a cycle without removing it), then checked for
(a) cycles among the ``grukit.models`` modules, (b) the house order
``ops < nn < layers < models < tasks`` (nobody imports from a layer above its own) and
``cells.py`` importing nothing of grukit, (c) no module outside ``grukit.ops`` importing a
private name or an underscore module of ``grukit.ops``. Each check is also run on a
synthetic graph that breaks it, so that none can pass by finding nothing.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "grukit"

# the house, bottom first: a package may import only from packages of a lower rank
HOUSE = ("grukit.ops", "grukit.nn", "grukit.layers", "grukit.models", "grukit.export",
         "grukit.tasks")
CELLS = "grukit.cells"  # the cell spec: the floor of the house, imports nothing of grukit


def _module_name(path: Path, root: Path, package: str) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join([package, *parts])


def _modules(root: Path, package: str) -> dict[str, Path]:
    return {_module_name(p, root, package): p for p in sorted(root.rglob("*.py"))}


def _resolve(module: str, path: Path, node: ast.ImportFrom) -> str:
    """The absolute name a ``from ... import`` statement imports from."""
    if not node.level:
        return node.module or ""
    base = module.split(".")
    if path.name != "__init__.py":  # a module's package is its parent
        base = base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def imports(root: Path, package: str = "grukit") -> dict[str, list[tuple[str, str, int]]]:
    """module -> [(imported module, imported name or '', line)] for every import statement
    of the package at ``root``, wherever it stands (module level, functions, branches).
    ``from a import b`` records ``a.b`` as the module when ``a.b`` is a module of the
    package, else ``a`` with the name ``b``."""
    mods = _modules(root, package)
    out: dict[str, list[tuple[str, str, int]]] = {}
    for module, path in mods.items():
        rows = out.setdefault(module, [])
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.Import):
                rows += [(a.name, "", node.lineno) for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                target = _resolve(module, path, node)
                for a in node.names:
                    sub = f"{target}.{a.name}"
                    rows.append((sub, "", node.lineno) if sub in mods
                                else (target, a.name, node.lineno))
    return out


def graph(rows: dict[str, list[tuple[str, str, int]]], package: str = "grukit"):
    """module -> set of modules of the package it imports (the nearest module that exists:
    ``grukit.ops.gru.cpu.step`` counts as ``grukit.ops.gru.cpu``)."""
    known = set(rows)
    g: dict[str, set[str]] = {}
    for module, found in rows.items():
        edges = g.setdefault(module, set())
        for target, _, _ in found:
            while target and target not in known and target.startswith(package):
                target = target.rpartition(".")[0]
            if target in known and target != module:
                edges.add(target)
    return g


def cycles(g: dict[str, set[str]], prefix: str) -> list[list[str]]:
    """Every strongly connected set of two or more modules under ``prefix`` (Tarjan), each
    sorted: the import cycles among them."""
    nodes = [m for m in g if m == prefix or m.startswith(prefix + ".")]
    inside = set(nodes)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(g[v] & inside):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(nodes):
        if v not in index:
            visit(v)
    return sorted(found)


def _floor(module: str) -> str | None:
    for p in (*HOUSE, CELLS):
        if module == p or module.startswith(p + "."):
            return p
    return None


def order_violations(g: dict[str, set[str]]) -> list[str]:
    """'a imports b' for every import that runs up the house, and every import of grukit
    by the cell spec."""
    bad = []
    for module in sorted(g):
        own = _floor(module)
        for target in sorted(g[module]):
            if own == CELLS and target.startswith("grukit"):
                bad.append(f"{module} imports {target} (the cell spec imports nothing of "
                           f"grukit)")
                continue
            theirs = _floor(target)
            if own in HOUSE and theirs in HOUSE and HOUSE.index(theirs) > HOUSE.index(own):
                bad.append(f"{module} imports {target} ({theirs} sits above {own})")
    return bad


def private_ops_imports(rows: dict[str, list[tuple[str, str, int]]]) -> list[str]:
    """'module:line imports name' for every import, outside grukit.ops, of a name starting
    with '_' from grukit.ops or of (a name from) an underscore module of grukit.ops."""
    bad = []
    for module, found in sorted(rows.items()):
        if module == "grukit.ops" or module.startswith("grukit.ops."):
            continue
        for target, name, line in found:
            if not (target == "grukit.ops" or target.startswith("grukit.ops.")):
                continue
            private_module = any(part.startswith("_") for part in target.split("."))
            if private_module or name.startswith("_"):
                what = f"{target}.{name}" if name else target
                bad.append(f"{module}:{line} imports {what}")
    return bad


# -- the checks on grukit --------------------------------------------------------------------
@pytest.fixture(scope="module")
def rows():
    return imports(SRC)


def test_graph_sees_the_models_package(rows):
    g = graph(rows)
    assert "grukit.models.sequential" in g["grukit.models.loading"]
    assert "grukit.models.saving" in g["grukit.models.callbacks"]


def test_no_import_cycle_among_models_modules(rows):
    assert cycles(graph(rows), "grukit.models") == []


def test_imports_run_down_the_house(rows):
    assert order_violations(graph(rows)) == []


def test_no_module_outside_ops_imports_a_private_name_of_ops(rows):
    assert private_ops_imports(rows) == []


# -- each check can fail ---------------------------------------------------------------------
def _write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / "grukit" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root / "grukit"


def test_graph_builder_sees_function_level_and_relative_imports(tmp_path):
    pkg = _write(tmp_path, {
        "__init__.py": "",
        "models/__init__.py": "from .a import A\n",
        "models/a.py": "def f():\n    from .b import B\n    return B\n\nclass A: ...\n",
        "models/b.py": "from . import a\nB = 1\n",
        "ops/__init__.py": "",
        "ops/_k.py": "x = 1\n",
        "ops/gru/__init__.py": "from .._k import x\n",
    })
    g = graph(imports(pkg))
    assert g["grukit.models.a"] == {"grukit.models.b"}  # found inside the function
    assert g["grukit.models.b"] == {"grukit.models.a"}  # `from . import a` is the module
    assert g["grukit.models"] == {"grukit.models.a"}
    assert g["grukit.ops.gru"] == {"grukit.ops._k"}  # two dots from a package's __init__


def test_cycle_check_finds_a_cycle_hidden_in_a_function(tmp_path):
    pkg = _write(tmp_path, {
        "__init__.py": "",
        "models/__init__.py": "",
        "models/sequential.py": "def fit():\n    from .fit import run\n",
        "models/fit.py": "from .saving import save\n",
        "models/saving.py": "def load():\n    from .sequential import Sequential\n",
        "models/training.py": "from .fit import run\n",
    })
    assert cycles(graph(imports(pkg)), "grukit.models") == [
        ["grukit.models.fit", "grukit.models.saving", "grukit.models.sequential"]]


def test_cycle_check_passes_a_graph_that_runs_one_way():
    g = {"grukit.models.a": {"grukit.models.b"}, "grukit.models.b": {"grukit.models.c"},
         "grukit.models.c": set(), "grukit.nn": {"grukit.models.a"},
         "grukit.models.d": {"grukit.nn"}}
    assert cycles(g, "grukit.models") == []  # the loop through nn is not among models


@pytest.mark.parametrize("low, high", [
    ("grukit.ops.gru.cpu", "grukit.nn.gru"), ("grukit.ops", "grukit.layers"),
    ("grukit.ops.dispatch", "grukit.models"), ("grukit.ops", "grukit.tasks.compare"),
    ("grukit.nn.gru", "grukit.layers.core"), ("grukit.nn", "grukit.models.fit"),
    ("grukit.nn.stream", "grukit.tasks"), ("grukit.layers.core", "grukit.models"),
    ("grukit.layers", "grukit.tasks.forecast"), ("grukit.models.fit", "grukit.tasks"),
])
def test_order_check_refuses_an_import_up_the_house(low, high):
    assert order_violations({low: {high}, high: {low}}) == [
        f"{low} imports {high} ({_floor(high)} sits above {_floor(low)})"]


def test_order_check_refuses_grukit_in_the_cell_spec():
    assert order_violations({"grukit.cells": {"grukit._io"}, "grukit._io": set()}) == [
        "grukit.cells imports grukit._io (the cell spec imports nothing of grukit)"]


def test_private_check_finds_each_kind_of_private_import(tmp_path):
    pkg = _write(tmp_path, {
        "__init__.py": "",
        "ops/__init__.py": "_SECRET = 1\nfrom ._seq import rev\n",
        "ops/_seq.py": "def rev(): ...\n",
        "ops/_checks.py": "def shape_str(): ...\n",
        "ops/gru/__init__.py": "def gru(): ...\n_plan = 0\n",
        "nn/__init__.py": "",
        "nn/a.py": "from ..ops._checks import shape_str\n",
        "nn/b.py": "def f():\n    from grukit.ops import _SECRET\n",
        "nn/c.py": "import grukit.ops._seq\n",
        "nn/d.py": "from ..ops.gru import _plan, gru\n",
        "nn/ok.py": "from ..ops import rev\nfrom ..ops.gru import gru\nfrom . import a\n",
    })
    assert private_ops_imports(imports(pkg)) == [
        "grukit.nn.a:1 imports grukit.ops._checks.shape_str",
        "grukit.nn.b:2 imports grukit.ops._SECRET",
        "grukit.nn.c:1 imports grukit.ops._seq",
        "grukit.nn.d:1 imports grukit.ops.gru._plan",
    ]
