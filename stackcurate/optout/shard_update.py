"""The training shards after a purge: only the shards that held a purged document or receive a promoted
one are rewritten.

The shards passes route each document to shard ``key % shard_count`` and order a shard's rows by
``(key, repo, path)``, where ``key`` hashes the seed and the document (``shards/passes.py``), so where a
document goes does not depend on the others: a purged document is removed from its shard, a promoted one
is encoded with the run's tokenizer and encoder (``build.DocumentEncoder``; the tokenizer file is checked
against the manifest's sha256 first) and put at its place in its shard. The rewritten shards keep the
configured row groups; the manifest's entries, per-language totals and totals follow (written through
``PendingWrites``, so it moves into place with the shards). Shards made before the shards passes existed
(no ``shard_count`` in their manifest) have no such routing: the purge refuses them, saying how to make
them again.
"""

from __future__ import annotations

import json
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from stackcurate.errors import FatalError
from stackcurate.optout.pending import PendingWrites, Stored
from stackcurate.shards.build import SHARD_SCHEMA, DocumentEncoder, add_language, shard_write_options
from stackcurate.shards.passes import document_key, local_file
from stackcurate.shards.tokenizer import file_sha256

SHARDS = "shards"
MANIFEST = f"{SHARDS}/manifest.json"


@dataclass
class ShardsChange:
    """What the update did: shards rewritten (and removed, when emptied), documents removed and added."""

    rewritten: int = 0
    removed_rows: int = 0
    added_rows: int = 0


def read_shards_manifest(pending: PendingWrites) -> dict[str, Any] | None:
    """The shards' manifest (None when the run has no finished shards)."""
    if not pending.exists(MANIFEST):
        return None
    with pending.view(SHARDS).open("manifest.json") as handle:
        return dict(json.loads(handle.read()))


def check_tokenizer(manifest: dict[str, Any], run_dir: str) -> str:
    """The run's tokenizer file, refused unless its sha256 is the one the shards were made with; and
    shards without routing (made before the shards passes) are refused. Returns its path or URL."""
    if "shard_count" not in manifest:
        raise FatalError(
            f"{run_dir}/shards were made before the shards passes (no shard_count in the manifest): a purge "
            f"cannot update them in place; remove {run_dir}/shards and rerun the run's command (the shards "
            "passes make them again with the run's tokenizer), then purge"
        )
    path = str(manifest["tokenizer"]["path"])
    try:
        with local_file(path) as local:
            digest = file_sha256(local)
    except (OSError, FileNotFoundError):
        digest = None
    if digest != manifest["tokenizer"]["sha256"]:
        what = "is missing" if digest is None else "differs from the one the shards were made with (sha256)"
        raise FatalError(
            f"the run's tokenizer {path} {what}: the promoted files could not be encoded like the others; "
            "restore it, then purge"
        )
    return path


def run_encoder(manifest: dict[str, Any]) -> DocumentEncoder:
    """The encoder the shards were made with: the run's tokenizer (checked first, ``check_tokenizer``) and
    the manifest's encoder."""
    with local_file(str(manifest["tokenizer"]["path"])) as tokenizer:
        return DocumentEncoder(tokenizer, str(manifest.get("encoder", "hf")))


