"""The passes that make near-dup clustering and the training shards scale out, planned like the others
(``plan.py``): the connected-components rounds and their decisions (``dedup/components.py``), or one
clustering task when the pairs' files fit it, and the two shards passes (``shards/passes.py``).
``plan.pass_specs`` lists them in order."""

from __future__ import annotations

from stackcurate.config import PipelineConfig
from stackcurate.dedup.components import ClusterMerge, ComponentDecide, ComponentRound, converged
from stackcurate.dedup.near import NearDedupClusters
from stackcurate.layout import RunLayout
from stackcurate.parquet_io import count_rows, list_parquet_files
from stackcurate.plan import Pass, PassSpec, _shard_tasks
from stackcurate.shards.passes import ShardEncode, ShardWrite, shard_count
from stackcurate.shards.stage import prepare_tokenizer
from stackcurate.sizing import edge_partitions, one_task_components


def _edge_partitions(cfg: PipelineConfig, layout: RunLayout) -> int:
    """Edge partitions of the components rounds (``sizing.edge_partitions``, files counted)."""
    return edge_partitions(cfg, count_rows(layout.stage("02_filtered")))


def components_specs(cfg: PipelineConfig, layout: RunLayout) -> list[PassSpec]:
    """What follows near_pairs: one near_clusters task when the files in the verified pairs fit one task
    (``sizing.one_task_components``, the pairs counted from their files' footers), else the rounds."""
    files = count_rows(layout.stage("02_filtered"))
    pairs = count_rows(layout.join("minhash", "pairs"))
    if one_task_components(cfg, files, pairs):
        return [
            PassSpec(
                "near_clusters",
                "minhash/clusters",
                "connected components of the verified pairs in one task (they fit component_memory_mb) -> "
                "one kept file per component -> clusters/<origin>.parquet",
                build_one_task_clusters,
            )
        ]
    return [_round_spec(0)]


def build_one_task_clusters(cfg: PipelineConfig, layout: RunLayout, tasks: int | None) -> Pass:
    """Clusters of every verified pair in one task (``NearDedupClusters``; near_pairs verified them)."""
    tasks = tasks if tasks is not None else 1
    step = NearDedupClusters(layout.join("minhash"))
    return Pass("near_clusters", layout.join("minhash", "clusters"), tasks, [step], "tasks", tasks)


def _round_spec(round_: int) -> PassSpec:
    kind = "large-star" if round_ % 2 == 0 else "small-star"

    def build(cfg: PipelineConfig, layout: RunLayout, tasks: int | None) -> Pass:
        partitions = _edge_partitions(cfg, layout)
        tasks = tasks if tasks is not None else partitions  # a task per partition: its memory is one
        step = ComponentRound(layout.join("minhash"), round_, partitions)
        name = f"near_components/r{round_:03d}"
        return Pass(name, layout.join("minhash", "edges"), tasks, [step], "tasks", tasks)

    def after(cfg: PipelineConfig, layout: RunLayout) -> list[PassSpec]:
        if converged(layout.join("minhash"), round_, _edge_partitions(cfg, layout)):
            return _decide_specs(round_ + 1)
        return [_round_spec(round_ + 1)]

    return PassSpec(
        f"near_components/r{round_:03d}",
        f"minhash/edges/r{round_ + 1:03d}",
        f"{kind} round over the edge partitions (rounds go on until one large-star and one small-star "
        "round change no node; then near_decide, near_clusters)",
        build,
        after,
    )


def _decide_specs(last: int) -> list[PassSpec]:
    def build_decide(cfg: PipelineConfig, layout: RunLayout, tasks: int | None) -> Pass:
        partitions = _edge_partitions(cfg, layout)
        tasks = tasks if tasks is not None else partitions  # a task per partition: its memory is one
        step = ComponentDecide(layout.join("minhash"), last, partitions)
        return Pass("near_decide", layout.join("minhash", "cluster_parts"), tasks, [step], "tasks", tasks)

    return [
        PassSpec(
            "near_decide",
            "minhash/cluster_parts",
            "each star (component) -> one kept file by priority",
            build_decide,
        ),
        PassSpec(
            "near_clusters",
            "minhash/clusters",
            "each origin task's decisions from every partition -> clusters/<origin>.parquet",
            build_near_clusters,
        ),
    ]


def build_near_clusters(cfg: PipelineConfig, layout: RunLayout, tasks: int | None) -> Pass:
    origins = len(list_parquet_files(layout.join("minhash", "docs")))
    tasks = tasks if tasks is not None else max(1, min(cfg.executor.tasks, origins))
    step = ClusterMerge(layout.join("minhash"), origins)
    return Pass("near_clusters", layout.join("minhash", "clusters"), tasks, [step], "tasks", tasks)


def _shards_plan(cfg: PipelineConfig, layout: RunLayout) -> tuple[int, int, int]:
    """``(encode tasks, shard count, write groups)`` of the shards passes, from the finished curated output
    (so a resumed run plans the same)."""
    settings = cfg.stages.shards
    assert settings is not None
    encode_tasks, _ = _shard_tasks(cfg, layout.curated, None)
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
    row_group_rows = cfg.stages.shards.row_group_rows or 1024
    step = ShardWrite(layout.join("shards"), count, encode_tasks, row_group_rows)
    tasks = tasks if tasks is not None else groups
    return Pass("shards_write", layout.join("shards"), tasks, [step], "tasks", tasks)


def _shards_specs(cfg: PipelineConfig) -> list[PassSpec]:
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
