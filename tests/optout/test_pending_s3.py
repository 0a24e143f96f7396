"""PendingWrites on object storage: each new version is stored, read and moved into place with few
requests, and a commit stopped half-way is finished by the next (moto's S3 server on loopback)."""

from __future__ import annotations

import io

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import s3fs

from stackcurate.manifest import PurgeCommit, PurgeRecord, RunManifest
from stackcurate.optout.pending import ASIDE, PendingWrites, finish_commit

pytestmark = pytest.mark.slow


def _put(fs: s3fs.S3FileSystem, path: str, repos: list[str]) -> None:
    sink = io.BytesIO()
    pq.write_table(pa.table({"repo": repos}), sink)
    fs.pipe_file(path, sink.getvalue())


def _repos(fs: s3fs.S3FileSystem, path: str) -> list[str]:
    return pq.read_table(io.BytesIO(fs.cat_file(path))).column("repo").to_pylist()


def _manifest(url: str) -> RunManifest:
    manifest = RunManifest(identity="test", completed="now")
    manifest._out = url
    manifest.save()
    return manifest


def test_a_commit_on_object_storage_copies_into_place_and_deletes_in_batches(s3_env: dict[str, str]) -> None:
    fs = s3fs.S3FileSystem(skip_instance_cache=True)
    fs.mkdir("pending-commit")
    url = "s3://pending-commit/run"
    _put(fs, "pending-commit/run/curated/00000.parquet", ["a/x", "b/y"])
    _put(fs, "pending-commit/run/curated/00001.parquet", ["c/z"])
    _put(fs, "pending-commit/run/dedup/00000.parquet", ["a/x"])
    manifest = _manifest(url)

    pending = PendingWrites(url)
    assert not pending.local
    pending.put_table("curated/00000.parquet", pa.table({"repo": ["b/y"]}))
    pending.put_table("curated/00002.parquet", pa.table({"repo": ["d/w"]}))
    pending.delete("curated/00001.parquet")
    assert pending.read_table("curated/00000.parquet").column("repo").to_pylist() == ["b/y"]
    assert pending.read_columns("dedup/00000.parquet", ["repo"]).column("repo").to_pylist() == ["a/x"]
    pending.settle()
    assert _repos(fs, f"pending-commit/run/{ASIDE}/curated/00002.parquet") == ["d/w"]  # stored aside
    pending.commit(manifest, PurgeRecord(digest="d1"))

    fs.invalidate_cache()
    assert _repos(fs, "pending-commit/run/curated/00000.parquet") == ["b/y"]
    assert _repos(fs, "pending-commit/run/curated/00002.parquet") == ["d/w"]
    assert not fs.exists("pending-commit/run/curated/00001.parquet")
    assert not fs.find(f"pending-commit/run/{ASIDE}")
    done = RunManifest.require(url)
    assert done.purge_commit is None and [purge.digest for purge in done.purges] == ["d1"]
    assert done.outputs == {}  # the run records no pass here: nothing to list


def test_a_commit_stopped_half_way_on_object_storage_is_finished(s3_env: dict[str, str]) -> None:
    """The ledger lists the moves before any is made; a try that copied some files and stopped leaves the
    aside folder whole, and the next try copies every file and removes it."""
    fs = s3fs.S3FileSystem(skip_instance_cache=True)
    fs.mkdir("pending-stopped")
    url = "s3://pending-stopped/run"
    _put(fs, "pending-stopped/run/curated/00000.parquet", ["a/x"])
    _put(fs, "pending-stopped/run/curated/00001.parquet", ["c/z"])
    _put(fs, f"pending-stopped/run/{ASIDE}/curated/00000.parquet", ["new 0"])
    _put(fs, f"pending-stopped/run/{ASIDE}/curated/00001.parquet", ["new 1"])
    fs.copy(f"pending-stopped/run/{ASIDE}/curated/00000.parquet", "pending-stopped/run/curated/00000.parquet")
    manifest = _manifest(url)
    manifest.purge_commit = PurgeCommit(
        moves=["curated/00000.parquet", "curated/00001.parquet"],
        deletes=["curated/00009.parquet"],  # never there: nothing to delete
        record=PurgeRecord(digest="d2"),
    )
    manifest.save()

    assert finish_commit(RunManifest.require(url)) is not None
    fs.invalidate_cache()
    assert _repos(fs, "pending-stopped/run/curated/00000.parquet") == ["new 0"]
    assert _repos(fs, "pending-stopped/run/curated/00001.parquet") == ["new 1"]
    assert not fs.find(f"pending-stopped/run/{ASIDE}")
    assert RunManifest.require(url).purge_commit is None


def test_a_text_put_over_bytes_is_read_as_written(s3_env: dict[str, str]) -> None:
    fs = s3fs.S3FileSystem(skip_instance_cache=True)
    fs.mkdir("pending-text")
    _put(fs, "pending-text/run/curated/00000.parquet", ["a/x"])
    pending = PendingWrites("s3://pending-text/run")
    pending.put_bytes("shards/manifest.json", b"x")  # shorter than the text
    pending.put_text("shards/manifest.json", '{"rows": 1}\n')
    with pending.view("shards").open("manifest.json") as handle:
        assert handle.read() == b'{"rows": 1}\n'
