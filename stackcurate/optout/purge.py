"""Removing opted-out repositories from a run already written, and the membership check.

``purge_run`` rewrites every Parquet file of a finished run that has a ``repo`` column -- stage outputs,
rejects, PII audit -- without the rows of approved targets; each changed file is written under a
temporary name and renamed over the old one, so a file is always either the old or the new version.
Opting out must remove only the opted-out code: when covered rows reached dedup, a purged row may have
been the kept copy of a duplicate group, so the passes after the filters run again on the purged input
(``rerun``) and the next copy by the same priority is kept, in the curated output and the shards alike,
with ``duplicate_repos`` and cluster sizes recounted. The training shards are rebuilt, never filtered, so
they keep their configured layout and an exact manifest; the attribution index is rebuilt. It then reads
everything again and fails if any covered row is left. The run's ``run.json`` records each purge (list
digest, rows removed, passes rerun). A run that is not finished is refused: its later passes name files
by position, which a purge would shift.
"""

from __future__ import annotations

import json
import shutil
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from stackcurate.errors import FatalError
from stackcurate.layout import RunLayout, read_manifest
from stackcurate.optout.apply import OptOutList
from stackcurate.parquet_io import iter_rows, list_parquet_files
from stackcurate.shards.build import refresh_manifest


def run_parquet_files(run_dir: str | Path) -> list[Path]:
    """Every final Parquet file of a run (temporary files excluded), sorted."""
    root = Path(run_dir)
    return sorted(
        path
        for path in root.rglob("*.parquet")
        if ".tmp" not in path.name and ".tmp" not in path.relative_to(root).parts
    )


def _covered_mask(table: pa.Table, opt_out: OptOutList) -> list[bool]:
    return [opt_out.covers(repo) for repo in table.column("repo").to_pylist()]


def _check_finished(run_dir: Path) -> dict[str, Any]:
    manifest = read_manifest(RunLayout(str(run_dir)))
    if manifest is None:
        raise FatalError(f"{run_dir} is not a stackcurate run directory (no run.json)")
    if "completed" not in manifest:
        raise FatalError(
            f"{run_dir} is not finished; finish it (rerun the same command) or remove it, then purge"
        )
    return manifest


def _covered_rows(path: Path, opt_out: OptOutList) -> bool:
    if "repo" not in pq.read_schema(path).names:
        return False
    repos = pq.read_table(path, columns=["repo"]).column("repo").to_pylist()
    return any(opt_out.covers(repo) for repo in repos)


def _save_manifest(root: Path, manifest: dict[str, Any]) -> None:
    run_json = root / "run.json"
    tmp_json = run_json.with_suffix(".json.tmp")
    tmp_json.write_text(json.dumps(manifest, indent=2) + "\n")
    tmp_json.replace(run_json)


def _rebuild_shards(root: Path, manifest: dict[str, Any]) -> dict[str, Any]:
    """Tokenize the purged curated output again with the run's settings and tokenizer, so the shards keep
    their layout (shard size, row groups) and the manifest describes them exactly. A run whose shards were
    made by the executor's passes (``shards_encode``/``shards_write``) runs those passes again; one whose
    shards were built on the driver (an object-storage run) has them built so again. Returns run.json."""
    from rich.console import Console

    from stackcurate.config import PipelineConfig
    from stackcurate.identity import forget_completions
    from stackcurate.runner import run_pipeline
    from stackcurate.shards.stage import build_on_driver

    cfg = PipelineConfig.model_validate(manifest["config"])
    cfg.out = str(root)
    shutil.rmtree(root / "shards")
    passes = [name for name in ("shards_encode", "shards_write") if name in manifest.get("passes", {})]
    if not passes:
        summary = build_on_driver(cfg, Console(stderr=True))
        if summary is not None:
            manifest["shards"] = summary
        return manifest
    for name in passes:
        forget_completions(RunLayout(str(root)), name)
    manifest.pop("completed", None)  # unfinished until the shards are made again
    manifest.pop("shards", None)
    _save_manifest(root, manifest)
    run_pipeline(cfg, Console(stderr=True), check_inputs=False)
    return _check_finished(root)


def _check_tokenizer(root: Path, manifest: dict[str, Any]) -> None:
    """Before touching anything: the shards can be rebuilt only with the tokenizer they were made with."""
    settings = (manifest.get("config", {}).get("stages") or {}).get("shards")
    if not settings or not (root / "shards" / "manifest.json").exists():
        return
    tokenizer = Path(settings["tokenizer"]) if settings.get("tokenizer") else root / "tokenizer.json"
    if not tokenizer.is_file():
        raise FatalError(
            f"the run's tokenizer {tokenizer} is missing: the shards could not be rebuilt after the purge; "
            "restore it, then purge"
        )


