"""The package's import graph: no cycle, and no module importing one from a layer above its own.

Every import counts, those inside functions too (they run all the same), except ``if TYPE_CHECKING:`` blocks.
The package root is a facade of lazy names (PEP 562) and ``__version__``: any module may read it.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2] / "raycollect"

#: Lowest first. A module may import from its own layer and the layers below.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("base", ("errors", "exit_codes", "atomic", "defaults", "archive", "checksum", "models", "binaries", "paths",
              "zipcheck", "interrupts", "metrics", "progress", "memory")),
    ("engines", ("downloaders", "staging", "preflight", "storage")),
    ("config", ("matrix", "config", "selection")),
    ("records", ("manifest", "result", "tally")),
    ("collect", ("plan", "lifetimes", "discovery", "listed_plan", "stream", "sync", "resume", "listing", "shard",
                 "dispatch", "cluster", "reaper", "actor_cache", "actors")),
    ("silver", ("silver",)),
    ("driver", ("workflow", "run", "ledger", "mirror")),
    ("commands", ("cli", "__main__")),
]


def layer_of(module: str) -> int:
    first = module.removeprefix("raycollect.").split(".")[0]
    for i, (_, names) in enumerate(LAYERS):
        if first in names:
            return i
    raise AssertionError(f"raycollect.{first} is in no layer: add it to LAYERS in {__file__}")


def modules() -> dict[str, Path]:
    out = {}
    for path in ROOT.rglob("*.py"):
        name = ".".join(path.relative_to(ROOT.parent).with_suffix("").parts).removesuffix(".__init__")
        out[name] = path
    return out


def imports(path: Path, known: dict[str, Path]) -> set[str]:
    """The raycollect modules ``path`` imports (a package's name when a name is not a module of its own)."""
    tree = ast.parse(path.read_text())
    skip = {id(n) for node in ast.walk(tree) if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
            for n in ast.walk(node)}
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "raycollect":
            for alias in node.names:
                full = f"{node.module}.{alias.name}"
                found.add(full if full in known else node.module)
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == "raycollect"}
    return {m for m in found if m != "raycollect"}  # the root facade


GRAPH = {name: imports(path, modules()) - {name} for name, path in modules().items() if name != "raycollect"}


@pytest.mark.parametrize("module", sorted(GRAPH))
def test_no_module_imports_from_a_layer_above_its_own(module):
    mine = layer_of(module)
    above = sorted(f"{m} ({LAYERS[layer_of(m)][0]})" for m in GRAPH[module] if layer_of(m) > mine)
    assert not above, f"{module} ({LAYERS[mine][0]}) imports from above: {', '.join(above)}"


def test_the_import_graph_has_no_cycle():
    state: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(GRAPH.get(node, ())):
            if state.get(nxt) == 1:
                cycles.append([*stack[stack.index(nxt):], nxt])
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for node in sorted(GRAPH):
        if node not in state:
            visit(node)
    assert cycles == []


def test_the_dispatch_loop_and_the_curl_transfer_stay_simple():
    """ruff's mccabe complexity: at most 10 for every function of the dispatcher and of the curl engine
    (pyproject.toml holds every other function to 12)."""
    import json
    import subprocess
    import sys

    def over(limit: int, path: str) -> list[str]:
        """The names of the functions of ``path`` above ``limit`` (ruff's JSON findings: a run that reads the file)."""
        proc = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "--select", "C901", "--config",
                               f"lint.mccabe.max-complexity={limit}", "--output-format", "json", str(ROOT / path)],
                              capture_output=True, text=True)
        assert proc.returncode in (0, 1), proc.stderr  # 1: findings; anything else: ruff did not check
        return [f["message"].split("`")[1] for f in json.loads(proc.stdout)]

    assert over(10, "dispatch.py") == [] and over(10, "downloaders/curl.py") == []
    assert "_start" in over(9, "downloaders/curl.py")  # the check reads this file: its _start is at 10
    assert "_fill" in over(4, "dispatch.py")  # and this one: its _fill is at 5
