"""The shards of ``stackcurate run`` when the pipeline has a ``shards`` section: two passes of the
executor (``shards/passes.py``: ``shards_encode``, ``shards_write``), on a local run directory as on object
storage (``--out s3://...``: the tasks read and write the bucket themselves). The tokenizer is trained
before the first, in the driver, on a bounded sample (``prepare_tokenizer``), and ``write_shards`` merges the
manifest after the last (written last: a manifest means complete shards). Both are skipped when already done
(``<out>/tokenizer.json``, ``shards/manifest.json``)."""

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
from stackcurate.plan.specs import Pass, PassSpec, task_count
from stackcurate.shards.passes import ShardEncode, ShardWrite, local_file, merge_manifest, shard_count
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


def _shards_plan(cfg: PipelineConfig, layout: RunLayout) -> tuple[int, int, int]:
    """``(encode tasks, shard count, write groups)`` of the shards passes, from the finished curated output
    (so a resumed run plans the same)."""
    settings = cfg.stages.shards
    assert settings is not None
    encode_tasks, _ = task_count(cfg, layout.curated, None)
    count = shard_count(layout.curated, settings.shard_tokens)
    return encode_tasks, count, max(1, min(cfg.executor.tasks, count))


def build_shards_encode(cfg: PipelineConfig, layout: RunLayout, tasks: int | None) -> Pass:
    """curated -> encoded rows routed to shards (``shards/passes.py``); trains the tokenizer first, in
    the driver, on a bounded sample, when the pipeline names none."""
    settings = cfg.stages.shards
    assert settings is not None
    tokenizer = prepare_tokenizer(cfg)
    encode_tasks, count, groups = _shards_plan(cfg, layout)
    step = ShardEncode(
        layout.curated,
        str(tokenizer),
        layout.join("shards"),
        count,
        groups,
        seed=settings.seed,
        encoder=settings.encoder,
    )
    tasks = tasks if tasks is not None else encode_tasks
    return Pass("shards_encode", layout.join("shards"), tasks, [step], "tasks", tasks)


def build_shards_write(cfg: PipelineConfig, layout: RunLayout, tasks: int | None) -> Pass:
    """encoded parts -> ``shards/shard-*.parquet`` in document-key order; the manifest is merged after."""
    encode_tasks, count, groups = _shards_plan(cfg, layout)
    assert cfg.stages.shards is not None
    row_group_rows = cfg.stages.shards.row_group_rows
    step = ShardWrite(layout.join("shards"), count, encode_tasks, row_group_rows)
    tasks = tasks if tasks is not None else groups
    return Pass("shards_write", layout.join("shards"), tasks, [step], "tasks", tasks)


def shards_specs(cfg: PipelineConfig) -> list[PassSpec]:
    """The two shards passes, when the pipeline has a ``shards`` section."""
    if cfg.stages.shards is None:
        return []
    return [
        PassSpec(
            "shards_encode",
            "shards",
            "[train tokenizer on a bounded sample, driver] -> format + encode curated -> route each "
            "document to shard xxh3(seed, document) % shards",
            build_shards_encode,
        ),
        PassSpec(
            "shards_write",
            "shards",
            "one write group's shards in document-key order -> shard-*.parquet (manifest merged last)",
            build_shards_write,
        ),
    ]
