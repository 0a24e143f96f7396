"""datatrove executors with stackcurate's task handling.

Both subclasses run a task the same way (``run_task``): skip it when its completion marker exists, log to a
per-task file (console gets warnings only, so progress bars stay readable), pipe the steps, save the task's
stats JSON atomically, then write the completion marker. Processes, Ray and Slurm live here only; stages
never import ray (docs/architecture.md, "Code layout").
"""

from __future__ import annotations

import os
import shutil
import socket
import sys
from collections import deque
from collections.abc import Sequence
from typing import Any

from datatrove.executor.local import LocalPipelineExecutor
from datatrove.executor.ray import RayPipelineExecutor
from datatrove.io import get_datafolder
from datatrove.utils.stats import PipelineStats
from loguru import logger

from stackcurate.lifecycle import die_with, make_scratch

LOG_FORMAT = "{time:YYYY-MM-DD HH:mm:ss.SSS} | {level: <8} | {name}:{function}:{line} - {message}"


def run_task(executor: Any, rank: int, node_rank: int = -1, where: str = "") -> PipelineStats:
    """Run one task of ``executor``'s pipeline; see the module docstring. ``where``: the machine, logged."""
    if executor.is_rank_completed(rank):
        logger.info(f"task {rank} already completed, skipping")
        return PipelineStats()
    executor._set_distributed_environment(node_rank)
    scratch = make_scratch("log")
    local_logs = get_datafolder(str(scratch))
    logfile = local_logs.open(f"task_{rank:05d}.log", "w")
    logger.remove()
    logger.add(logfile, level="DEBUG", format=LOG_FORMAT, colorize=False)
    logger.add(sys.stderr, level="WARNING", format=f"task {rank} | {{level}} | {{message}}", colorize=False)
    logger.info(f"task {rank}/{executor.world_size} started (pid {os.getpid()}{where})")
    try:
        data = None
        for step in executor.pipeline:
            if callable(step):
                data = step(data, rank, executor.world_size)
            elif isinstance(step, Sequence) and not isinstance(step, str):
                data = step
            else:
                raise TypeError(f"pipeline step {step!r} is neither callable nor a sequence")
        if data is not None:
            deque(data, maxlen=0)
        stats = PipelineStats(executor.pipeline)
        if node_rank <= 0:
            name = f"stats/{rank:05d}.json"
            with executor.logging_dir.open(name + ".tmp", "w") as handle:
                stats.save_to_disk(handle)
            executor.logging_dir.mv(name + ".tmp", name)
            executor.mark_rank_as_completed(rank)
        logger.info(f"task {rank} completed")
        return stats
    except Exception as error:
        logger.exception(error)
        raise
    finally:
        logger.complete()
        logger.remove()
        logger.add(sys.stderr, level="WARNING", colorize=False)
        logfile.close()
        with (
            local_logs.open(f"task_{rank:05d}.log", "r") as src,
            executor.logging_dir.open(f"logs/task_{rank:05d}.log", "w") as dst,
        ):
            dst.write(src.read())
        shutil.rmtree(scratch, ignore_errors=True)


class LocalExecutor(LocalPipelineExecutor):
    """``LocalPipelineExecutor`` (a process pool of ``workers``) running tasks through ``run_task``."""

    def _run_for_rank(self, rank: int, local_rank: int = 0, node_rank: int = -1) -> PipelineStats:
        driver = getattr(self, "_driver_pid", os.getpid())
        if os.getpid() != driver:  # a pool worker: it must not outlive a killed driver
            die_with(driver)
        return run_task(self, rank, node_rank)

    def run(self) -> Any:
        self._driver_pid = os.getpid()
        return super().run()


class RayExecutor(RayPipelineExecutor):
    """``RayPipelineExecutor`` (one Ray task per datatrove task, resubmitted when its worker dies) running
    tasks through ``run_task``, which logs the node each ran on. Needs ``ray.init()`` first;
    ``stackcurate.runner`` does it."""

    def _run_for_rank(self, rank: int, local_rank: int = 0, node_rank: int = -1) -> PipelineStats:
        # the node: its host and raylet (two nodes may share a host, as in the cluster tests)
        node = f", host {socket.gethostname()}, raylet {os.environ.get('RAY_RAYLET_PID', '?')}"
        return run_task(self, rank, node_rank, node)
