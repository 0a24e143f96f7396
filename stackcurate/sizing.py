"""Sizes the planner derives from the corpus and the executor settings, so one pipeline file is right
from a laptop to The Stack v2 (``docs/scaling.md``, memory per task).

Each size keeps one task's working set within the memory the pass's tasks get (``executor.cpus_per_task x
mem_per_cpu_gb``, or the pass's ``resources``), less ``INTERPRETER_MB`` for Python and the libraries, and
gives at least one unit of work per task once the corpus is large enough to spread:

- ``exact_dedup.buckets`` (when not set): one exact_decide task holds one bucket, ``files / buckets``
  rows of ``exact.ROW_PEAK_BYTES``;
- near-dedup bucket groups: one near_pairs task holds one group, ``files x bands / groups`` rows of
  ``near.BUCKET_ROW_BYTES`` (``bucket_memory_mb`` caps it further);
- edge partitions of the components rounds: ``components.partitions_for`` (``component_memory_mb``), at
  least ``executor.tasks``.

The file count is counted from ``02_filtered`` when the run has it (so a resumed run gets the same sizes);
``stackcurate run --dry-run`` takes ``--set executor.expected_files=N`` to show a plan before any data.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from stackcurate.config import PipelineConfig
from stackcurate.dedup.components import one_task_fits, partitions_for
from stackcurate.dedup.near import groups_for

#: resident memory of a task before it holds data (Python, pyarrow, polars, numpy imported); the
#: measured idle RSS of a pass task is ~300 MB (``benchmarks/dedup.py`` idle row), rounded up
INTERPRETER_MB = 500
#: bytes per hash row at exact_decide's peak: 211-335 B measured (``docs/scaling.md``), rounded up
EXACT_ROW_BYTES = 340
#: a corpus spreads a pass over every task once each task would get this many files
FILES_PER_TASK_TO_SPREAD = 1000


def task_memory_mb(cfg: PipelineConfig, pass_name: str) -> int:
    """Memory a task of ``pass_name`` may fill with data, in MB (at least 64)."""
    cpus, mem_per_cpu_gb = cfg.executor.for_pass(pass_name)
    return max(64, int(cpus * mem_per_cpu_gb * 1000) - INTERPRETER_MB)


def _spread(cfg: PipelineConfig, files: int) -> int:
    return max(1, min(cfg.executor.tasks, files // FILES_PER_TASK_TO_SPREAD))


def exact_buckets(cfg: PipelineConfig, files: int) -> int:
    """``exact_dedup.buckets`` as set, or sized (1..4096)."""
    exact = cfg.stages.exact_dedup
    assert exact is not None
    if exact.buckets is not None:
        return exact.buckets
    need = math.ceil(files * EXACT_ROW_BYTES / (task_memory_mb(cfg, "exact_decide") * 1_000_000))
    return min(4096, max(need, _spread(cfg, files)))


def near_groups(cfg: PipelineConfig, files: int) -> int:
    """Bucket groups of the near-dedup passes: within ``bucket_memory_mb`` and a near_pairs task's memory."""
    near = cfg.stages.near_dedup
    assert near is not None
    bands, _ = near.banding()
    memory = min(near.bucket_memory_mb, task_memory_mb(cfg, "near_pairs"))
    return groups_for(files, bands, memory, minimum=_spread(cfg, files))


def edge_partitions(cfg: PipelineConfig, files: int) -> int:
    """Edge partitions of the components rounds: within ``component_memory_mb`` and the task's memory."""
    near = cfg.stages.near_dedup
    assert near is not None
    memory = min(near.component_memory_mb, task_memory_mb(cfg, "near_components"))
    # at least one per task: a round's tasks are short, and every worker then has a share
    return partitions_for(files, memory, minimum=cfg.executor.tasks)


def one_task_components(cfg: PipelineConfig, files: int, pairs: int | None = None) -> bool:
    """Whether the near-dup clusters are made in one task instead of the rounds: the files that can be
    in a pair (all ``files``; with the verified ``pairs`` counted, at most two per pair) fit one task's
    ``component_memory_mb`` (``components.one_task_fits``). Never with ``components: rounds``."""
    near = cfg.stages.near_dedup
    assert near is not None
    if near.components == "rounds":
        return False
    in_pairs = files if pairs is None else min(files, 2 * pairs)
    return one_task_fits(in_pairs, min(near.component_memory_mb, task_memory_mb(cfg, "near_clusters")))


@dataclass
class SizedPlan:
    """The sizes for ``files`` files (None: the stage is not configured)."""

    files: int
    exact_buckets: int | None
    near_groups: int | None
    edge_partitions: int | None
    one_task_clusters: bool = False

    def lines(self) -> list[str]:
        out = [f"sized for {self.files:,} files"]
        if self.exact_buckets is not None:
            out.append(f"exact_dedup buckets: {self.exact_buckets} (one exact_decide task holds one)")
        if self.near_groups is not None and self.edge_partitions is not None:
            out.append(f"near_dedup bucket groups: {self.near_groups} (one near_pairs task holds one)")
            if self.one_task_clusters:
                out.append("near_dedup clusters: one near_clusters task (the files fit component_memory_mb)")
            else:
                out.append(
                    f"near_dedup edge partitions: {self.edge_partitions} (one components task holds one; "
                    "rounds near_components/r000, r001, ... until converged)"
                )
        return out


def sized_plan(cfg: PipelineConfig, files: int) -> SizedPlan:
    near = cfg.stages.near_dedup is not None
    return SizedPlan(
        files,
        exact_buckets(cfg, files) if cfg.stages.exact_dedup is not None else None,
        near_groups(cfg, files) if near else None,
        edge_partitions(cfg, files) if near else None,
        near and one_task_components(cfg, files),
    )


def dry_run_lines(cfg: PipelineConfig) -> list[str]:
    """What ``--dry-run`` prints about sizes: for ``executor.expected_files``, else for the files the run
    directory's ``02_filtered`` holds, else how to ask."""
    if cfg.stages.exact_dedup is None and cfg.stages.near_dedup is None:
        return []
    files = cfg.executor.expected_files
    if files is None:
        from stackcurate.layout import RunLayout
        from stackcurate.parquet_io import count_rows, list_parquet_files

        filtered = RunLayout(cfg.out).stage("02_filtered")
        try:
            files = count_rows(filtered) if list_parquet_files(filtered) else None
        except (OSError, ValueError):
            files = None
    if files is None:
        return ["sizes: set --set executor.expected_files=N to see the plan for N files"]
    head = ["sizes (planner; docs/scaling.md):"]
    return head + [f"  {line}" for line in sized_plan(cfg, files).lines()]
