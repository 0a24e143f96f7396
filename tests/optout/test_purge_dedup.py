"""Opting out removes only the opted-out code: the incremental purge of a repository that held the kept
copies of exact and near duplicate groups gives the curated rows and the shards of a fresh run made with
that repository opted out, and leaves dedup tables that a pass run again still joins."""

from __future__ import annotations

import inspect
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow.parquet as pq
import pytest
from conftest import MIT_TEXT, dictionary_columns

from stackcurate.cli import main
from stackcurate.manifest import RunManifest
from stackcurate.optout.apply import OptOutList
from stackcurate.optout.purge import verify_purged
from stackcurate.optout.store import OptOutStore
from stackcurate.parquet_io import iter_rows
from stackcurate.shards.verify import verify_manifest, verify_shards

STARCODER = str(Path(__file__).resolve().parents[2] / "pipelines" / "starcoder.yaml")
#: real code: modules of the standard library, as every Python install has them
TEXTWRAP, HEAPQ, FNMATCH, COLORSYS, BISECT, KEYWORD, STRING = (
    inspect.getsource(__import__(name))
    for name in ("textwrap", "heapq", "fnmatch", "colorsys", "bisect", "keyword", "string")
)
CONTACT = '"""Project metadata."""\n\nAUTHOR = "Jane Doe"\nAUTHOR_EMAIL = "jane.doe@acme-mail.com"\n' + BISECT


