"""Check stackcurate's imports against the layers of docs/architecture.md ("Layers"): no module imports
from a layer above its own, and no import cycle, between modules or between packages. ``make lint`` runs
it; it exits 1 naming every offending import.

Every ``import`` and ``from ... import`` of a ``stackcurate`` module counts, wherever it stands (a function
body, an ``if TYPE_CHECKING`` block): an import moved into a function to dodge a cycle is still an arrow of
that cycle. Imports of other distributions (optional heavy dependencies imported where used) are not
looked at.

The layers are read from the table of docs/architecture.md: each row names a layer and its modules as
patterns relative to the package -- ``config`` (a module), ``dedup/`` (a package), ``*/cli`` (that module
of every package). A module takes the layer of its most specific pattern (a module name, then ``*/``
patterns, then packages); a module no pattern names is an error, so the table stays complete.

Usage: ``python scripts/check_layers.py [--root REPO] [--verbose]``.
"""

from __future__ import annotations

import argparse
import ast
import re
import sys
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

PACKAGE = "stackcurate"
#: the heading of docs/architecture.md whose table lists the layers, lowest first
SECTION = "## Layers"
ROW = re.compile(r"^\|\s*(\d+)\s+([^|]+?)\s*\|([^|]*)\|")


@dataclass(frozen=True)
class Import:
    """``source`` imports ``target`` (dotted module names without the package prefix) at ``line``."""

    source: str
    target: str
    line: int


def read_layers(architecture: Path) -> list[tuple[int, str, list[str]]]:
    """``(rank, name, patterns)`` of every row of the layers table, lowest layer first."""
    text = architecture.read_text(encoding="utf-8")
    if SECTION not in text:
        raise SystemExit(f"{architecture}: no '{SECTION}' section")
    layers = []
    for line in text.split(SECTION, 1)[1].splitlines():
        if line.startswith("## "):
            break
        match = ROW.match(line)
        if match:
            patterns = re.findall(r"`([^`]+)`", match.group(3))
            layers.append((int(match.group(1)), match.group(2).strip(), patterns))
    if not layers:
        raise SystemExit(f"{architecture}: the '{SECTION}' section has no table of layers")
    return sorted(layers)


def modules(root: Path) -> dict[str, Path]:
    """Every module of the package: dotted name relative to it (``plan``, ``plan.specs``) -> file."""
    found = {}
    for path in sorted((root / PACKAGE).rglob("*.py")):
        parts = list(path.relative_to(root / PACKAGE).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1] or ["__init__"]
        found[".".join(parts)] = path
    return found


def layer_of(module: str, layers: list[tuple[int, str, list[str]]]) -> tuple[int, str] | None:
    """The layer of the most specific pattern naming ``module``, or None."""
    slashed = module.replace(".", "/")
    best: tuple[int, tuple[int, str]] | None = None
    for rank, name, patterns in layers:
        for pattern in patterns:
            if pattern == slashed:
                score = 3
            elif pattern.startswith("*/") and "/" in slashed and slashed.rsplit("/", 1)[1] == pattern[2:]:
                score = 2
            elif pattern.endswith("/") and (slashed + "/").startswith(pattern):
                score = 1
            else:
                continue
            if best is None or score > best[0]:
                best = (score, (rank, name))
    return best[1] if best else None


def imports_of(module: str, path: Path, known: set[str]) -> Iterator[Import]:
    """The package modules ``module`` imports, each with its line."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                target = _internal(alias.name, known)
                if target is not None:
                    yield Import(module, target, node.lineno)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            base = _internal(node.module, known)
            if base is None:
                continue
            for alias in node.names:  # `from stackcurate.shards import build` imports the module build
                sub = f"{base}.{alias.name}" if base != "__init__" else alias.name
                yield Import(module, sub if sub in known else base, node.lineno)


def _internal(dotted: str, known: set[str]) -> str | None:
    if dotted == PACKAGE:
        return "__init__"
    if not dotted.startswith(PACKAGE + "."):
        return None
    name = dotted[len(PACKAGE) + 1 :]
    while name and name not in known:  # `import stackcurate.x.y` of a name inside a module
        name = name.rpartition(".")[0]
    return name or None


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one node (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0

    def visit(node: str) -> None:
        nonlocal counter
        index[node] = low[node] = counter
        counter += 1
        stack.append(node)
        on_stack.add(node)
        for child in sorted(graph.get(node, ())):
            if child not in index:
                visit(child)
                low[node] = min(low[node], low[child])
            elif child in on_stack:
                low[node] = min(low[node], index[child])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def package_node(module: str, layer: tuple[int, str]) -> str:
    """A package in the package graph: its top name and the layer (the entry points of a package, its
    ``cli`` modules, sit in a layer of their own)."""
    return f"{module.split('.', 1)[0]}@{layer[1]}"


def check(root: Path, verbose: bool = False) -> list[str]:
    """Every problem found (empty: the imports keep the layers); prints a summary line."""
    layers = read_layers(root / "docs" / "architecture.md")
    found = modules(root)
    problems = []
    layer: dict[str, tuple[int, str]] = {}
    for module in found:
        where = layer_of(module, layers)
        if where is None:
            problems.append(f"{PACKAGE}.{module}: in no layer of docs/architecture.md's table (add it)")
        else:
            layer[module] = where
    edges = [edge for module, path in found.items() for edge in imports_of(module, path, set(found))]
    module_graph: dict[str, set[str]] = defaultdict(set)
    package_graph: dict[str, set[str]] = defaultdict(set)
    upward = 0
    for edge in edges:
        if edge.target == edge.source:
            continue
        module_graph[edge.source].add(edge.target)
        if edge.source not in layer or edge.target not in layer:
            continue
        source, target = layer[edge.source], layer[edge.target]
        if target[0] > source[0]:
            upward += 1
            problems.append(
                f"{found[edge.source].relative_to(root)}:{edge.line}: {edge.source} ({source[1]}) imports "
                f"{edge.target} ({target[1]}), a layer above"
            )
        a, b = package_node(edge.source, source), package_node(edge.target, target)
        if a != b:
            package_graph[a].add(b)
    module_cycles = cycles(module_graph)
    package_cycles = cycles(package_graph)
    for cycle in module_cycles:
        problems.append(f"import cycle between modules: {' <-> '.join(cycle)}")
    for cycle in package_cycles:
        problems.append(f"import cycle between packages: {' <-> '.join(cycle)}")
    if verbose:
        for rank, name, _ in layers:
            members = sorted(m for m, where in layer.items() if where[0] == rank)
            print(f"layer {rank} {name}: {', '.join(members)}")
    print(
        f"{len(found)} modules, {len(edges)} imports, {len(layers)} layers: {upward} upward imports, "
        f"{len(module_cycles)} module cycles, {len(package_cycles)} package cycles"
    )
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--root", type=Path, default=Path(__file__).resolve().parents[1])
    parser.add_argument("--verbose", action="store_true", help="list each layer's modules")
    args = parser.parse_args()
    problems = check(args.root, args.verbose)
    for problem in problems:
        print(problem, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
