"""Opting out removes only the opted-out code: an opted-out repository that held the kept copy of a
duplicate group hands it to the next copy, in the curated output and the training shards alike."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from conftest import MIT_TEXT, python_file

from stackcurate.cli import main
from stackcurate.optout.purge import run_parquet_files
from stackcurate.optout.store import OptOutStore
from stackcurate.parquet_io import iter_rows
from stackcurate.shards.verify import verify_shards

STARCODER = str(Path(__file__).resolve().parents[2] / "pipelines" / "starcoder.yaml")
SHARED = python_file(100)


def listing(factory: Callable[..., Path], tmp_path: Path) -> Path:
    """big/star (1000 stars) and small/one (1 star) both hold shared.py; big/star's copy is kept."""
    lines = ["url,stars,forks"]
    for name, stars, files in [
        ("big/star", 1000, {"shared.py": SHARED, "own.py": python_file(1)}),
        ("small/one", 1, {"shared.py": SHARED, **{f"m{i}.py": python_file(10 + i) for i in range(5)}}),
    ]:
        lines.append(f"{factory(name, {'LICENSE': MIT_TEXT, **files})},{stars},0")
    path = tmp_path / "repos.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


def run_args(repos: Path, out: Path, record: Path) -> list[str]:
    settings = [
        f"stages.opt_out.folder={record}",
        "stages.shards.row_group_rows=2",
        "stages.shards.train_vocab_size=400",
    ]
    return ["run", STARCODER, "--repos", str(repos), "--out", str(out), "--tasks", "2", "--workers", "1"] + [
        item for setting in settings for item in ("--set", setting)
    ]


def files_of(folder: Path) -> set[tuple[str, str]]:
    return {(row["repo"], row["path"]) for row in iter_rows(str(folder), columns=["repo", "path"])}


def names_of(row: dict[str, Any]) -> str:
    return " ".join(str(value) for key, value in row.items() if key not in ("content", "input_ids"))


def test_purge_promotes_the_next_copy_into_curated_and_shards(
    git_repo_factory: Callable[..., Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out, record = tmp_path / "run", tmp_path / "record"
    assert main(run_args(listing(git_repo_factory, tmp_path), out, record)) == 0
    assert ("big/star", "shared.py") in files_of(out / "curated")
    assert ("small/one", "shared.py") not in files_of(out / "curated")  # dropped as big/star's duplicate

    store = OptOutStore(record)
    store.decide(store.request("owner", "big").id, "approved")
    (out / "tokenizer.json").rename(tmp_path / "tokenizer.json")
    assert main(["opt-out", "purge", str(out), "--opt-out-dir", str(record)]) == 2  # refused, nothing touched
    assert "tokenizer" in capsys.readouterr().err and ("big/star", "shared.py") in files_of(out / "curated")
    (tmp_path / "tokenizer.json").rename(out / "tokenizer.json")
    assert main(["opt-out", "purge", str(out), "--opt-out-dir", str(record)]) == 0
    for folder in ("curated", "shards"):
        assert ("small/one", "shared.py") in files_of(out / folder), folder
    kept = next(r for r in iter_rows(str(out / "curated")) if r["path"] == "shared.py")
    assert kept["duplicate_count"] == 0 and kept["duplicate_repos"] == []
    for path in run_parquet_files(out):  # no row anywhere names the opted-out repository
        for row in pq.read_table(path).to_pylist():
            assert "big/star" not in names_of(row), path
    assert verify_shards(out / "shards") == []
    capsys.readouterr()
    assert main(["shards", "verify", str(out / "shards")]) == 0
    shards = sorted((out / "shards").glob("*.parquet"))
    assert sum(pq.ParquetFile(s).metadata.num_rows for s in shards) == len(files_of(out / "curated")) == 6
    for shard in shards:  # the configured layout: row groups of 2 rows, only a shard's last one shorter
        metadata = pq.ParquetFile(shard).metadata
        sizes = [metadata.row_group(i).num_rows for i in range(metadata.num_row_groups)]
        assert all(size == 2 for size in sizes[:-1]) and 1 <= sizes[-1] <= 2, sizes
    assert main(["run", *run_args(tmp_path / "repos.csv", out, record)[1:]]) == 0  # finished: nothing to do


def test_opted_out_rows_are_dropped_before_dedup(
    git_repo_factory: Callable[..., Path], tmp_path: Path
) -> None:
    """The list changes after cloning (a run started before the approval): the filter pass drops the
    opted-out files, so dedup keeps small/one's copy rather than dropping it for big/star's."""
    out, record = tmp_path / "run", tmp_path / "record"
    repos = listing(git_repo_factory, tmp_path)
    assert main(run_args(repos, out, record)) == 0
    for child in out.iterdir():  # keep only what the clone pass made
        if child.name not in ("01_clone", "logs"):
            shutil.rmtree(child) if child.is_dir() else child.unlink()
    for child in (out / "logs").iterdir():
        if child.name != "clone":
            shutil.rmtree(child)
    store = OptOutStore(record)
    store.decide(store.request("repo", "big/star").id, "approved")
    assert main(run_args(repos, out, record)) == 0
    assert ("small/one", "shared.py") in files_of(out / "curated")
    assert not any(repo == "big/star" for repo, _ in files_of(out / "02_filtered"))