def update_shards(
    pending: PendingWrites,
    manifest: dict[str, Any],
    gone: list[dict[str, Any]],
    arrived: list[dict[str, Any]],
    curated_ids: dict[tuple[str, str], str],
    row_group_rows: int,
    made_encoder: Future[DocumentEncoder] | None = None,
) -> ShardsChange:
    """Remove the ``gone`` curated rows' documents, add the ``arrived`` ones (curated rows, redacted), in
    the shards they route to (see the module docstring). ``curated_ids``: ``(repo, path) -> id`` of the
    curated rows (a shard row has no id; its key needs it). ``made_encoder``: the run's encoder
    (``run_encoder``) being built ahead; built here when not given."""
    change = ShardsChange()
    seed, count = int(manifest["seed"]), int(manifest["shard_count"])
    touched: dict[int, dict[str, Any]] = {}
    for row in gone:
        touched.setdefault(document_key(row, seed) % count, {"gone": set(), "new": []})["gone"].add(
            (row["repo"], row["path"])
        )
    if arrived:
        encoder = made_encoder.result() if made_encoder is not None else run_encoder(manifest)
        for source, encoded in zip(arrived, encoder.encode_rows(arrived, seed), strict=True):
            key = document_key(source, seed)
            touched.setdefault(key % count, {"gone": set(), "new": []})["new"].append(encoded)
    entries = {entry["file"]: entry for entry in manifest["shards"]}
    languages: dict[str, dict[str, int]] = manifest["languages"]
    order = sorted(touched.items())
    paths = [f"{SHARDS}/shard-{shard:05d}.parquet" for shard, _ in order]
    existing = {f"{SHARDS}/{name}" for name in entries}

    def read(path: str) -> pa.Table:
        return pending.read_table(path) if path in existing else SHARD_SCHEMA.empty_table()

    stored: dict[str, tuple[int, int, Future[Stored]]] = {}
    # the next shard is read while this one is merged
    for (shard, what), path, table in zip(order, paths, pending.read_ahead(paths, read), strict=True):
        name = f"shard-{shard:05d}.parquet"
        names = list(zip(table.column("repo").to_pylist(), table.column("path").to_pylist(), strict=True))
        leaving = [i for i, name_ in enumerate(names) if name_ in what["gone"]]
        gone_rows = table.select(["language", "n_tokens"]).take(pa.array(leaving, pa.int64())).to_pylist()
        for row in gone_rows:
            stats = languages[row["language"]]
            stats["rows"] -= 1
            stats["tokens"] -= row["n_tokens"]
        change.removed_rows += len(leaving)
        for row in what["new"]:
            add_language(languages, row["language"], row["n_tokens"])
        change.added_rows += len(what["new"])
        rows = _merge(table, names, set(leaving), what["new"], curated_ids, seed)
        change.rewritten += 1
        if rows.num_rows == 0:
            pending.delete(path)
            entries.pop(name, None)
            continue
        tokens = sum(rows.column("n_tokens").to_pylist())
        # encoded, hashed and stored by a writer thread while the next shard is merged
        future = pending.put_table(
            path, rows, digest=True, row_group_size=row_group_rows, **shard_write_options(SHARD_SCHEMA)
        )
        stored[name] = (rows.num_rows, tokens, future)
    for name, (count, tokens, future) in stored.items():
        done = future.result()
        entries[name] = {
            "file": name,
            "rows": count,
            "tokens": tokens,
            "bytes": done.size,
            "sha256": done.sha256,
        }
    manifest["shards"] = [entries[name] for name in sorted(entries)]
    manifest["languages"] = {k: v for k, v in sorted(languages.items()) if v["rows"]}
    manifest["total_rows"] = sum(entry["rows"] for entry in manifest["shards"])
    manifest["total_tokens"] = sum(entry["tokens"] for entry in manifest["shards"])
    pending.put_text(MANIFEST, json.dumps(manifest, indent=2) + "\n")
    return change


def _merge(
    table: pa.Table,
    names: list[tuple[str, str]],
    leaving: set[int],
    new: list[dict[str, Any]],
    curated_ids: dict[tuple[str, str], str],
    seed: int,
) -> pa.Table:
    """The shard's rows in ``(key, repo, path)`` order without the rows at ``leaving`` and with ``new``:
    its rows are in that order already, so the result is slices of it (no copy of the token lists) with
    each new row put where its key falls."""

    def order(name: tuple[str, str], file_id: str) -> tuple[int, tuple[str, str]]:
        return document_key({"id": file_id, "repo": name[0], "path": name[1]}, seed), name

    existing = [order(name, curated_ids[name]) if i not in leaving else None for i, name in enumerate(names)]
    arriving = sorted(
        ((order((row["repo"], row["path"]), curated_ids[(row["repo"], row["path"])]), row) for row in new),
        key=lambda item: item[0],
    )
    pieces: list[pa.Table] = []
    start = 0  # first row of the run of kept rows not yet added

    def close(end: int) -> None:
        if end > start:
            pieces.append(table.slice(start, end - start))

    for i, key in enumerate(existing):
        if key is None:  # a purged document
            close(i)
            start = i + 1
        elif arriving and arriving[0][0] < key:
            close(i)
            start = i
            while arriving and arriving[0][0] < key:
                pieces.append(pa.Table.from_pylist([arriving.pop(0)[1]], schema=SHARD_SCHEMA))
    close(len(existing))
    pieces += [pa.Table.from_pylist([row], schema=SHARD_SCHEMA) for _, row in arriving]
    return (
        pa.concat_tables([piece.cast(SHARD_SCHEMA) for piece in pieces])
        if pieces
        else SHARD_SCHEMA.empty_table()
    )
