"""Local copies of a run on object storage, for tools that work on local files.

``local_run_copy(run_dir, folders, write)`` yields ``run_dir`` itself when it is local. For an fsspec URL
(``s3://...``) it downloads ``folders`` of the run (folders, or files beside ``run.json``) and ``run.json``
into a temporary folder -- by default all of the run, the files beside ``run.json`` included -- and
yields that; with ``write``, it then uploads
what the tool created or changed and deletes what it removed, then drops the copy. ``run.json`` is never
uploaded: the run's ledger has one writer (``manifest.RunManifest.save``), which works on the bucket itself.
JSON files that name the local copy (an index's paths) are rewritten to name ``run_dir``. The machine needs
local disk for the folders copied (``docs/scaling.md``). Uploads use the same credentials as the run (the
environment). ``stackcurate index build``, ``serve``, ``shards verify`` and ``shards export`` use it;
``opt-out purge`` works on the bucket in place.
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import fsspec

from stackcurate.errors import FatalError


def is_remote(path: str | Path) -> bool:
    """Whether ``path`` is an fsspec URL other than ``file://``."""
    text = str(path)
    return "://" in text and not text.startswith("file://")


def _digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _snapshot(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): _digest(p) for p in root.rglob("*") if p.is_file()}


@contextmanager
def local_run_copy(
    run_dir: str | Path, folders: list[str] | None = None, write: bool = False
) -> Iterator[Path]:
    """A local folder holding ``run_dir`` (or the named ``folders`` of it); see the module docstring."""
    if not is_remote(run_dir):
        yield Path(run_dir)
        return
    url = str(run_dir).rstrip("/")
    fs, base = fsspec.core.url_to_fs(url)
    if not fs.exists(f"{base}/run.json"):
        raise FatalError(f"{url} is not a stackcurate run directory (no run.json)")
    staging = Path(tempfile.mkdtemp(prefix="stackcurate-run-"))
    try:
        fs.get(f"{base}/run.json", str(staging / "run.json"))
        if folders is None:  # the whole run: its folders and the files beside run.json (tokenizer.json)
            for entry in fs.ls(base, detail=True):
                name = str(entry["name"]).rstrip("/").rsplit("/", 1)[-1]
                if entry["type"] == "directory":
                    fs.get(f"{base}/{name}", str(staging / name), recursive=True)
                elif name != "run.json":
                    fs.get_file(f"{base}/{name}", str(staging / name))
        else:
            for folder in folders:
                if fs.isdir(f"{base}/{folder}"):
                    fs.get(f"{base}/{folder}", str(staging / folder), recursive=True)
                elif fs.isfile(f"{base}/{folder}"):  # a file beside run.json (tokenizer.json)
                    fs.get_file(f"{base}/{folder}", str(staging / folder))
        before = _snapshot(staging)
        yield staging
        if write:
            _upload(fs, base, url, staging, before)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _upload(
    fs: fsspec.AbstractFileSystem, base: str, url: str, staging: Path, before: dict[str, str]
) -> None:
    for path in staging.rglob("*.json"):  # name the bucket, not the staging folder
        text = path.read_text(encoding="utf-8")
        if str(staging) in text:
            path.write_text(text.replace(str(staging), url), encoding="utf-8")
    after = _snapshot(staging)
    changed = sorted(name for name, digest in after.items() if before.get(name) != digest)
    for name in [n for n in changed if n != "run.json"]:
        fs.put_file(str(staging / name), f"{base}/{name}")
    for name in sorted(set(before) - set(after) - {"run.json"}):
        fs.rm_file(f"{base}/{name}")
    fs.invalidate_cache()
