"""PendingWrites answers from one listing of the run made when the purge begins, and reads old and new
versions as the purge modules expect."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from stackcurate.manifest import OutputFile, PurgeRecord, RunManifest
from stackcurate.optout import pending as pending_module
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


def test_a_prefetched_file_is_read_as_the_purge_left_it(tmp_path: Path) -> None:
    run = tmp_path / "run"
    for name in ("00000", "00001", "00002"):
        _write(run / "shards" / f"{name}.parquet", [f"{name}/old"])
    pending = PendingWrites(str(run))
    pending.prefetch(["shards/00000.parquet", "shards/00001.parquet", "shards/00002.parquet"])
    pending.prefetch(["shards/00009.parquet"])  # not in the run: nothing to read ahead

    assert pending.read_table("shards/00000.parquet").column("repo").to_pylist() == ["00000/old"]
    # taken once; the next read opens the file again
    assert pending.read_table("shards/00000.parquet").column("repo").to_pylist() == ["00000/old"]
    # a file rewritten or deleted after its prefetch reads as the purge left it, never the prefetched table
    pending.put_table("shards/00001.parquet", pa.table({"repo": ["00001/new"]}))
    assert pending.read_table("shards/00001.parquet").column("repo").to_pylist() == ["00001/new"]
    pending.delete("shards/00002.parquet")
    try:
        pending.read_table("shards/00002.parquet")
    except FileNotFoundError:
        pass
    else:
        raise AssertionError("a deleted file was read")
    with_columns = pending.read_table("shards/00001.parquet", ["repo"])
    assert with_columns.column("repo").to_pylist() == ["00001/new"]


def test_put_table_gives_the_stored_size_and_sha256(tmp_path: Path) -> None:
    import hashlib

    run = tmp_path / "run"
    _write(run / "curated" / "00000.parquet", ["a/x"])
    pending = PendingWrites(str(run))
    table = pa.table({"repo": ["a/x"] * 1000, "n": list(range(1000))})
    stored = pending.put_table("curated/00000.parquet", table, digest=True, row_group_size=100).result()
    plain = pending.put_table("curated/00001.parquet", table).result()
    written = (run / ASIDE / "curated" / "00000.parquet").read_bytes()
    assert stored.size == len(written) and stored.sha256 == hashlib.sha256(written).hexdigest()
    assert plain.sha256 is None and plain.size == (run / ASIDE / "curated" / "00001.parquet").stat().st_size
    assert pq.ParquetFile(run / ASIDE / "curated" / "00000.parquet").metadata.num_row_groups == 10
    assert pending.read_table("curated/00000.parquet").equals(table)


def test_a_table_that_cannot_be_encoded_fails_its_read_and_the_commit(tmp_path: Path) -> None:
    run = tmp_path / "run"
    _write(run / "curated" / "00000.parquet", ["a/x"])
    pending = PendingWrites(str(run))
    table = pa.table({"repo": ["a/x"]})
    future = pending.put_table("curated/00000.parquet", table, compression="no-such-codec")
    try:
        pending.read_table("curated/00000.parquet")
    except Exception as error:  # what encoding raised reaches the reader, not a half-written file
        assert future.exception() is error
    else:
        raise AssertionError("a table whose encoding failed was read")


def test_an_unchanged_table_is_not_written_again(tmp_path: Path) -> None:
    run = tmp_path / "run"
    _write(run / "dedup" / "00000.parquet", ["a/x", "b/y"])
    pending = PendingWrites(str(run))
    schema = pa.schema([("repo", pa.string())])
    same = pa.table({"repo": pa.array(["a/x", "b/y"], pa.large_string())})  # equal once read as ``schema``
    assert not pending.put_changed("dedup/00000.parquet", same, schema)
    assert pending.put == set() and not (run / ASIDE).exists()
    assert pending.put_changed("dedup/00000.parquet", pa.table({"repo": ["a/x"]}), schema)
    assert pending.read_table("dedup/00000.parquet").column("repo").to_pylist() == ["a/x"]
    assert pending.put_changed("dedup/00001.parquet", same, schema)  # not in the run: written


def test_a_small_file_is_read_from_the_run_once(tmp_path: Path) -> None:
    """What a purge reads of the run is the run as the purge found it: a small file read for a column is
    kept, and later reads answer from that even if the file changed on disk since."""
    run = tmp_path / "run"
    _write(run / "dedup" / "00000.parquet", ["a/x", "b/y"])
    pending = PendingWrites(str(run))
    assert pending.read_columns("dedup/00000.parquet", ["repo"]).column("repo").to_pylist() == ["a/x", "b/y"]
    _write(run / "dedup" / "00000.parquet", ["changed/behind"])
    assert pending.read_found("dedup/00000.parquet").column("repo").to_pylist() == ["a/x", "b/y"]
    assert pending.read_table("dedup/00000.parquet").column("repo").to_pylist() == ["a/x", "b/y"]
    assert pending.read_columns("dedup/00000.parquet", ["stars"]) is None


def test_the_repo_column_of_every_table_put_is_known_without_reading_it_back(tmp_path: Path) -> None:
    run = tmp_path / "run"
    _write(run / "curated" / "00000.parquet", ["a/x"])
    pending = PendingWrites(str(run))
    pending.put_table("curated/00000.parquet", pa.table({"repo": ["b/y"], "n": [1]}))
    pending.put_table("minhash/00000.parquet", pa.table({"doc": [7]}))
    pending.put_bytes("shards/x.parquet", b"not read")
    assert pending.put_repos("curated/00000.parquet")[1].column("repo").to_pylist() == ["b/y"]
    assert pending.put_repos("minhash/00000.parquet") == (True, None)
    assert pending.put_repos("shards/x.parquet") == (False, None)  # bytes: read back from storage
    pending.delete("curated/00000.parquet")
    assert pending.put_repos("curated/00000.parquet") == (False, None)
    pending.settle()


def test_a_commit_notes_the_tables_it_wrote_without_reading_their_footers(tmp_path: Path) -> None:
    run = tmp_path / "run"
    _write(run / "curated" / "00000.parquet", ["a/x", "b/y"])
    _write(run / "curated" / "00001.parquet", ["c/z"])
    manifest = RunManifest(identity="test", completed="now")
    manifest._out = str(run)
    manifest.record_pass("curate", 2, "curated")
    manifest.save()

    pending = PendingWrites(str(run))
    pending.put_table("curated/00000.parquet", pa.table({"repo": ["b/y", "b/z", "b/w"]}))
    pending.put_table("curated/00002.parquet", pa.table({"repo": ["d/w"]}))
    pending.put_bytes("curated/00002.parquet", (run / "curated" / "00001.parquet").read_bytes())
    pending.put_table("curated/00003.parquet", pa.table({"repo": ["e/v"]}))
    pending.delete("curated/00003.parquet")
    pending.commit(manifest, PurgeRecord(digest="d1"))

    written = {
        "curated/00000.parquet": OutputFile(bytes=(run / "curated/00000.parquet").stat().st_size, rows=3)
    }
    done = RunManifest.require(str(run))
    # the table put is noted as encoded; bytes put over a table (its rows unknown here) are read from the
    # footer, as is every file the purge did not write
    assert done.purges[-1].digest == "d1"
    read_again = RunManifest.require(str(run))
    read_again.record_outputs()
    assert done.outputs == read_again.outputs
    assert done.outputs["curate"]["curated/00000.parquet"] == written["curated/00000.parquet"]
    assert done.outputs["curate"]["curated/00002.parquet"].rows == 1
    assert "curated/00003.parquet" not in done.outputs["curate"]
    assert pending._written() == written  # what the commit recorded: the tables put, the last version each


def test_a_written_size_that_is_not_the_listed_one_is_read_from_the_footer(tmp_path: Path) -> None:
    run = tmp_path / "run"
    _write(run / "curated" / "00000.parquet", ["a/x", "b/y"])
    manifest = RunManifest(identity="test", completed="now")
    manifest._out = str(run)
    manifest.record_pass("curate", 1, "curated")
    size = (run / "curated" / "00000.parquet").stat().st_size

    manifest.record_outputs(
        changed={"curated/00000.parquet"},
        written={"curated/00000.parquet": OutputFile(bytes=size + 1, rows=9)},
    )
    assert manifest.outputs["curate"]["curated/00000.parquet"] == OutputFile(bytes=size, rows=2)
    manifest.record_outputs(
        changed={"curated/00000.parquet"}, written={"curated/00000.parquet": OutputFile(bytes=size, rows=9)}
    )
    assert manifest.outputs["curate"]["curated/00000.parquet"].rows == 9  # taken as the writer said


def test_the_key_columns_of_a_table_put_are_read_from_memory(tmp_path: Path) -> None:
    run = tmp_path / "run"
    _write(run / "curated" / "00000.parquet", ["a/x"])
    pending = PendingWrites(str(run))
    table = pa.table({"id": ["1", "2"], "repo": ["b/y", "c/z"], "path": ["p", "q"], "stars": [3, 4]})
    pending.put_table("curated/00000.parquet", table)
    pending.settle()
    (run / ASIDE / "curated" / "00000.parquet").unlink()  # not read back: the keys are kept as put

    keys = pending.read_columns("curated/00000.parquet", ["repo", "id"])
    assert keys is not None and keys.to_pylist() == [{"repo": "b/y", "id": "1"}, {"repo": "c/z", "id": "2"}]
    with pytest.raises(FileNotFoundError):  # another column is read from the stored version
        pending.read_columns("curated/00000.parquet", ["stars"])


def test_columns_read_ahead_are_those_of_the_newest_version(tmp_path: Path) -> None:
    run = tmp_path / "run"
    _write(run / "curated" / "00000.parquet", ["a/x", "b/y"])
    _write(run / "curated" / "00001.parquet", ["c/z"])
    pending = PendingWrites(str(run))
    pending.prefetch_columns(
        ["curated/00000.parquet", "curated/00001.parquet", "curated/00009.parquet"], ["repo"]
    )
    pending.put_table(
        "curated/00001.parquet", pa.table({"repo": ["d/w"]})
    )  # rewritten after it was asked for

    read = [pending.read_columns(f"curated/0000{i}.parquet", ["repo"]) for i in (0, 1)]
    assert [table.column("repo").to_pylist() for table in read if table is not None] == [
        ["a/x", "b/y"],
        ["d/w"],
    ]


def test_prefetch_reads_ahead_no_more_than_its_budget(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = tmp_path / "run"
    for i in range(3):
        _write(run / "curated" / f"0000{i}.parquet", [f"a/{i}"] * 10)
    size = (run / "curated" / "00000.parquet").stat().st_size
    monkeypatch.setattr(pending_module, "PREFETCH_BYTES", 2 * size)
    pending = PendingWrites(str(run))
    paths = [f"curated/0000{i}.parquet" for i in (2, 0, 1)]
    pending.prefetch(paths)
    assert sorted(pending._prefetched) == sorted(paths[:2])  # in the order given, while the budget lasts
    assert [pending.read_table(path).column("repo")[0].as_py() for path in paths] == ["a/2", "a/0", "a/1"]