def variant(text: str, n: int) -> str:
    """A near copy: a few lines changed (Jaccard of the 5-gram shingles stays far above 0.7)."""
    lines = text.splitlines()
    for i in range(n, len(lines), max(1, len(lines) // 3)):
        lines[i] = f"# local change {n} to line {i}"
    return "\n".join(lines) + "\n"


def corpus(factory: Callable[..., Path], tmp_path: Path) -> Path:
    """big/star (1000 stars) holds the kept copy of an exact group (textwrap.py, also in mid/two and
    small/one), of an exact group with PII (contact.py, also in mid/two) and of a near cluster (heapq.py,
    near copies in mid/two and small/one)."""
    repos = [
        (
            "big/star",
            1000,
            {"textwrap.py": TEXTWRAP, "heapq.py": HEAPQ, "contact.py": CONTACT, "fnmatch.py": FNMATCH},
        ),
        (
            "mid/two",
            50,
            {
                "textwrap.py": TEXTWRAP,
                "heapq.py": variant(HEAPQ, 1),
                "contact.py": CONTACT,
                "colorsys.py": COLORSYS,
            },
        ),
        ("small/one", 1, {"textwrap.py": TEXTWRAP, "lib/heapq.py": variant(HEAPQ, 2), "keyword.py": KEYWORD}),
        ("other/three", 5, {"string.py": STRING}),
    ]
    lines = ["url,stars,forks"]
    for name, stars, files in repos:
        lines.append(f"{factory(name, {'LICENSE': MIT_TEXT, **files})},{stars},0")
    path = tmp_path / "repos.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


def run_args(repos: Path, out: Path, record: Path, *settings: str) -> list[str]:
    options = [f"stages.opt_out.folder={record}", "stages.shards.row_group_rows=2", *settings]
    return ["run", STARCODER, "--repos", str(repos), "--out", str(out), "--tasks", "2", "--workers", "1"] + [
        item for setting in options for item in ("--set", setting)
    ]


def curated(out: Path) -> pl.DataFrame:
    return pl.read_parquet(sorted((out / "curated").glob("*.parquet"))).sort("repo", "path")


def shard_rows(out: Path) -> set[tuple[Any, ...]]:
    rows = [r for p in sorted((out / "shards").glob("shard-*.parquet")) for r in pq.read_table(p).to_pylist()]
    return {(r["repo"], r["path"], tuple(r["input_ids"]), r["language"]) for r in rows}


def approve(record: Path, kind: str, target: str) -> OptOutList:
    store = OptOutStore(record)
    store.decide(store.request(kind, target).id, "approved")
    return OptOutList.load(record)


def test_an_incremental_purge_equals_a_fresh_run_without_the_repository(
    git_repo_factory: Callable[..., Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repos = corpus(git_repo_factory, tmp_path)
    out, record = tmp_path / "run", tmp_path / "record"
    assert main(run_args(repos, out, record)) == 0
    before = curated(out)
    kept = {
        (r, p): (c, k)
        for r, p, c, k in before.select("repo", "path", "duplicate_count", "cluster_size").rows()
    }
    assert kept[("big/star", "textwrap.py")] == (2, 1) and kept[("big/star", "contact.py")] == (1, 1)
    assert kept[("big/star", "heapq.py")][1] == 3  # the kept copy of a near cluster of three
    assert not any(
        repo == "mid/two" and path in ("textwrap.py", "contact.py", "heapq.py") for repo, path in kept
    )
    assert "jane.doe@acme-mail.com" not in "".join(before["content"].to_list())

    opt_out = approve(record, "repo", "big/star")
    (out / "tokenizer.json").rename(tmp_path / "tokenizer.json")
    capsys.readouterr()
    assert main(["opt-out", "purge", str(out), "--opt-out-dir", str(record)]) == 2  # refused, nothing touched
    assert "tokenizer" in capsys.readouterr().err and curated(out).to_dicts() == before.to_dicts()
    (tmp_path / "tokenizer.json").rename(out / "tokenizer.json")
    assert main(["opt-out", "purge", str(out), "--opt-out-dir", str(record)]) == 0
    printed = capsys.readouterr().out
    assert "promoted in their place" in printed and "verified" in printed
    assert verify_purged(str(out), opt_out) == []
    purge = RunManifest.require(str(out)).purges[-1]
    assert purge.promoted == 3 and purge.removed["curated"] == 4

    fresh = tmp_path / "fresh"  # the same corpus, big/star opted out before the run, the run's tokenizer
    assert main(run_args(repos, fresh, record, f"stages.shards.tokenizer={out / 'tokenizer.json'}")) == 0
    purged, made = curated(out), curated(fresh)
    assert purged.columns == made.columns
    assert purged.to_dicts() == made.to_dicts()  # every column of every row: tags, redaction, scores
    promoted = {(r["repo"], r["path"]): r for r in purged.to_dicts()}
    assert promoted[("mid/two", "textwrap.py")]["duplicate_repos"] == ["small/one"]
    assert promoted[("mid/two", "heapq.py")]["cluster_size"] == 2
    assert "jane.doe@acme-mail.com" not in promoted[("mid/two", "contact.py")]["content"]  # redacted

    assert verify_shards(out / "shards") == []
    problems, _ = verify_manifest(out / "shards")  # the tokenizer too, and sampled documents re-encoded
    assert problems == []
    assert shard_rows(out) == shard_rows(fresh)  # the promoted files encoded as a fresh run encodes them
    for shard in sorted((out / "shards").glob("shard-*.parquet")):  # rewritten as the run writes them
        assert "input_ids.list.element" not in dictionary_columns(shard) and "repo" in dictionary_columns(
            shard
        )
    assert {(r, p) for r, p, *_ in shard_rows(out)} == set(zip(purged["repo"], purged["path"], strict=True))

    # the dedup tables still name each file by its position: the curate pass run again joins them
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    settings = ["--set", f"stages.opt_out.folder={record}", "--set", "stages.shards.row_group_rows=2"]
    run_again = [
        "run",
        STARCODER,
        "--repos",
        str(repos),
        "--out",
        str(copy),
        "--tasks",
        "2",
        "--workers",
        "1",
    ]
    for folder in ("curated", "logs/curate"):
        shutil.rmtree(copy / folder)
    manifest = RunManifest.require(str(copy))
    assert "curate" in manifest.damaged_passes()
    assert main([*run_again, *settings]) == 0
    assert curated(copy).to_dicts() == purged.to_dicts()


def test_opted_out_rows_are_dropped_before_dedup(
    git_repo_factory: Callable[..., Path], tmp_path: Path
) -> None:
    """The list changes after cloning (a run started before the approval): the filter pass drops the
    opted-out files, so dedup keeps mid/two's copy rather than dropping it for big/star's."""
    out, record = tmp_path / "run", tmp_path / "record"
    repos = corpus(git_repo_factory, tmp_path)
    assert main(run_args(repos, out, record, "stages.pii=null")) == 0
    for child in out.iterdir():  # keep only what the clone pass made
        if child.name not in ("01_clone", "logs"):
            shutil.rmtree(child) if child.is_dir() else child.unlink()
    for child in (out / "logs").iterdir():
        if child.name != "clone":
            shutil.rmtree(child)
    approve(record, "repo", "big/star")
    assert main(run_args(repos, out, record, "stages.pii=null")) == 0
    files = {(row["repo"], row["path"]) for row in iter_rows(str(out / "curated"), columns=["repo", "path"])}
    assert ("mid/two", "textwrap.py") in files
    assert not any(repo == "big/star" for repo, _ in files)
