"""The near-dedup passes after the pairs, planned like the others (``plan/passes.py``): the
connected-components rounds, as many as it takes, and their decisions (``dedup/components.py``), or one
clustering task when the pairs' files fit it.
``plan.pass_specs`` lists them in order; the rounds a run needs are known only as they run
(``PassSpec.after``)."""

from __future__ import annotations

from stackcurate.config import PipelineConfig
from stackcurate.dedup.components import ClusterMerge, ComponentDecide, ComponentRound, converged
from stackcurate.dedup.near import NearDedupClusters
from stackcurate.layout import RunLayout
from stackcurate.parquet_io import count_rows, list_parquet_files
from stackcurate.plan.specs import Pass, PassSpec
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
    return [round_spec(0)]


def build_one_task_clusters(cfg: PipelineConfig, layout: RunLayout, tasks: int | None) -> Pass:
    """Clusters of every verified pair in one task (``NearDedupClusters``; near_pairs verified them)."""
    tasks = tasks if tasks is not None else 1
    step = NearDedupClusters(layout.join("minhash"))
    return Pass("near_clusters", layout.join("minhash", "clusters"), tasks, [step], "tasks", tasks)


def round_spec(round_: int) -> PassSpec:
    """Round ``round_`` of the components (large-star on even rounds, small-star on odd ones); once it has
    run, the next round or, when two rounds changed nothing, the decide and clusters passes."""
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
        return [round_spec(round_ + 1)]

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
