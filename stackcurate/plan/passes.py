"""Turn a ``PipelineConfig`` into passes: datatrove pipelines joined by folders (docs/architecture.md).

A pass is one executor run over ``tasks`` shards. The passes (docs/architecture.md)::

    clone         repos list -> GitRepoReader -> [LicenseAnnotator] -> <out>/01_clone/
    curate        <out>/01_clone/ -> [LicenseFilter] -> [LanguageFilter] -> <out>/curated/

and, when exact or near dedup is configured (a multi-pass stage needs the filtered files in a folder of
their own)::

    clone            as above
    filter           <out>/01_clone/ -> [LicenseFilter] -> [LanguageFilter] -> <out>/02_filtered/
    exact_hash       <out>/02_filtered/ -> ExactDedupHashes -> <out>/dedup/exact/hashes/
    exact_decide     hashes -> ExactDedupDecide -> <out>/dedup/exact/decisions/
    near_signatures  <out>/02_filtered/ -> [exact dedup replay] -> NearDedupSignatures -> <out>/minhash/
    near_pairs       <out>/minhash/buckets/ -> NearDedupPairs (+ verify) -> <out>/minhash/pairs/, edges/r000/
    near_components/r<R>  edges/r<R>/ -> ComponentRound -> edges/r<R+1>/ (rounds until no change)
    near_decide      last edges -> ComponentDecide -> <out>/minhash/cluster_parts/
    near_clusters    cluster_parts -> ClusterMerge -> <out>/minhash/clusters/
    curate           <out>/02_filtered/ -> [ExactDedupFilter] -> [NearDedupFilter] -> <out>/curated/
    shards_encode    <out>/curated/ -> ShardEncode -> <out>/shards/.parts/   (with a shards section)
    shards_write     parts -> ShardWrite -> <out>/shards/shard-*.parquet (manifest merged after)

The near-dedup passes see the files exact dedup keeps: the signatures pass replays the exact decisions on
the same stream the curate pass reads, so both name a file by the same (task, position).

A pass's task count is fixed when it is planned: the clone pass takes ``min(tasks, repositories)``, a pass
that reads a folder takes ``min(tasks, files in that folder)``; both are recorded in ``run.json`` so a
resumed run cuts the work the same way.
"""

from __future__ import annotations

import pyarrow as pa
from datatrove.pipeline.base import PipelineStep

from stackcurate.config import PipelineConfig
from stackcurate.dedup.exact import ExactDedupDecide, ExactDedupFilter, ExactDedupHashes, ExactDedupReplay
from stackcurate.dedup.near import (
    NearDedupFilter,
    NearDedupPairs,
    NearDedupSignatures,
)
from stackcurate.filters.decontaminate import BenchmarkFile, Decontaminator
from stackcurate.filters.language import LanguageFilter
from stackcurate.filters.notebooks import NotebookConverter
from stackcurate.filters.quality import QualityFilter
from stackcurate.layout import RunLayout
from stackcurate.licenses.stage import LicenseAnnotator, LicenseFilter, default_memo_path
from stackcurate.optout.apply import OptOutFilter, approved_list
from stackcurate.parquet_io import StageParquetReader, StageParquetWriter, count_rows
from stackcurate.pii.stage import PiiRedactor
from stackcurate.plan.specs import Pass, schema_for, task_count
from stackcurate.samples import ReasonSampler
from stackcurate.schema import REJECT_COLUMNS
from stackcurate.sizing import edge_partitions, exact_buckets, near_groups, one_task_components
from stackcurate.sources.reader import GitRepoReader
from stackcurate.sources.repos_list import load_repos_list
from stackcurate.sources.walk import RepoLimits


def _rejects_writer(
    cfg: PipelineConfig,
    layout: RunLayout,
    stage: str,
    upstream: list[PipelineStep],
    own: dict[str, pa.DataType] | None = None,
) -> ReasonSampler:
    """Where a filter puts what it drops: always a small sample per reason in ``samples/<stage>/``
    (``stackcurate inspect``; not part of the identity), and with ``keep_rejects`` every dropped file in
    ``rejects/<stage>/``: the upstream columns, the filter's ``own`` tag columns (why it dropped the file:
    its cluster, its duplicate count) and ``filter_reason``."""
    rejects = None
    if cfg.keep_rejects:
        schema = schema_for(upstream)
        for name, dtype in {**(own or {}), **REJECT_COLUMNS}.items():
            schema = schema.append(pa.field(name, dtype))
        rejects = StageParquetWriter(layout.rejects(stage), schema)
    return ReasonSampler(layout.samples(stage), stage, forward=rejects)


