"""``stackcurate shards verify``: every figure a shards manifest states, checked against the shard files
and the tokenizer file, never taken on the manifest's word.

Checked: the manifest's shape (a malformed one is one ``ManifestError`` line); each entry names a file
inside the shards folder (``../x`` or ``/etc/passwd`` are refused, never opened); each shard's bytes,
sha256, rows and tokens; the totals; the per-language rows and tokens (recounted from the ``language`` and
``n_tokens`` columns); the tokenizer file's sha256 and vocabulary size; and, when the curated source is
at hand, ``seed`` and ``encoder`` by re-encoding up to ``SAMPLE_ROWS`` documents of each shard from
their curated rows (the metadata draws depend on the seed; the ids on the tokenizer and encoder).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from stackcurate.errors import FatalError
from stackcurate.shards.build import SOURCE_COLUMNS, document_parts
from stackcurate.shards.tokenizer import fast_encoder, file_sha256, load_tokenizer

#: documents per shard re-encoded to check seed, tokenizer and encoder: with 3 metadata draws of p = 0.2
#: per document, two seeds agree on one document's draws with probability ~0.31, on 20 with < 1e-10
SAMPLE_ROWS = 64
#: each key the manifest must hold, with its type
REQUIRED: dict[str, type | tuple[type, ...]] = {
    "format": str,
    "seed": int,
    "tokenizer": dict,
    "total_rows": int,
    "total_tokens": int,
    "languages": dict,
    "shards": list,
}
SHARD_KEYS: dict[str, type] = {"file": str, "rows": int, "tokens": int, "bytes": int, "sha256": str}


class ManifestError(FatalError):
    """A manifest that cannot be checked at all (missing, not JSON, wrong shape); one line."""


def load_manifest(shards_dir: Path) -> dict[str, Any]:
    """The manifest, its shape checked; ``ManifestError`` (one line) when it is malformed."""
    path = shards_dir / "manifest.json"
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ManifestError(f"{path} is missing") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ManifestError(f"{path} is not readable JSON: {error}") from None
    if not isinstance(manifest, dict):
        raise ManifestError(f"{path} is malformed: a JSON object expected, found {type(manifest).__name__}")
    for key, kind in REQUIRED.items():
        if key not in manifest:
            raise ManifestError(f"{path} is malformed: key {key!r} is missing")
        if not isinstance(manifest[key], kind) or isinstance(manifest[key], bool):
            raise ManifestError(f"{path} is malformed: {key!r} is not a {getattr(kind, '__name__', kind)}")
    for key in ("sha256", "vocab_size"):
        if key not in manifest["tokenizer"]:
            raise ManifestError(f"{path} is malformed: key 'tokenizer.{key}' is missing")
    for number, entry in enumerate(manifest["shards"]):
        if not isinstance(entry, dict):
            raise ManifestError(f"{path} is malformed: shards[{number}] is not an object")
        for key, kind in SHARD_KEYS.items():
            if not isinstance(entry.get(key), kind) or isinstance(entry.get(key), bool):
                raise ManifestError(
                    f"{path} is malformed: shards[{number}].{key} is missing or not a {kind.__name__}"
                )
    return manifest


def inside(root: Path, name: str) -> Path | None:
    """``root/name`` when ``name`` is a plain file name in ``root`` (no folder part, no ``..``), else None."""
    if not name or name in (".", "..") or "/" in name or "\\" in name or "\0" in name:
        return None
    path = root / name
    return path if path.resolve().parent == root.resolve() else None


def _recount(paths: list[Path]) -> dict[str, dict[str, int]]:
    languages: dict[str, dict[str, int]] = {}
    for path in paths:
        table = pq.read_table(path, columns=["language", "n_tokens"])
        for language, n in zip(table.column(0).to_pylist(), table.column(1).to_pylist(), strict=True):
            stats = languages.setdefault(str(language), {"rows": 0, "tokens": 0})
            stats["rows"] += 1
            stats["tokens"] += int(n)
    return dict(sorted(languages.items()))


def tokenizer_file(manifest: dict[str, Any], shards_dir: Path, given: Path | None = None) -> Path | None:
    """The tokenizer to check the shards with: ``given`` (``--tokenizer``), else the manifest's path, else
    the run's ``tokenizer.json`` beside the shards folder (the manifest's path names where the run was
    written: another machine, or a bucket copied here). The caller checks its sha256 against the manifest."""
    if given is not None:
        return given
    stated = manifest["tokenizer"].get("path")
    if stated and "://" not in str(stated) and Path(stated).is_file():
        return Path(stated)
    beside = shards_dir.parent / "tokenizer.json"
    if beside.is_file():
        return beside
    return Path(stated) if stated and "://" not in str(stated) else None


def _check_tokenizer(manifest: dict[str, Any], path: Path | None, problems: list[str]) -> Any:
    stated = manifest["tokenizer"]
    if path is None or not path.is_file():
        problems.append(f"tokenizer file {path} not found (pass --tokenizer): its sha256 cannot be checked")
        return None
    if file_sha256(path) != stated["sha256"]:
        problems.append(f"tokenizer {path}: sha256 differs from the manifest's tokenizer.sha256")
        return None
    loaded = load_tokenizer(path)
    if loaded.get_vocab_size() != stated["vocab_size"]:
        problems.append(
            f"tokenizer {path}: {loaded.get_vocab_size()} tokens, "
            f"manifest says vocab_size {stated['vocab_size']}"
        )
    return loaded


def _encoder(tokenizer: Any, name: str, problems: list[str]) -> Any:
    """A function text -> ids for the manifest's ``encoder``."""
    if name == "hf":
        return lambda text: tokenizer.encode(text, add_special_tokens=False).ids
    if name == "tiktoken":
        fast = fast_encoder(tokenizer)
        if fast is None:
            problems.append("encoder 'tiktoken': the tokenizer cannot be encoded with tiktoken")
            return None
        return fast.encode_ordinary
    problems.append(f"encoder {name!r}: not one the builder writes ('hf' or 'tiktoken')")
    return None


