"""Exact dedup in a real run: identical files across repositories collapse to the best-ranked copy."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import MIT_TEXT, python_file

from stackcurate.cli import main
from stackcurate.parquet_io import iter_rows

STARCODER = str(Path(__file__).resolve().parents[2] / "pipelines" / "starcoder.yaml")


def test_identical_files_collapse_to_the_best_ranked_copy(
    git_repo_factory: Callable[..., Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shared = python_file(1)
    lines = ["url,stars,forks"]
    for name, stars, extra in [
        ("low/a", 1, {}),
        ("high/b", 50, {}),
        ("mid/c", 10, {"own.py": python_file(2)}),
    ]:
        path = git_repo_factory(name, {"LICENSE": MIT_TEXT, "shared.py": shared, **extra})
        lines.append(f"{path},{stars},0")
    gpl_popular = git_repo_factory("gpl/d", {"shared.py": shared})  # no license: filtered before dedup
    lines.append(f"{gpl_popular},1000,0")
    listing = tmp_path / "repos.csv"
    listing.write_text("\n".join(lines) + "\n")
    out = tmp_path / "run"
    common = ["--repos", str(listing), "--out", str(out), "--tasks", "3", "--workers", "1"]
    assert main(["run", STARCODER, *common, "--set", "stages.exact_dedup.buckets=4"]) == 0

    rows = sorted(iter_rows(str(out / "curated")), key=lambda r: (r["repo"], r["path"]))
    assert [(r["repo"], r["path"]) for r in rows] == [("high/b", "shared.py"), ("mid/c", "own.py")]
    kept = rows[0]
    assert kept["duplicate_count"] == 2
    assert kept["duplicate_repos"] == ["low/a", "mid/c"]
    assert rows[1]["duplicate_count"] == 0 and rows[1]["duplicate_repos"] == []

    capsys.readouterr()
    assert main(["stats", str(out), "--json"]) == 0
    stages = {s["stage"]: s for s in json.loads(capsys.readouterr().out)["stages"]}
    assert stages["exact dedup"]["removed"] == {"dropped_exact_duplicate": 2}
    assert stages["exact dedup"]["files_in"] == 4 and stages["exact dedup"]["files_out"] == 2

    # a second run resumes nothing and the decisions are stable
    assert main(["run", STARCODER, *common, "--set", "stages.exact_dedup.buckets=4"]) == 0
    assert sorted(iter_rows(str(out / "curated")), key=lambda r: (r["repo"], r["path"])) == rows
