"""Removing opted-out repositories from a run already written, and the membership check.

``purge_run`` rewrites every Parquet file of a finished run that has a ``repo`` column -- stage outputs,
curated files, rejects, PII audit, dedup tables, training shards -- without the rows of approved targets
(then refreshes the shards' manifests and rebuilds the attribution index when the run has them):
each changed file is written under a temporary name and renamed over the old one, so a file is always
either the old or the new version. It then reads everything again and fails if any covered row is left.
The run's ``run.json`` records each purge (list digest, rows removed). A run that is not finished is
refused: its later passes name files by position, which a purge would shift.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from stackcurate.errors import FatalError
from stackcurate.layout import RunLayout, read_manifest
from stackcurate.optout.apply import OptOutList
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


def purge_run(run_dir: str | Path, opt_out: OptOutList) -> dict[str, Any]:
    """Remove the rows of ``opt_out``'s targets from every Parquet file of ``run_dir``.

    Returns ``{"digest", "files_changed", "rows_removed", "by_repo": {repo: rows}, "by_folder": {...}}``.
    """
    root = Path(run_dir)
    manifest = _check_finished(root)
    by_repo: Counter[str] = Counter()
    by_folder: Counter[str] = Counter()
    changed = 0
    for path in run_parquet_files(root):
        if "repo" not in pq.read_schema(path).names:
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
    for shard_manifest in root.rglob("manifest.json"):
        if '"stackcurate-shards/1"' in shard_manifest.read_text():
            refresh_manifest(shard_manifest.parent)  # the shards' sizes and checksums changed
    left = verify_purged(root, opt_out)
    if left:
        raise FatalError(f"purge incomplete: covered rows remain in {left}")
    index_meta = root / "index" / "meta.json"
    if changed and index_meta.exists():  # the attribution index must stop finding purged code
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
    }
    manifest.setdefault("purges", []).append(report)
    run_json = root / "run.json"
    tmp_json = run_json.with_suffix(".json.tmp")
    tmp_json.write_text(json.dumps(manifest, indent=2) + "\n")
    tmp_json.replace(run_json)
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
    """``(repo, files)`` of ``owner``'s repositories (case-insensitive) in the run's curated output."""
    curated = Path(run_dir) / "curated"
    files = [path for path in sorted(curated.glob("*.parquet"))] if curated.is_dir() else []
    if not files:
        raise FatalError(f"{run_dir} has no curated output (expected {curated}/*.parquet)")
    prefix = owner.lower() + "/"
    counts = (
        pl.scan_parquet(files)
        .select("repo")
        .filter(pl.col("repo").str.to_lowercase().str.starts_with(prefix))
        .group_by("repo")
        .len()
        .sort("repo")
        .collect()
    )
    return [(str(repo), int(n)) for repo, n in counts.iter_rows()]
