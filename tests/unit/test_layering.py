"""The layering of DESIGN.md section 2, held by a test: every import in envrun/, read with ast.

| layer | packages | may import |
| 0 | errors, settings, proc, fsutil | errors (proc also settings: the child environment) |
| 1 | model/ | 0 |
| 2 | env/ | 0-1 |
| 3 | run/, pickles/ | 0-2; run/worker/ imports nothing outside itself (stdlib and relative only) |
| 4 | api.py | 0-3 |
| 5 | check/, drift/ | 0-4, not each other |
| 6 | serve/, batch/ | 0-4 |
| 7 | cli/ | everything |

Also: no `_private` name is imported across packages, and only envrun/proc.py imports subprocess.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.helpers import ROOT

PACKAGE = ROOT / "envrun"
WORKER = "envrun.run.worker"

# The area (top-level module or package of envrun) each module belongs to, and its layer.
LAYERS = {
    "envrun": 0,  # the package itself: __version__ only
    "envrun.errors": 0,
    "envrun.settings": 0,
    "envrun.proc": 0,
    "envrun.fsutil": 0,
    "envrun.model": 1,
    "envrun.env": 2,
    "envrun.run": 3,
    "envrun.pickles": 3,
    "envrun.api": 4,
    "envrun.check": 5,
    "envrun.drift": 5,
    "envrun.serve": 6,
    "envrun.batch": 6,
    "envrun.cli": 7,
    "envrun.__main__": 7,
}
# Deprecated shims sit in the area they point to.
# ... and so do top-level faces of a deeper area (envrun.spark is batch/spark's face).
ALIASES = {"envrun.drift_run": "envrun.drift", "envrun.spark": "envrun.batch"}
# The highest layer each layer may import from (besides its own area).
CEILING = {1: 0, 2: 1, 3: 2, 4: 3, 5: 4, 6: 4, 7: 7}
# Layer 0 modules import each other only where the table says so.
LAYER0_ALLOWED = {
    ("envrun.errors", "envrun"),
    ("envrun.settings", "envrun.errors"),
    ("envrun.fsutil", "envrun.errors"),
    ("envrun.proc", "envrun.errors"),
    ("envrun.proc", "envrun.settings"),
}


@dataclass(frozen=True)
class Module:
    """One source file of the package, by dotted name."""

    name: str
    path: Path

    @property
    def is_package(self) -> bool:
        return self.path.name == "__init__.py"

    @property
    def package(self) -> str:
        """The package the module lives in (a package's own __init__ is in itself)."""
        return self.name if self.is_package else self.name.rpartition(".")[0]


def modules() -> list[Module]:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found.append(Module(".".join(parts), path))
    return found


def exists(dotted: str) -> bool:
    base = ROOT.joinpath(*dotted.split("."))
    return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()


def is_package(dotted: str) -> bool:
    return (ROOT.joinpath(*dotted.split(".")) / "__init__.py").is_file()


def area(dotted: str) -> str:
    parts = dotted.split(".")
    top = ".".join(parts[:2]) if len(parts) > 1 else parts[0]
    return ALIASES.get(top, top)


@dataclass(frozen=True)
class Edge:
    """One imported envrun module (and the names taken from it), with where the import is."""

    target: str
    names: tuple[str, ...]
    line: int


def imports(module: Module) -> Iterator[Edge | tuple[str, int, int]]:
    """envrun imports as Edges; every other import as (top-level name, level, line)."""
    tree = ast.parse(module.path.read_text(encoding="utf-8"), str(module.path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "envrun":
                    yield Edge(alias.name, (), node.lineno)
                else:
                    yield alias.name.split(".")[0], 0, node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.package.split(".")
                base = base[: len(base) - (node.level - 1)] if node.level > 1 else base
                target = ".".join([*base, *([node.module] if node.module else [])])
                yield Edge(target, tuple(a.name for a in node.names), node.lineno)
                yield target, node.level, node.lineno
            elif node.module and node.module.split(".")[0] == "envrun":
                yield Edge(node.module, tuple(a.name for a in node.names), node.lineno)
            elif node.module:
                yield node.module.split(".")[0], 0, node.lineno


def targets(edge: Edge) -> Iterator[str]:
    """The modules an import loads: `from envrun.env import lock` loads envrun.env.lock."""
    yield edge.target
    for name in edge.names:
        sub = f"{edge.target}.{name}"
        if exists(sub):
            yield sub


def private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def layering_problems(module: Module, edge: Edge) -> list[str]:
    mine = area(module.name)
    if mine not in LAYERS:
        return [f"{module.name} is in no layer; add its area to the table"]
    problems = []
    for target in targets(edge):
        theirs = area(target)
        if theirs == mine:
            continue
        if theirs not in LAYERS:
            problems.append(f"imports {target}, which is in no layer")
            continue
        if LAYERS[mine] == 0:
            if (mine, theirs) not in LAYER0_ALLOWED and theirs != "envrun.errors":
                problems.append(f"layer 0 {mine} may import only errors, not {target}")
        elif LAYERS[theirs] > CEILING[LAYERS[mine]]:
            problems.append(
                f"{mine} (layer {LAYERS[mine]}) imports {target} (layer {LAYERS[theirs]})"
            )
    return problems


def private_problems(module: Module, edge: Edge) -> list[str]:
    problems = []
    parts = edge.target.split(".")
    for i, part in enumerate(parts[1:], start=1):
        owner = ".".join(parts[:i])
        if private(part) and owner != module.package:
            problems.append(f"imports private module {edge.target} from outside {owner}")
    owner = edge.target if is_package(edge.target) else edge.target.rpartition(".")[0]
    for name in edge.names:
        if private(name) and owner != module.package:
            problems.append(f"imports private {name} of {edge.target} from {module.package}")
    return problems


def problems_of(module: Module) -> list[str]:
    """Every layering, private-name and worker-isolation problem of one module."""
    problems: list[str] = []
    worker = module.name == WORKER or module.name.startswith(WORKER + ".")
    for item in imports(module):
        if worker:
            problems += [f"line {_line(item)}: {p}" for p in worker_problems(item)]
        elif isinstance(item, Edge):
            found = layering_problems(module, item) + private_problems(module, item)
            problems += [f"line {item.line}: {p}" for p in found]
    return problems


def worker_problems(item: Edge | tuple[str, int, int]) -> list[str]:
    if isinstance(item, Edge):
        inside = item.target == WORKER or item.target.startswith(WORKER + ".")
        return [] if inside else [f"{item.target} is outside the worker"]
    top, level, _ = item
    if level == 0 and top not in sys.stdlib_module_names:
        return [f"{top} is not in the standard library"]
    return []


def _line(item: Edge | tuple[str, int, int]) -> int:
    return item.line if isinstance(item, Edge) else item[2]


ALL = modules()


@pytest.mark.parametrize("module", ALL, ids=[m.name for m in ALL])
def test_imports_follow_the_layers(module: Module) -> None:
    assert problems_of(module) == []


def test_only_proc_imports_subprocess() -> None:
    users = [
        m.name
        for m in ALL
        for item in imports(m)
        if not isinstance(item, Edge) and item[0] == "subprocess" and m.name != "envrun.proc"
    ]
    assert users == []


# --- the checker itself, on made-up modules: each rule can fail ------------------------------


def check_source(name: str, source: str, tmp_path: Path) -> list[str]:
    path = tmp_path / f"{name.rpartition('.')[2]}.py"
    path.write_text(source)
    return [p.split(": ", 1)[1] for p in problems_of(Module(name, path))]


CASES = [
    (
        "envrun.env.store",
        "from envrun import api",
        ["envrun.env (layer 2) imports envrun.api (layer 4)"],
    ),
    (
        "envrun.check.run",
        "from envrun.drift.run import run_drift",
        ["envrun.check (layer 5) imports envrun.drift.run (layer 5)"],
    ),
    (
        "envrun.serve.app",
        "from envrun.check import run_check",
        ["envrun.serve (layer 6) imports envrun.check (layer 5)"],
    ),
    (
        "envrun.settings",
        "from envrun.proc import run",
        ["layer 0 envrun.settings may import only errors, not envrun.proc"],
    ),
    (
        "envrun.env.lock",
        "from envrun.env.backends.uv import _index",
        ["imports private _index of envrun.env.backends.uv from envrun.env"],
    ),
    (
        "envrun.api",
        "from envrun.run import _runner",
        ["imports private _runner of envrun.run from envrun"],
    ),
    (
        "envrun.api",
        "import envrun.run._runner",
        ["imports private module envrun.run._runner from outside envrun.run"],
    ),
    ("envrun.run.worker.core", "import numpy", ["numpy is not in the standard library"]),
    (
        "envrun.run.worker.core",
        "from envrun.errors import InputError",
        ["envrun.errors is outside the worker"],
    ),
    ("envrun.run.worker.core", "from .. import bridge", ["envrun.run is outside the worker"]),
    ("envrun.run.worker.core", "import json\nfrom . import protocol", []),
    ("envrun.check.compare", "from envrun.check.leaves import _leaf", []),
    ("envrun.cli.app", "from envrun.check.run import run_check", []),
    ("envrun.drift_run", "from envrun.drift import run_drift", []),
]


@pytest.mark.parametrize(("name", "source", "expected"), CASES)
def test_the_checker_can_fail(name: str, source: str, expected: list[str], tmp_path: Path) -> None:
    assert check_source(name, source + "\n", tmp_path) == expected
