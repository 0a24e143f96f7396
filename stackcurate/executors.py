"""datatrove executors with stackcurate's task handling.

Both subclasses run a task the same way (``run_task``): skip it when its completion marker exists, log to a
per-task file (console gets warnings only, so progress bars stay readable), pipe the steps, save the task's
stats JSON atomically, then write the completion marker. Processes, Ray and Slurm live here only; stages
never import ray (docs/architecture.md, "Code layout").
"""

from __future__ import annotations

import contextlib
import copy
import gc
import json
import os
import shutil
import signal
import socket
import sys
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import multiprocess
import multiprocess.connection
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
    logger.info(f"task {rank}/{executor.world_size} started (pid {os.getpid()}, nice {os.nice(0)}{where})")
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


class TasksDied(RuntimeError):
    """Some tasks of a local run ended without completing (killed by a signal, or an error): the runner
    runs them again (``executor.max_retries``)."""


# modules a forked task needs: imported once in the fork server, not again in every task process
_PRELOAD = ["stackcurate.plan", "stackcurate.executors"]


def preload_in_tasks(modules: list[str]) -> None:
    """Import ``modules`` once in the fork server, so every task process starts with them imported
    (presidio takes ~1 s to import, ``pii/presidio_preload.py``: paid once per run, not once per curate
    task). Takes effect when the fork server starts, at the first pass run with ``workers`` > 1."""
    _PRELOAD.extend(name for name in modules if name not in _PRELOAD)


@dataclass
class _Worker:
    """A worker process of ``LocalExecutor``, the driver's end of its pipe, and the rank it is on."""

    process: Any
    connection: Any
    rank: int | None = None
    stopping: bool = False  # told to stop (no task left for it)


def _busy(workers: list[_Worker]) -> int:
    return sum(worker.rank is not None for worker in workers)


def _describe_exit(code: int | None) -> str:
    if code is not None and code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit status {code}"


