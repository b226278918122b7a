"""The house keeps its shape: neighbourhoods import only downwards, and no module circles.

The layers, top to bottom, are written in `docs/architecture.md`; this test is where they are
kept. Every import counts, at the top of a module or inside a function: an import moved into
a function body is still an arrow.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "expman"

# Top to bottom. A module may import its own neighbourhood and those below it, never above.
LAYERS = (
    "entry",  # `python -m expman`, and `expman.engine` that experiments' dodo.py files import
    "cli",
    "api",  # the archive from Python: what `expman.open` hands out
    "report",
    "sweeps",
    "running",
    "slurm",
    "integrations",  # what training scripts import: framework callbacks over `expman.log`
    "observe",
    "store",
    "expfile",
    "base",  # errors, fsutil, jsontext, text, output, formats, processes, entries, `expman.log`
)
ENTRY = {"expman.__main__", "expman.engine"}
# The one arrow allowed up: the package's `__getattr__` imports the read API when one of its
# names is first asked (`expman.open`), so that `import expman` stays free. Python imports a
# package before any of its modules, so this arrow closes no circle that could run.
LAZY = {("expman", "expman.api")}


def neighbourhood(module: str) -> str:
    """The neighbourhood a dotted module name belongs to."""
    if module in ENTRY:
        return "entry"
    parts = module.split(".")
    if len(parts) > 1 and parts[1] in LAYERS and (PACKAGE / parts[1]).is_dir():
        return parts[1]
    return "base"


def modules() -> dict[str, Path]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        if "templates" in path.parts:  # files written into experiments, not modules of expman
            continue
        relative = path.relative_to(PACKAGE.parent).with_suffix("")
        name = ".".join(relative.parts)
        found[name.removesuffix(".__init__")] = path
    return found


def imports(path: Path, known: dict[str, Path]) -> Iterator[tuple[int, str]]:
    """(line, module) for each expman module that `path` imports, wherever the import is."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("expman"):
                    yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("expman"):
            for alias in node.names:
                candidate = f"{node.module}.{alias.name}"
                yield node.lineno, candidate if candidate in known else node.module


def graph() -> dict[str, set[str]]:
    known = modules()
    return {
        name: {
            target
            for _, target in imports(path, known)
            if target != name and (name, target) not in LAZY
        }
        for name, path in known.items()
    }


def test_neighbourhoods_import_only_downwards() -> None:
    known = modules()
    upward = []
    for name, path in known.items():
        here = LAYERS.index(neighbourhood(name))
        for line, target in imports(path, known):
            if (name, target) in LAZY:
                continue
            there = LAYERS.index(neighbourhood(target))
            if there < here:
                rel = path.relative_to(PACKAGE.parent)
                upward.append(
                    f"{rel}:{line}: {name} ({LAYERS[here]}) imports {target} "
                    f"({LAYERS[there]}), which is above it"
                )
    assert not upward, "imports that run back up:\n" + "\n".join(upward)


def circles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(edges.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def test_no_module_imports_itself_through_others() -> None:
    assert circles(graph()) == []


def test_the_check_sees_a_circle_and_an_upward_import() -> None:
    assert circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert LAYERS.index(neighbourhood("expman.store.archive")) > LAYERS.index(
        neighbourhood("expman.cli.main")
    )
    assert neighbourhood("expman.fsutil") == "base"
    assert neighbourhood("expman.__main__") == "entry"
