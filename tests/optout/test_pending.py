"""PendingWrites answers from one listing of the run made when the purge begins, and reads old and new
versions as the purge modules expect."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from stackcurate.optout.pending import ASIDE, PendingWrites


def _write(path: Path, repos: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table({"repo": repos}), path)


def test_the_run_is_listed_once_and_new_versions_are_read_back(tmp_path: Path) -> None:
    run = tmp_path / "run"
    _write(run / "curated" / "00000.parquet", ["a/x", "b/y"])
    _write(run / "curated" / "00001.parquet", ["c/z"])
    _write(run / "minhash" / "docs" / "00000.parquet", ["a/x"])
    (run / "curated" / "00002.parquet.tmp").write_bytes(b"partial")
    _write(run / ASIDE / "curated" / "00000.parquet", ["left by a stopped purge"])

    pending = PendingWrites(str(run))

    assert not (run / ASIDE).exists()  # what a stopped purge left aside is gone, and was never listed
    assert pending.list("curated") == ["curated/00000.parquet", "curated/00001.parquet"]
    assert pending.list("") == [
        "curated/00000.parquet",
        "curated/00001.parquet",
        "minhash/docs/00000.parquet",
    ]
    assert pending.list("minhash") == ["minhash/docs/00000.parquet"]
    assert pending.list("minhash/doc") == []  # a folder is a whole path segment
    assert pending.in_run("curated/00001.parquet") and not pending.in_run("curated/00009.parquet")

    pending.put_table("curated/00000.parquet", pa.table({"repo": ["b/y"]}))
    pending.put_table("curated/00003.parquet", pa.table({"repo": ["d/w"]}))
    pending.delete("curated/00001.parquet")
    pending.delete("curated/00009.parquet")  # never there: nothing to delete

    assert pending.list("curated") == ["curated/00000.parquet", "curated/00003.parquet"]
    assert pending.list_found("curated") == ["curated/00000.parquet", "curated/00001.parquet"]
    assert pending.deleted == {"curated/00001.parquet"}
    assert not pending.exists("curated/00001.parquet") and pending.exists("curated/00003.parquet")
    assert pending.read_table("curated/00000.parquet").column("repo").to_pylist() == ["b/y"]
    assert pending.read_found("curated/00000.parquet").column("repo").to_pylist() == ["a/x", "b/y"]
    view = pending.view("curated")
    assert view.list_files() == ["00000.parquet", "00003.parquet"]
    with view.open("00000.parquet") as handle:
        assert pq.read_table(handle).num_rows == 1

    # the run is not listed again: a file that appears after the purge began is not one of its inputs
    _write(run / "curated" / "00004.parquet", ["e/v"])
    assert "curated/00004.parquet" not in pending.list("curated")

    paths = pending.list("curated")
    read = pending.read_each(paths, lambda path: pending.read_columns(path, ["repo"]))
    assert [table.column("repo").to_pylist() for table in read if table is not None] == [["b/y"], ["d/w"]]
    assert pending.read_columns("curated/00003.parquet", ["stars"]) is None