class LocalExecutor(LocalPipelineExecutor):
    """Runs tasks through ``run_task``, ``workers`` at a time, in worker processes that the driver supervises
    (with ``workers`` > 1; one worker runs the tasks in the driver, in turn).

    A pass starts ``workers`` processes (forks of the fork server, which has the package and the
    ``preload_in_tasks`` modules imported); each runs one task at a time, given by the driver over a pipe,
    on a fresh copy of the pass's steps, and reports it done, so a pass of many short tasks pays a process
    start per worker, not per task, and what a task loads lazily (the MinHash kernel, an encoder) is loaded
    once per worker.

    Why not datatrove's ``multiprocess`` pool: a pool worker killed by SIGKILL or the OOM killer takes its
    task's result with it and ``imap_unordered`` waits for it forever. Here the driver waits on the worker
    processes' sentinels, so a death is seen at once: the task the worker was on is recorded (a task whose
    completion marker is written is whole), a new worker takes the pending tasks, the other tasks go on, and
    once all have ended the run raises ``TasksDied`` naming the dead ones. The runner then runs the
    incomplete tasks again, at most ``executor.max_retries`` times (``docs/scaling.md``, fault tolerance).
    A task that raises ends its worker (exit status 1) the same way, so no task runs in a process that an
    error left in an unknown state."""

    pipeline: list[Any]  # datatrove's steps; a fresh copy per task

    def _run_for_rank(self, rank: int, local_rank: int = 0, node_rank: int = -1) -> PipelineStats:
        return run_task(self, rank, node_rank)

    def _worker_main(self, connection: Any, driver: int) -> None:
        """A worker process: run the ranks the driver sends (None: stop), each on a fresh copy of the
        steps, and answer each with its rank once its completion marker is written."""
        die_with(driver)  # a worker must not outlive a killed driver (its parent is the fork server)
        # what the fork server imported lives as long as the worker: its cycle collections need not walk it
        # (2.5 -> 0.3 s of the sample's run), and not touching it keeps those pages shared with the server
        gc.freeze()
        pipeline = self.pipeline
        while True:
            try:
                rank = connection.recv()
            except EOFError:  # the driver closed its end: it stopped the pass
                return
            if rank is None:
                return
            self.pipeline = copy.deepcopy(pipeline)  # steps keep per-task state (their stats)
            run_task(self, rank)
            connection.send(rank)

    def _run_in_driver(self, ranks: list[int]) -> PipelineStats:
        """One worker: the tasks in this process, in turn, each on a fresh copy of the steps."""
        pipeline = self.pipeline
        total = PipelineStats()
        try:
            for rank in ranks:
                self.pipeline = copy.deepcopy(pipeline)
                total += run_task(self, rank)
        finally:
            self.pipeline = pipeline
        with self.logging_dir.open("stats.json", "wt") as handle:
            total.save_to_disk(handle)
        return total

    def run(self) -> PipelineStats | None:
        ranks = self.get_incomplete_ranks(
            range(self.local_rank_offset, self.local_rank_offset + self.local_tasks)
        )
        if not ranks:
            return None
        self.save_executor_as_json()
        if self.workers == 1:
            return self._run_in_driver(ranks)
        context = multiprocess.get_context(self.start_method)
        if self.start_method == "forkserver":
            context.set_forkserver_preload(_PRELOAD)
        pending = deque(ranks)
        workers: list[_Worker] = []
        died: list[str] = []
        try:
            self._supervise(context, pending, workers, died)
        finally:
            for worker in workers:  # only when the driver itself raised: stop what still runs
                worker.connection.close()
                worker.process.kill()
                worker.process.join()
        stats = self._merge_stats(ranks)
        if died:
            raise TasksDied(f"{len(died)} task(s) did not complete: {', '.join(died)}")
        return stats

    def _supervise(self, context: Any, pending: deque[int], workers: list[_Worker], died: list[str]) -> None:
        """Run the ``pending`` ranks on at most ``workers`` worker processes until all have ended; the
        ranks whose worker died before their completion marker go into ``died``."""
        while workers or pending:
            while pending and len(workers) < min(self.workers, len(pending) + _busy(workers)):
                ours, theirs = context.Pipe()
                process = context.Process(target=self._worker_main, args=(theirs, os.getpid()))
                process.start()
                theirs.close()
                workers.append(_Worker(process, ours))
            for worker in workers:
                if worker.rank is None and not worker.stopping:
                    if pending:
                        worker.rank = pending.popleft()
                        with contextlib.suppress(OSError):  # it died already: its sentinel says how
                            worker.connection.send(worker.rank)
                    else:  # nothing left for it: let it go now, not when the last task ends
                        worker.stopping = True
                        with contextlib.suppress(OSError):
                            worker.connection.send(None)
            waiting = [worker.connection for worker in workers if worker.rank is not None]
            ready = multiprocess.connection.wait([*(w.process.sentinel for w in workers), *waiting])
            for worker in workers:  # results first: a worker may report its task and then end
                if worker.rank is not None and worker.connection in ready:
                    with contextlib.suppress(EOFError, OSError):  # a death: its sentinel says how
                        worker.connection.recv()
                        worker.rank = None
            for worker in [w for w in workers if w.process.sentinel in ready]:
                workers.remove(worker)
                worker.process.join()
                worker.connection.close()
                cause = _describe_exit(worker.process.exitcode)
                if worker.rank is None:
                    if not (worker.stopping and worker.process.exitcode == 0):
                        logger.warning(f"a worker process ended between tasks ({cause}); no task was lost")
                elif not self.is_rank_completed(worker.rank):
                    died.append(f"task {worker.rank} ({cause})")
                    logger.warning(f"task {worker.rank} ended without completing: {cause}")
                else:  # its marker is written: the output is whole
                    logger.warning(f"task {worker.rank} completed, then its process ended: {cause}")

    def _merge_stats(self, ranks: list[int]) -> PipelineStats:
        """The tasks' stats files summed into the pass's ``stats.json`` (as datatrove's pool does)."""
        total = PipelineStats()
        for rank in ranks:
            name = f"stats/{rank:05d}.json"
            if self.logging_dir.exists(name):
                with self.logging_dir.open(name, "r") as handle:
                    total += PipelineStats.from_json(json.load(handle))
        with self.logging_dir.open("stats.json", "wt") as handle:
            total.save_to_disk(handle)
        return total


class RayExecutor(RayPipelineExecutor):
    """``RayPipelineExecutor`` (one Ray task per datatrove task, resubmitted when its worker dies) running
    tasks through ``run_task``, which logs the node each ran on. Needs ``ray.init()`` first;
    ``stackcurate.runner`` does it."""

    def _run_for_rank(self, rank: int, local_rank: int = 0, node_rank: int = -1) -> PipelineStats:
        # the node: its host and raylet (two nodes may share a host, as in the cluster tests)
        node = f", host {socket.gethostname()}, raylet {os.environ.get('RAY_RAYLET_PID', '?')}"
        return run_task(self, rank, node_rank, node)
