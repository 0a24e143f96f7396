"""The shards of ``stackcurate run`` when the pipeline has a ``shards`` section: two passes of the
executor (``shards/passes.py``, planned in ``plan_scaleout.py``), on a local run directory as on object
storage (``--out s3://...``: the tasks read and write the bucket themselves). The tokenizer is trained
before the first, in the driver, on a bounded sample (``prepare_tokenizer``), and ``write_shards`` merges the
manifest after the last (written last: a manifest means complete shards). Both are skipped when already done
(``<out>/tokenizer.json``, ``shards/manifest.json``).

``build_on_driver`` is the one-process build, kept for runs whose shards were made so (an object-storage
run of stackcurate before the shards passes existed): ``opt-out purge`` rebuilds those the same way."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

from datatrove.io import get_datafolder
from loguru import logger
from rich.console import Console

from stackcurate.config import PipelineConfig
from stackcurate.layout import RunLayout
from stackcurate.shards.build import build_shards, verify_shards
from stackcurate.shards.passes import local_file, merge_manifest, shard_count
from stackcurate.shards.tokenizer import load_tokenizer, train_on, training_text, vocabulary_shortfall


def prepare_tokenizer(cfg: PipelineConfig, console: Console | None = None) -> str:
    """The run's tokenizer: the pipeline's (``stages.shards.tokenizer``, used as it is: checked for the
    special tokens the shards need, never trained), or ``<out>/tokenizer.json`` (a local path or a bucket
    URL), trained here (one process, on a sample of about ``train_max_bytes`` drawn from the whole curated
    folder, read from wherever ``curated/`` is) when it does not exist yet. A trained tokenizer smaller than
    ``train_vocab_size`` is kept, with a warning that says why."""
    settings = cfg.stages.shards
    assert settings is not None
    if settings.tokenizer:
        with local_file(settings.tokenizer) as local:
            load_tokenizer(local)  # a bad file stops the run here, before any shard is written
        return str(settings.tokenizer)
    layout = RunLayout(cfg.out)
    target = layout.join("tokenizer.json")
    run = get_datafolder(cfg.out)
    if not run.exists("tokenizer.json"):
        started = time.monotonic()
        text = training_text(layout.curated, settings.train_max_bytes)
        trained = train_on(text, vocab_size=settings.train_vocab_size)
        with tempfile.TemporaryDirectory(prefix="stackcurate-tokenizer-") as tmp:
            trained.save(str(Path(tmp) / "tokenizer.json"))
            run.put(str(Path(tmp) / "tokenizer.json"), "tokenizer.json.tmp")
        run.mv("tokenizer.json.tmp", "tokenizer.json")
        (console or Console(stderr=True)).print(
            f"tokenizer: {trained.get_vocab_size():,} tokens trained on {text.bytes / 1e6:.1f} MB "
            f"({text.files:,} files) in {time.monotonic() - started:.1f}s"
        )
        shortfall = vocabulary_shortfall(trained, settings.train_vocab_size, text)
        if shortfall is not None:
            logger.warning(shortfall)
    return target


def write_shards(cfg: PipelineConfig, console: Console) -> dict[str, Any] | None:
    """After the passes: the shards' manifest, merged from the ``shards_write`` tasks' entries
    (``shards/passes.py``); returns a summary for run.json (None without shards, or when done already)."""
    settings = cfg.stages.shards
    if settings is None:
        return None
    layout = RunLayout(cfg.out)
    if get_datafolder(cfg.out).exists("shards/manifest.json"):
        return None
    tokenizer = prepare_tokenizer(cfg, console)
    count = shard_count(layout.curated, settings.shard_tokens)
    shards_dir = layout.join("shards")
    manifest = merge_manifest(shards_dir, tokenizer, settings.seed, layout.curated, settings.encoder, count)
    console.print(
        f"shards: {manifest['total_rows']:,} documents, {manifest['total_tokens']:,} tokens in "
        f"{len(manifest['shards'])} shards -> {shards_dir}"
    )
    return {"tokenizer": tokenizer, "rows": manifest["total_rows"], "tokens": manifest["total_tokens"]}


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