def _check_encoding(
    manifest: dict[str, Any], paths: list[Path], tokenizer: Any, problems: list[str], notes: list[str]
) -> None:
    source = Path(str(manifest.get("source", "")))
    curated = sorted(source.glob("*.parquet")) if source.is_dir() else []
    if not curated:
        named = manifest.get("source", "")  # as written: a bucket URL keeps its "//"
        notes.append(f"curated source {named} not found: seed and encoder not checked against the data")
        return
    encode = _encoder(tokenizer, str(manifest.get("encoder", "hf")), problems)
    if encode is None:
        return
    wanted: dict[tuple[str, str], list[int]] = {}
    for path in paths:
        sample = pq.ParquetFile(path).read_row_group(0, columns=["repo", "path", "input_ids"]).to_pylist()
        for row in sample[:SAMPLE_ROWS]:
            wanted[(row["repo"], row["path"])] = row["input_ids"]
    found = 0
    for path in curated:
        parquet = pq.ParquetFile(path)
        columns = [c for c in SOURCE_COLUMNS if c in parquet.schema_arrow.names]
        for row in parquet.read(columns=columns).to_pylist():
            ids = wanted.get((row.get("repo"), row.get("path")))
            if ids is None:
                continue
            found += 1
            header, body = document_parts(row, manifest["seed"])
            special = {token: tokenizer.token_to_id(token) for token, _ in header}
            expected = [i for token, value in header for i in (special[token], *encode(value))] + encode(body)
            if expected != ids:
                problems.append(
                    f"{row.get('repo')}:{row.get('path')}: its token ids are not those of seed "
                    f"{manifest['seed']} with encoder {manifest.get('encoder', 'hf')} and the tokenizer"
                )
                return
    if found < len(wanted):
        problems.append(f"{len(wanted) - found} sampled documents are not in the curated source {source}")


def check_files(root: Path, manifest: dict[str, Any]) -> tuple[list[str], list[Path], int, int]:
    """The file-level checks: ``(problems, shard paths, rows, tokens)`` comparing each manifest entry (a
    file inside ``root``, never ``../x``) with its file's bytes, sha256, rows and tokens, and no shard file
    left out of the manifest."""
    problems: list[str] = []
    paths: list[Path] = []
    listed = set()
    rows = tokens = 0
    for entry in manifest["shards"]:
        path = inside(root, entry["file"])
        if path is None:
            problems.append(f"{entry['file']!r}: outside the shards folder (refused, not read)")
            continue
        listed.add(path.name)
        if not path.is_file():
            problems.append(f"{entry['file']}: missing")
            continue
        if path.stat().st_size != entry["bytes"]:
            problems.append(f"{entry['file']}: {path.stat().st_size} bytes, manifest says {entry['bytes']}")
        if file_sha256(path) != entry["sha256"]:
            problems.append(f"{entry['file']}: sha256 differs from the manifest (corrupted or changed)")
            continue
        try:
            table = pq.read_table(path, columns=["n_tokens"])
        except Exception as error:  # a damaged file can fail in many ways
            problems.append(f"{entry['file']}: unreadable: {error}")
            continue
        if table.num_rows != entry["rows"] or sum(table.column(0).to_pylist()) != entry["tokens"]:
            problems.append(f"{entry['file']}: rows or tokens differ from the manifest")
        paths.append(path)
        rows += table.num_rows
        tokens += sum(table.column(0).to_pylist())
    for extra in sorted(p.name for p in root.glob("*.parquet") if p.name not in listed):
        problems.append(f"{extra}: not in the manifest")
    return problems, paths, rows, tokens


def verify_manifest(
    shards_dir: str | Path, tokenizer: str | Path | None = None
) -> tuple[list[str], list[str]]:
    """``(problems, notes)`` comparing the manifest with the shards and the tokenizer; problems empty when
    all holds. ``ManifestError`` when the manifest is malformed."""
    root = Path(shards_dir)
    manifest = load_manifest(root)
    notes: list[str] = []
    problems, paths, rows, tokens = check_files(root, manifest)
    if problems:
        return problems, notes
    if (rows, tokens) != (manifest["total_rows"], manifest["total_tokens"]):
        problems.append("the manifest's totals differ from the shards' rows and tokens")
    if _recount(paths) != manifest["languages"]:
        problems.append("the manifest's per-language rows and tokens differ from the shards'")
    path = tokenizer_file(manifest, root, Path(tokenizer) if tokenizer else None)
    loaded = _check_tokenizer(manifest, path, problems)
    if loaded is not None and paths:
        _check_encoding(manifest, paths, loaded, problems, notes)
    return problems, notes


def verify_shards(shards_dir: str | Path) -> list[str]:
    """Problems found comparing ``manifest.json`` with the shard files (empty: all good): the manifest's
    shape, then ``check_files`` (entries inside the folder, bytes, sha256, rows,
    tokens) and the totals. ``verify_manifest`` (``stackcurate shards verify``, ``shards export``) checks
    the tokenizer and the encoding too."""
    root = Path(shards_dir)
    try:
        manifest = load_manifest(root)
    except ManifestError as error:
        return [str(error)]
    problems, _, rows, tokens = check_files(root, manifest)
    if not problems and (rows, tokens) != (manifest["total_rows"], manifest["total_tokens"]):
        problems.append("the manifest's totals differ from the sum of its shards")
    return problems
