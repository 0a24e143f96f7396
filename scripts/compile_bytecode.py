"""Write the bytecode (``__pycache__/*.pyc``) of stackcurate and of every distribution it needs, once, at
set-up. ``make setup`` runs it after ``pip install --no-compile``.

Why: Python compiles a module's source each time a process imports it unless a ``.pyc`` is there, and it
writes none when ``PYTHONDONTWRITEBYTECODE`` is set (as in many container images and on the machines this
project is tested on). A pipeline run starts many processes (the driver, the executor's fork server, each
CLI command, every Ray worker), and each compiled about 2,100 modules again: 4.3 CPU-s to import what a
curate task needs, 1.7 s with bytecode. ``pip install`` without ``--no-compile`` would compile every file
of every package, thousands in torch and Ray that a run never imports; this compiles the distributions
stackcurate requires, recursively (with ``--extra``: those its extras require too, ``dev`` for the tests),
in parallel.

Usage: ``python scripts/compile_bytecode.py [--extra dev] [--jobs N]``. Prints one line: how many files of
how many distributions it compiled, how many already had fresh bytecode (a second run writes nothing), and
how many it could not compile (files of another Python version or templates, which Python never imports;
they are counted, not errors).
"""

from __future__ import annotations

import argparse
import importlib.metadata as metadata
import importlib.util
import os
import py_compile
import re
import sys
import time
from collections import Counter
from collections.abc import Iterable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from packaging.requirements import Requirement

PACKAGE = "stackcurate"


def canonical(name: str) -> str:
    """A distribution's name as PEP 503 compares names."""
    return re.sub(r"[-_.]+", "-", name).lower()


def closure(root: str, extras: Iterable[str] = ()) -> set[str]:
    """The canonical names of ``root`` and of every installed distribution it requires, recursively, with
    ``extras`` of ``root`` (and the extras each requirement names of its own distribution). Requirements
    whose markers do not hold here, and distributions not installed, are left out."""
    seen: set[tuple[str, frozenset[str]]] = set()
    found: set[str] = set()
    stack = [(root, frozenset(extras))]
    while stack:
        name, wanted = stack.pop()
        if (canonical(name), wanted) in seen:
            continue
        seen.add((canonical(name), wanted))
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        found.add(canonical(name))
        for line in dist.requires or []:
            requirement = Requirement(line)
            marker = requirement.marker
            if marker is not None and not any(marker.evaluate({"extra": e}) for e in (wanted or {""})):
                continue
            stack.append((requirement.name, frozenset(requirement.extras)))
    return found


def sources(names: Iterable[str]) -> list[Path]:
    """The ``.py`` files the distributions ``names`` installed, and this project's own package (an editable
    install lists no file of it)."""
    files: set[Path] = set()
    for name in names:
        dist = metadata.distribution(name)
        for entry in dist.files or []:
            if entry.suffix == ".py":
                path = Path(str(dist.locate_file(entry)))
                if path.is_file():
                    files.add(path)
    spec = importlib.util.find_spec(PACKAGE)
    for location in (spec.submodule_search_locations or []) if spec else []:
        files.update(Path(location).rglob("*.py"))
    return sorted(files)


def fresh(path: Path) -> bool:
    """Whether ``path``'s bytecode is there and matches its source (the header Python itself checks: this
    interpreter's magic number, the source's modification time and size)."""
    try:
        with open(importlib.util.cache_from_source(str(path)), "rb") as handle:
            header = handle.read(16)
        stat = path.stat()
    except OSError:
        return False
    return (
        len(header) == 16
        and header[:4] == importlib.util.MAGIC_NUMBER
        and int.from_bytes(header[4:8], "little") == 0  # timestamp-checked, as Python writes it
        and int.from_bytes(header[8:12], "little") == int(stat.st_mtime) & 0xFFFFFFFF
        and int.from_bytes(header[12:16], "little") == stat.st_size & 0xFFFFFFFF
    )


def compile_one(path: Path) -> str:
    """Write ``path``'s bytecode where Python looks for it unless it is fresh: ``written``, ``fresh``, or
    ``failed`` when the source does not compile."""
    if fresh(path):
        return "fresh"
    try:
        py_compile.compile(str(path), cfile=importlib.util.cache_from_source(str(path)), doraise=True)
    except (py_compile.PyCompileError, OSError, ValueError):
        return "failed"
    return "written"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--extra", action="append", default=[], help="an extra of stackcurate (repeatable)")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args(argv)
    started = time.monotonic()
    names = closure(PACKAGE, args.extra)
    if canonical(PACKAGE) not in names:
        print(f"{PACKAGE} is not installed in {sys.prefix}", file=sys.stderr)
        return 1
    files = sources(names)
    with ProcessPoolExecutor(max(1, args.jobs)) as pool:
        outcome = Counter(pool.map(compile_one, files, chunksize=64))
    print(
        f"bytecode of {len(files):,} files of {len(names)} distributions: {outcome['written']:,} written, "
        f"{outcome['fresh']:,} already fresh, {outcome['failed']:,} not compilable "
        f"({time.monotonic() - started:.1f} s)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