def purge_run(run_dir: str | Path, opt_out: OptOutList) -> dict[str, Any]:
    """Remove the rows of ``opt_out``'s targets from ``run_dir`` and redo what they took part in.

    When covered rows reached dedup (``02_filtered``), the passes after the filters run again
    (``rerun.rerun_downstream``): the next copy of a group whose kept copy was purged takes its place in
    the curated output and the shards. Otherwise each file is rewritten without the covered rows and the
    shards are rebuilt from the purged curated output.
    Returns ``{"digest", "files_changed", "rows_removed", "by_repo": {repo: rows}, "by_folder": {...},
    "rerun": [passes run again]}``.
    """
    from stackcurate.optout.rerun import downstream_folders, reached_dedup, rerun_downstream

    root = Path(run_dir)
    manifest = _check_finished(root)
    _check_tokenizer(root, manifest)
    rerun = reached_dedup(root, manifest) and any(
        _covered_rows(path, opt_out) for path in run_parquet_files(root / "02_filtered")
    )
    # shards are rebuilt, never filtered (filtering would leave short row groups and a stale layout);
    # with a rerun, everything after the filters is recomputed
    regenerated = {"shards", *(downstream_folders(manifest) if rerun else ())}
    by_repo: Counter[str] = Counter()
    by_folder: Counter[str] = Counter()
    changed = 0
    for path in run_parquet_files(root):
        if "repo" not in pq.read_schema(path).names:
            continue
        relative = path.relative_to(root).as_posix()
        if any(relative.startswith(folder + "/") for folder in regenerated):
            if relative.startswith(("curated/", "shards/")):  # reported; the folder is rebuilt below
                table = pq.read_table(path, columns=["repo"])
                by_folder[str(path.parent.relative_to(root))] += sum(_covered_mask(table, opt_out))
            continue
        table = pq.read_table(path)
        mask = _covered_mask(table, opt_out)
        removed = sum(mask)
        if not removed:
            continue
        for repo, hit in zip(table.column("repo").to_pylist(), mask, strict=True):
            if hit:
                by_repo[str(repo)] += 1
        kept = table.filter(pa.array([not hit for hit in mask]))
        tmp = path.with_name(f"{path.name}.tmp-purge")
        pq.write_table(kept, tmp, compression="zstd")
        tmp.replace(path)
        changed += 1
        by_folder[str(path.parent.relative_to(root))] += removed
    for shard_manifest in root.rglob("manifest.json"):  # shards built by hand elsewhere in the run
        inside = shard_manifest.parent.relative_to(root).as_posix()
        if inside != "shards" and '"stackcurate-shards/1"' in shard_manifest.read_text():
            refresh_manifest(shard_manifest.parent)
    ran: list[str] = []
    if rerun:
        ran = rerun_downstream(root, manifest, lambda saved: _save_manifest(root, saved))
        manifest = _check_finished(root)
    elif by_folder.get("curated") and (root / "shards" / "manifest.json").exists():
        manifest = _rebuild_shards(root, manifest)
        ran = ["shards"]
    left = verify_purged(root, opt_out)
    if left:
        raise FatalError(f"purge incomplete: covered rows remain in {left}")
    index_meta = root / "index" / "meta.json"
    if (changed or ran) and index_meta.exists():  # the attribution index must stop finding purged code
        from stackcurate.attribution.index import build_index

        settings = json.loads(index_meta.read_text())
        build_index(
            root,
            fp_rate=settings["fp_rate"],
            window=settings["window_tokens"],
            guard=settings.get("guard", 1),
        )
    report = {
        "digest": opt_out.digest,
        "purged": datetime.now(UTC).isoformat(timespec="seconds"),
        "files_changed": changed,
        "rows_removed": sum(by_repo.values()),
        "by_repo": dict(sorted(by_repo.items())),
        "by_folder": dict(sorted(by_folder.items())),
        "rerun": ran,
    }
    if manifest.get("cleaned"):
        report["note"] = (
            "the run's intermediates were cleaned: rows were removed, but a purged kept copy could not hand "
            "its place to the next copy; rerun the pipeline into a new --out to have them"
        )
    manifest.setdefault("purges", []).append(report)
    _save_manifest(root, manifest)
    return report


def verify_purged(run_dir: str | Path, opt_out: OptOutList) -> list[str]:
    """Files of the run that still hold a covered row (empty when the purge is complete)."""
    left = []
    for path in run_parquet_files(run_dir):
        if "repo" in pq.read_schema(path).names:
            repos = pq.read_table(path, columns=["repo"]).column("repo").to_pylist()
            if any(opt_out.covers(repo) for repo in repos):
                left.append(str(path))
    return left


def owner_files(run_dir: str | Path, owner: str) -> list[tuple[str, int]]:
    """``(repo, files)`` of ``owner``'s repositories (case-insensitive) in the run's curated output (a
    local folder or an fsspec URL: only the ``repo`` column is read)."""
    curated = f"{str(run_dir).rstrip('/')}/curated"
    if not list_parquet_files(curated):
        raise FatalError(f"{run_dir} has no curated output (expected {curated}/*.parquet)")
    prefix = owner.lower() + "/"
    counts: Counter[str] = Counter(
        str(row["repo"])
        for row in iter_rows(curated, columns=["repo"])
        if str(row["repo"]).lower().startswith(prefix)
    )
    return sorted(counts.items())
