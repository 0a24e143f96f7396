"""The last step of ``stackcurate run`` when the pipeline has a ``shards`` section: train the tokenizer if
asked, then tokenize ``<out>/curated`` into ``<out>/shards``. Both are skipped when already done
(``<out>/tokenizer.json``, a verified ``<out>/shards/manifest.json``), so a resumed run picks up here."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from rich.console import Console

from stackcurate.config import PipelineConfig
from stackcurate.layout import RunLayout
from stackcurate.shards.build import build_shards, verify_shards
from stackcurate.shards.tokenizer import train_tokenizer


def write_shards(cfg: PipelineConfig, console: Console) -> dict[str, Any] | None:
    """Tokenizer and shards for a finished run; returns a summary for run.json (None without shards)."""
    settings = cfg.stages.shards
    if settings is None:
        return None
    layout = RunLayout(cfg.out)
    shards_dir = Path(layout.join("shards"))
    tokenizer = Path(settings.tokenizer) if settings.tokenizer else Path(layout.join("tokenizer.json"))
    if settings.tokenizer is None and not tokenizer.exists():
        started = time.monotonic()
        trained = train_tokenizer(layout.curated, vocab_size=settings.train_vocab_size)
        tmp = tokenizer.with_suffix(".json.tmp")
        trained.save(str(tmp))
        tmp.replace(tokenizer)
        console.print(
            f"tokenizer: {trained.get_vocab_size():,} tokens trained in {time.monotonic() - started:.1f}s"
        )
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
    )
    console.print(
        f"shards: {manifest['total_rows']:,} documents, {manifest['total_tokens']:,} tokens in "
        f"{len(manifest['shards'])} shards ({time.monotonic() - started:.1f}s) -> {shards_dir}"
    )
    return {"tokenizer": str(tokenizer), "rows": manifest["total_rows"], "tokens": manifest["total_tokens"]}
