"""The shards of ``stackcurate run`` when the pipeline has a ``shards`` section. With a local run
directory they are two passes of the executor (``shards/passes.py``, planned in ``plan.py``): the
tokenizer is trained before the first (``prepare_tokenizer``), and ``write_shards`` merges the manifest
after the last. Both are skipped when already done (``<out>/tokenizer.json``, ``shards/manifest.json``).

With the run on object storage (``--out s3://...``) this step runs on the driver in a local staging folder:
the curated Parquet is downloaded there, the tokenizer and shards are made as for a local run, then
uploaded -- the shards first, ``manifest.json`` last, so a manifest in the bucket means complete shards.
The driver needs local disk for the curated output plus the shards (``docs/scaling.md``)."""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from datatrove.io import get_datafolder
from rich.console import Console

from stackcurate.config import PipelineConfig
from stackcurate.layout import RunLayout
from stackcurate.shards.build import build_shards, verify_shards
from stackcurate.shards.passes import merge_manifest, shard_count
from stackcurate.shards.tokenizer import train_tokenizer


def prepare_tokenizer(cfg: PipelineConfig, console: Console | None = None) -> Path:
    """The run's tokenizer: the pipeline's, or ``<out>/tokenizer.json``, trained here (one process, on at
    most ``train_max_bytes`` of the curated code) when it does not exist yet."""
    settings = cfg.stages.shards
    assert settings is not None
    if settings.tokenizer:
        return Path(settings.tokenizer)
    tokenizer = Path(RunLayout(cfg.out).join("tokenizer.json"))
    if not tokenizer.exists():
        started = time.monotonic()
        trained = train_tokenizer(
            RunLayout(cfg.out).curated,
            vocab_size=settings.train_vocab_size,
            max_bytes=settings.train_max_bytes,
        )
        tmp = tokenizer.with_suffix(".json.tmp")
        trained.save(str(tmp))
        tmp.replace(tokenizer)
        (console or Console(stderr=True)).print(
            f"tokenizer: {trained.get_vocab_size():,} tokens trained in {time.monotonic() - started:.1f}s"
        )
    return tokenizer


def write_shards(cfg: PipelineConfig, console: Console) -> dict[str, Any] | None:
    """After the passes: the shards' manifest, merged from the ``shards_write`` tasks' entries
    (``shards/passes.py``); returns a summary for run.json (None without shards, or when done already).
    With the run on object storage the driver builds the shards itself (see the module doc)."""
    settings = cfg.stages.shards
    if settings is None:
        return None
    if is_remote(cfg.out):
        return _write_remote_shards(cfg, console)
    layout = RunLayout(cfg.out)
    shards_dir = Path(layout.join("shards"))
    if (shards_dir / "manifest.json").exists():
        return None
    tokenizer = prepare_tokenizer(cfg, console)
    count = shard_count(layout.curated, settings.shard_tokens)
    manifest = merge_manifest(shards_dir, tokenizer, settings.seed, layout.curated, settings.encoder, count)
    console.print(
        f"shards: {manifest['total_rows']:,} documents, {manifest['total_tokens']:,} tokens in "
        f"{len(manifest['shards'])} shards -> {shards_dir}"
    )
    return {"tokenizer": str(tokenizer), "rows": manifest["total_rows"], "tokens": manifest["total_tokens"]}


def build_on_driver(cfg: PipelineConfig, console: Console) -> dict[str, Any] | None:
    """Tokenizer and shards built in this process (a local copy of an object-storage run)."""
    settings = cfg.stages.shards
    assert settings is not None
    layout = RunLayout(cfg.out)
    shards_dir = Path(layout.join("shards"))
    tokenizer = prepare_tokenizer(cfg, console)
    if (shards_dir / "manifest.json").exists() and not verify_shards(shards_dir):
        return None
    started = time.monotonic()
    manifest = build_shards(
        layout.curated,
        tokenizer,
        shards_dir,
        seed=settings.seed,
        shard_tokens=settings.shard_tokens,
        encoder=settings.encoder,
        row_group_rows=settings.row_group_rows or 1024,
    )
    console.print(
        f"shards: {manifest['total_rows']:,} documents, {manifest['total_tokens']:,} tokens in "
        f"{len(manifest['shards'])} shards ({time.monotonic() - started:.1f}s) -> {shards_dir}"
    )
    return {"tokenizer": str(tokenizer), "rows": manifest["total_rows"], "tokens": manifest["total_tokens"]}


def is_remote(path: str) -> bool:
    """Whether ``path`` is an fsspec URL other than ``file://`` (object storage, ...)."""
    return "://" in path and not path.startswith("file://")


def _write_remote_shards(cfg: PipelineConfig, console: Console) -> dict[str, Any] | None:
    settings = cfg.stages.shards
    assert settings is not None
    run = get_datafolder(cfg.out)
    if run.exists("shards/manifest.json"):
        return None  # uploaded last: the shards before it are complete
    staging = Path(tempfile.mkdtemp(prefix="stackcurate-shards-"))
    try:
        curated = staging / "curated"
        curated.mkdir()
        names = sorted(run.list_files("curated", glob_pattern="*.parquet"))
        for name in names:
            run.get(name, str(curated / Path(name).name))
        if settings.tokenizer is None and run.exists("tokenizer.json"):
            run.get("tokenizer.json", str(staging / "tokenizer.json"))
        local = cfg.model_copy(deep=True)
        local.out = str(staging)
        summary = build_on_driver(local, console)
        if summary is None:
            return None
        if settings.tokenizer is None:
            if not run.exists("tokenizer.json"):
                run.put(str(staging / "tokenizer.json"), "tokenizer.json")
            summary["tokenizer"] = cfg.out.rstrip("/") + "/tokenizer.json"
        shards = staging / "shards"
        manifest = json.loads((shards / "manifest.json").read_text())  # name the bucket, not the staging
        manifest["source"] = RunLayout(cfg.out).curated
        manifest["tokenizer"]["path"] = summary["tokenizer"]
        (shards / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
        for path in sorted(shards.glob("shard-*.parquet")):
            run.put(str(path), f"shards/{path.name}")
        run.put(str(shards / "manifest.json"), "shards/manifest.json.tmp")
        run.mv("shards/manifest.json.tmp", "shards/manifest.json")
        console.print(f"shards uploaded to {cfg.out.rstrip('/')}/shards")
        return summary
    finally:
        shutil.rmtree(staging, ignore_errors=True)
