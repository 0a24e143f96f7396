"""The report's sections about the run itself (``stackcurate stats``, ``--json`` and ``--html``):

- ``metadata``: pipeline name and stages, identity, stackcurate version and commit, created and completed,
  duration, the opt-out list version, purges, the command that ran it (``stats.metadata``);
- ``funnel``: per stage files and bytes in and out and time, one row per pass that counts no files
  (``stats.funnel``);
- ``shards``: shard count, documents, tokens, tokenizer, and per shard its rows, tokens and bytes (the
  shards' ``manifest.json``; null without shards);
- ``dedup``: exact and near deduplication in figures: files hashed, copies removed, signatures, files too
  short, candidate pairs, pairs below the threshold, clusters, files in clusters, near duplicates removed
  (null when the run has neither).
"""

from __future__ import annotations

import json
from typing import Any

from datatrove.io import get_datafolder

from stackcurate.layout import RunLayout
from stackcurate.stats.funnel import funnel
from stackcurate.stats.metadata import read_summary, run_metadata

#: Dedup counters the report shows: (stage, counter) -> label.
DEDUP_COUNTERS = {
    ("exact dedup: hash", "files_in"): "files hashed (exact)",
    ("exact dedup: decide", "duplicates"): "copies of a kept file (exact duplicates)",
    ("exact dedup", "dropped_exact_duplicate"): "exact duplicates removed",
    ("near dedup: signatures", "signatures"): "files with a MinHash signature",
    ("near dedup: signatures", "too_short"): "files too short to shingle (kept)",
    ("near dedup: pairs", "candidate_pairs"): "candidate pairs (per bucket group)",
    ("near dedup: clusters", "candidate_pairs"): "distinct candidate pairs",
    ("near dedup: clusters", "pairs_below_threshold"): "pairs below the threshold (verify)",
    ("near dedup: clusters", "clusters"): "near-duplicate clusters",
    ("near dedup: clusters", "files_in_clusters"): "files in clusters",
    ("near dedup", "dropped_near_duplicate"): "near duplicates removed",
}


def shards_section(out: str) -> dict[str, Any] | None:
    """The shards' manifest in brief (module docstring); None without a finished shards folder."""
    folder = get_datafolder(RunLayout(out).join("shards"))
    if not folder.exists("manifest.json"):
        return None
    with folder.open("manifest.json", "r") as handle:
        manifest = json.load(handle)
    tokenizer = manifest.get("tokenizer") or {}
    return {
        "shards": len(manifest.get("shards", [])),
        "documents": int(manifest.get("total_rows", 0)),
        "tokens": int(manifest.get("total_tokens", 0)),
        "tokenizer": tokenizer.get("path"),
        "vocab_size": tokenizer.get("vocab_size"),
        "encoder": manifest.get("encoder"),
        "seed": manifest.get("seed"),
        "files": [
            {key: shard.get(key) for key in ("file", "rows", "tokens", "bytes")}
            for shard in manifest.get("shards", [])
        ],
    }


def dedup_section(stages: list[dict[str, Any]]) -> list[dict[str, Any]] | None:
    """``[{"label", "value"}]`` for the dedup counters the run has (``DEDUP_COUNTERS`` order)."""
    rows = []
    for (stage_name, counter), label in DEDUP_COUNTERS.items():
        values = [
            stage["counters"].get(counter, stage["removed"].get(counter))
            if counter != "files_in"
            else stage["files_in"]
            for stage in stages
            if stage["stage"] == stage_name
        ]
        values = [value for value in values if value is not None]
        if values:
            rows.append({"label": label, "value": int(sum(values))})
    return rows or None


def run_sections(out: str, report: dict[str, Any]) -> dict[str, Any]:
    """``metadata``, ``funnel``, ``shards`` and ``dedup`` for the report of run ``out``."""
    meta = run_metadata(out) or {}
    summary = read_summary(out)
    metadata = {
        **{key: meta.get(key) for key in ("name", "identity", "stackcurate", "created", "completed")},
        "seconds": summary.get("seconds") if summary.get("seconds") is not None else meta.get("seconds"),
        "commit": summary.get("commit"),
        "command": summary.get("command"),
        "pipeline": meta.get("pipeline"),
        "repos": meta.get("repos"),
        "opt_out": meta.get("opt_out"),
        "purges": meta.get("purges", 0),
        "keep_rejects": meta.get("keep_rejects"),
    }
    return {
        "metadata": metadata,
        "funnel": funnel(report),
        "shards": shards_section(out),
        "dedup": dedup_section(report["stages"]),
    }
