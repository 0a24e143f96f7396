"""What several benchmarks share: picking real code files out of this interpreter's site-packages, and the
first N repositories of the sample list. Imported as ``common`` (the benchmarks run as scripts, so their
folder is on ``sys.path``)."""

from __future__ import annotations

import os
from collections.abc import Collection
from pathlib import Path


def candidate_files(root: str | Path, extensions: Collection[str], max_bytes: int) -> list[str]:
    """Files under ``root`` with one of ``extensions`` (no dot), not empty and under ``max_bytes``, in a
    fixed walk order (sorted folders and names); a file reached through several links counts once, and
    ``__pycache__`` and pip's ``__editable__`` finders (made for this project's own install) are left out."""
    candidates: list[str] = []
    seen: set[str] = set()
    for folder, dirs, names in os.walk(root):
        dirs.sort()
        dirs[:] = [d for d in dirs if d != "__pycache__"]
        for name in sorted(names):
            ext = name.rsplit(".", 1)[-1] if "." in name else ""
            if ext not in extensions or name.startswith("__editable__"):
                continue
            full = os.path.join(folder, name)
            real = os.path.realpath(full)
            if real in seen or not os.path.isfile(real):
                continue
            seen.add(real)
            if 0 < os.path.getsize(real) < max_bytes:
                candidates.append(full)
    return candidates


def first_repos(sample_dir: Path, work_dir: Path, repos: int | None) -> Path:
    """The repos list of the (first ``repos``) sample repositories, made with ``make_sample_repos`` when
    ``sample_dir`` has none yet."""
    repos_csv = sample_dir / "repos.csv"
    if not repos_csv.exists():
        from stackcurate.sources.sample import make_sample_repos

        made = make_sample_repos(sample_dir)
        print(f"made {len(made)} sample repositories in {sample_dir}")
    work_dir.mkdir(parents=True, exist_ok=True)
    if repos:
        lines = repos_csv.read_text().splitlines()
        repos_csv = work_dir / f"repos-first-{repos}.csv"
        repos_csv.write_text("\n".join(lines[: repos + 1]) + "\n")
    return repos_csv