def build_clone(cfg: PipelineConfig, layout: RunLayout, tasks: int | None) -> Pass:
    clone = cfg.stages.clone
    total = len(load_repos_list(cfg.repos)[0])
    if tasks is None:
        tasks = max(1, min(cfg.executor.tasks, total))
    reader = GitRepoReader(
        cfg.repos,
        depth=clone.depth,
        max_file_bytes=clone.max_file_bytes,
        timeout_s=clone.timeout_s,
        retries=clone.retries,
        work_dir=clone.work_dir,
        rules_dir=cfg.rules_dir,
        failures_folder=layout.failures("clone"),
        progress_folder=layout.logs("clone"),
        opt_out=approved_list(cfg),
        crash_limit=clone.crash_limit,
        limits=RepoLimits(clone.max_entries, clone.max_bytes),
        max_repo_seconds=clone.max_repo_seconds,
        local_objects=clone.local_objects,
    )
    steps: list[PipelineStep] = [reader]
    licenses = cfg.stages.licenses
    if licenses is not None:
        memo_path = (licenses.memo_path or default_memo_path()) if licenses.memo else None
        steps.append(
            LicenseAnnotator(
                licenses.engines, memo_path, licenses.batch_repos, cfg.rules_dir, licenses.batch_bytes
            )
        )
    steps.append(StageParquetWriter(layout.stage("01_clone"), schema_for(steps)))
    return Pass("clone", layout.stage("01_clone"), tasks, steps, "repos", total)


def _filter_steps(cfg: PipelineConfig, layout: RunLayout, steps: list[PipelineStep]) -> list[PipelineStep]:
    """The per-file filters, in docs/architecture.md's order, appended to ``steps`` (which start with the
    reader). The opt-out filter comes first: opted-out files never reach dedup, so none of them can be the
    kept copy of a duplicate group (which would take the other repositories' copies out with it)."""
    opt_out = approved_list(cfg)
    if opt_out is not None:
        steps.append(OptOutFilter(opt_out))
    if cfg.stages.licenses is not None:
        steps.append(LicenseFilter(cfg.stages.licenses.keep, _rejects_writer(cfg, layout, "licenses", steps)))
    if cfg.stages.notebooks is not None:
        steps.append(
            NotebookConverter(
                cfg.rules_dir,
                _rejects_writer(cfg, layout, "notebooks", steps, NotebookConverter.adds_columns),
            )
        )
    if cfg.stages.languages is not None:
        steps.append(
            LanguageFilter(
                cfg.stages.languages.keep, cfg.rules_dir, _rejects_writer(cfg, layout, "languages", steps)
            )
        )
    quality = cfg.stages.quality
    if quality is not None:
        steps.append(
            QualityFilter(
                quality.thresholds,
                cfg.rules_dir,
                _rejects_writer(cfg, layout, "quality", steps, QualityFilter.adds_columns),
                batch_size=quality.batch_size,
            )
        )
    decontaminate = cfg.stages.decontaminate
    if decontaminate is not None:
        files = tuple(
            BenchmarkFile(spec.name, spec.path, tuple(spec.fields), spec.id_field)
            for spec in decontaminate.files
        )
        steps.append(
            Decontaminator(
                tuple(decontaminate.builtin),
                files,
                decontaminate.min_chars,
                _rejects_writer(cfg, layout, "decontaminate", steps, Decontaminator.adds_columns),
            )
        )
    return steps


def build_filter(cfg: PipelineConfig, layout: RunLayout, tasks: int | None) -> Pass:
    """01_clone -> per-file filters -> 02_filtered (only when a multi-pass stage follows the filters)."""
    source = layout.stage("01_clone")
    tasks, files = task_count(cfg, source, tasks)
    steps = _filter_steps(cfg, layout, [StageParquetReader(source, progress_folder=layout.logs("filter"))])
    steps.append(StageParquetWriter(layout.stage("02_filtered"), schema_for(steps)))
    return Pass("filter", layout.stage("02_filtered"), tasks, steps, "files", files)


def build_exact_hash(cfg: PipelineConfig, layout: RunLayout, tasks: int | None) -> Pass:
    assert cfg.stages.exact_dedup is not None
    source = layout.stage("02_filtered")
    tasks, files = task_count(cfg, source, tasks)
    reader = StageParquetReader(source, progress_folder=layout.logs("exact_hash"))
    hashes = ExactDedupHashes(layout.join("dedup", "exact", "hashes"), _exact_buckets(cfg, layout))
    return Pass(
        "exact_hash", layout.join("dedup", "exact", "hashes"), tasks, [reader, hashes], "files", files
    )


