"""What a pass is before and after it is planned (``PassSpec``, ``Pass``), and the two sizes every builder
of ``plan/`` shares: the schema a pass writes and the task count of a pass that reads a folder."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import pyarrow as pa
from datatrove.pipeline.base import PipelineStep

from stackcurate.config import PipelineConfig
from stackcurate.layout import RunLayout
from stackcurate.parquet_io import list_parquet_files
from stackcurate.schema import file_schema


@dataclass
class Pass:
    """One executor run: its name, output folder, number of tasks, steps and progress unit."""

    name: str
    output: str
    tasks: int
    steps: list[PipelineStep] = field(repr=False)
    unit: str
    work_total: int


@dataclass(frozen=True)
class PassSpec:
    """A pass before it is built (its input may not exist yet): name, output folder, how to build it."""

    name: str
    folder: str
    describe: str
    build: Callable[[PipelineConfig, RunLayout, int | None], Pass]
    #: a pass of rounds: once it is done, the passes that follow it (the next round, or what comes after)
    after: Callable[[PipelineConfig, RunLayout], list[PassSpec]] | None = None


def schema_for(steps: list[PipelineStep]) -> pa.Schema:
    """The file schema plus the tag columns ``steps`` add (``adds_columns``), in step order."""
    extra: dict[str, pa.DataType] = {}
    for step in steps:
        extra.update(getattr(step, "adds_columns", {}))
    return file_schema(extra)


def task_count(cfg: PipelineConfig, source: str, tasks: int | None) -> tuple[int, int]:
    """``(tasks, files)`` of a pass reading folder ``source``: the recorded count when resuming, else
    ``min(executor.tasks, files)`` (at least 1)."""
    files = len(list_parquet_files(source))
    return (tasks if tasks is not None else max(1, min(cfg.executor.tasks, files))), files