def build_exact_decide(cfg: PipelineConfig, layout: RunLayout, tasks: int | None) -> Pass:
    assert cfg.stages.exact_dedup is not None
    buckets = _exact_buckets(cfg, layout)
    tasks = tasks if tasks is not None else max(1, min(cfg.executor.tasks, buckets))
    step = ExactDedupDecide(
        layout.join("dedup", "exact", "hashes"), layout.join("dedup", "exact", "decisions"), buckets
    )
    return Pass("exact_decide", layout.join("dedup", "exact", "decisions"), tasks, [step], "tasks", tasks)


def multi_pass(cfg: PipelineConfig) -> bool:
    """Whether ``cfg`` has a multi-pass stage (exact or near dedup): then the filters write 02_filtered."""
    return cfg.stages.exact_dedup is not None or cfg.stages.near_dedup is not None


def _near_groups(cfg: PipelineConfig, layout: RunLayout) -> int:
    """Bucket groups of the near-dedup passes (``sizing.near_groups``; files counted from 02_filtered's
    metadata, so a resumed run gets the same)."""
    return near_groups(cfg, count_rows(layout.stage("02_filtered")))


def _exact_buckets(cfg: PipelineConfig, layout: RunLayout) -> int:
    return exact_buckets(cfg, count_rows(layout.stage("02_filtered")))


def build_near_signatures(cfg: PipelineConfig, layout: RunLayout, tasks: int | None) -> Pass:
    near = cfg.stages.near_dedup
    assert near is not None
    source = layout.stage("02_filtered")
    tasks, files = task_count(cfg, source, tasks)
    steps: list[PipelineStep] = [StageParquetReader(source, progress_folder=layout.logs("near_signatures"))]
    if cfg.stages.exact_dedup is not None:
        steps.append(ExactDedupReplay(layout.join("dedup", "exact", "decisions")))
    bands, rows = near.banding()
    steps.append(
        NearDedupSignatures(
            layout.join("minhash"),
            _near_groups(cfg, layout),
            num_perm=near.num_perm,
            ngram=near.ngram,
            bands=bands,
            rows=rows,
            seed=near.seed,
            verify=near.verify,
            batch_size=near.batch_size,
        )
    )
    return Pass("near_signatures", layout.join("minhash", "docs"), tasks, steps, "files", files)


def build_near_pairs(cfg: PipelineConfig, layout: RunLayout, tasks: int | None) -> Pass:
    near = cfg.stages.near_dedup
    assert near is not None
    groups = _near_groups(cfg, layout)
    tasks = tasks if tasks is not None else max(1, min(cfg.executor.tasks, groups))
    files = count_rows(layout.stage("02_filtered"))
    step = NearDedupPairs(
        layout.join("minhash"),
        groups,
        near.verify_max_bucket if near.verify else 0,
        threshold=near.threshold if near.verify else None,
        # no round-0 edges when one task will cluster every file (plan/rounds.components_specs)
        partitions=0 if one_task_components(cfg, files) else edge_partitions(cfg, files),
    )
    return Pass("near_pairs", layout.join("minhash", "pairs"), tasks, [step], "tasks", tasks)


def build_curate(cfg: PipelineConfig, layout: RunLayout, tasks: int | None) -> Pass:
    """The last pass: -> curated. Without multi-pass stages it also runs the filters (from 01_clone)."""
    dedup = multi_pass(cfg)
    source = layout.stage("02_filtered" if dedup else "01_clone")
    tasks, files = task_count(cfg, source, tasks)
    steps: list[PipelineStep] = [StageParquetReader(source, progress_folder=layout.logs("curate"))]
    if dedup:
        if cfg.stages.exact_dedup is not None:
            steps.append(
                ExactDedupFilter(
                    layout.join("dedup", "exact", "decisions"),
                    _rejects_writer(cfg, layout, "exact_dedup", steps, ExactDedupFilter.adds_columns),
                )
            )
        if cfg.stages.near_dedup is not None:
            steps.append(
                NearDedupFilter(
                    layout.join("minhash"),
                    _rejects_writer(cfg, layout, "near_dedup", steps, NearDedupFilter.adds_columns),
                )
            )
    else:
        _filter_steps(cfg, layout, steps)
    pii = cfg.stages.pii
    if pii is not None:
        audit = layout.join("pii_audit") if pii.audit else None
        steps.append(PiiRedactor(cfg.rules_dir, pii.names, pii.keep_public_ips_only, audit))
    steps.append(StageParquetWriter(layout.curated, schema_for(steps)))
    return Pass("curate", layout.curated, tasks, steps, "files", files)
