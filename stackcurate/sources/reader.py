"""``GitRepoReader``: the clone stage. Repos list in, one document per kept file out."""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pyarrow as pa
from datatrove.data import Document, DocumentsPipeline
from datatrove.io import DataFolderLike, get_datafolder
from datatrove.pipeline.base import PipelineStep
from loguru import logger

from stackcurate.errors import ItemError
from stackcurate.lifecycle import make_scratch, remove_stale_scratch
from stackcurate.optout.apply import OptOutList
from stackcurate.rules import load_file_rules, load_language_map
from stackcurate.sources.crashes import CrashLedger
from stackcurate.sources.git_clone import clone_with_retries, head_commit
from stackcurate.sources.names import printable
from stackcurate.sources.repos_list import RepoEntry, load_repos_list
from stackcurate.sources.walk import RepoLimits, Skipped, TooBig, check_limits, walk_repository
from stackcurate.stage import ProgressReporter


class GitRepoReader(PipelineStep):
    """Clone the repositories of a repos list (task ``rank`` takes ``entries[rank::world_size]``) and yield
    one ``Document`` per file that passes the walk checks (see ``stackcurate.sources.walk``).

    Counters: ``repos_in``, ``repos_ok``, ``repos_failed_<reason>`` (clone failures, after retries;
    ``error`` for any unexpected error while on one repository, which never stops the task),
    ``repos_skipped_<reason>`` (over a per-repository limit, ``limits`` and ``max_repo_seconds``:
    ``too_many_files``, ``too_many_bytes``, ``too_slow``; checked before any of its files goes out),
    ``list_skipped_<reason>`` (bad lines of the list and, with ``opt_out``, opted-out repositories, which
    are never cloned; counted by task 0 only), ``files_in``/``bytes_in``
    (every tree entry; bytes as git records them), ``skipped_<reason>``, ``files_out``, ``bytes_out``.
    Failed repositories are also written to ``failures_folder/<rank>.jsonl`` with their error message.

    Repositories that kill their task: before each repository the task records which one it is on in
    ``failures_folder/in_progress/<rank>.json`` (removed when the task's repositories are done); the driver
    counts a death there only when the task died while the run went on (``stackcurate.sources.crashes``).
    A repository with ``crash_limit`` such deaths is skipped and recorded as failed
    (``repos_failed_crashed``), so one poisonous repository cannot stop a run, while a run killed as a
    whole resumes on the repository it was on.
    """

    name = "clone"
    type = "📖 - READER"
    adds_columns: ClassVar[dict[str, pa.DataType]] = {}

    def __init__(
        self,
        repos_list: str,
        depth: int = 1,
        max_file_bytes: int = 1_000_000,
        timeout_s: float = 600.0,
        retries: int = 2,
        work_dir: str | None = None,
        rules_dir: str | None = None,
        failures_folder: DataFolderLike | None = None,
        progress_folder: DataFolderLike | None = None,
        opt_out: OptOutList | None = None,
        crash_limit: int = 2,
        limits: RepoLimits | None = None,
        max_repo_seconds: float = 1800.0,
        local_objects: str = "reference",
    ):
        super().__init__()
        self.repos_list = repos_list
        self.depth = depth
        self.max_file_bytes = max_file_bytes
        self.timeout_s = timeout_s
        self.retries = retries
        self.work_dir = work_dir
        self.rules_dir = rules_dir
        self.failures_folder = get_datafolder(failures_folder) if failures_folder is not None else None
        self.progress_folder = get_datafolder(progress_folder) if progress_folder is not None else None
        self.opt_out = opt_out
        self.crash_limit = crash_limit
        self.limits = limits or RepoLimits()
        self.max_repo_seconds = max_repo_seconds
        self.local_objects = local_objects

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        if data:
            yield from data
        entries, problems = load_repos_list(self.repos_list)
        if rank == 0:
            for problem in problems:
                self.stat_update(f"list_skipped_{problem.reason}")
                logger.warning(f"repos list {self.repos_list}: {problem.message}")
        if self.opt_out is not None and len(self.opt_out):
            kept = [entry for entry in entries if not self.opt_out.covers(entry.name)]
            if rank == 0 and len(kept) < len(entries):
                self.stat_update("list_skipped_opted_out", value=len(entries) - len(kept))
            entries = kept
        mine = entries[rank::world_size]
        progress = (
            ProgressReporter(self.progress_folder, rank, len(mine), "repos", tasks=world_size)
            if self.progress_folder
            else None
        )
        failures: list[dict[str, object]] = []
        if self.work_dir:
            Path(self.work_dir).mkdir(parents=True, exist_ok=True)
        # folders left on this machine by killed tasks (a Ray node may never run a driver to clean them)
        remove_stale_scratch([None, self.work_dir])
        ledger = CrashLedger(self.failures_folder) if self.failures_folder is not None else None
        died_on = ledger.read(rank) if ledger is not None else None
        if died_on is not None:
            logger.warning(
                f"task {rank}: an earlier attempt stopped on {died_on.get('repo')} "
                f"({died_on.get('deaths', 0)} confirmed task death(s) there)"
            )
        for index, entry in enumerate(mine):
            self.stat_update("repos_in")
            try:
                deaths = ledger.deaths_on(died_on, index, entry.name) if ledger is not None else 0
                if deaths >= self.crash_limit:
                    raise ItemError(
                        "crashed",
                        f"{entry.name}: its task died {deaths} times while on this repository; skipped",
                    )
                if ledger is not None:
                    ledger.enter(rank, index, entry.name, deaths)
                yield from self._read_repository(entry)
                self.stat_update("repos_ok")
            except TooBig as error:
                self.stat_update(f"repos_skipped_{error.reason}")
                failures.append(self._failure(entry, error.reason, f"{entry.name}: {error}"))
            except ItemError as error:
                self.stat_update(f"repos_failed_{error.reason}")
                failures.append(self._failure(entry, error.reason, str(error)))
            except Exception as error:  # anything else is this repository's problem, not the run's
                self.stat_update("repos_failed_error")
                message = f"{entry.name}: {type(error).__name__}: {error}"
                failures.append(self._failure(entry, "error", message))
            if progress:
                progress.advance()
        self._write_failures(rank, failures)
        if ledger is not None:
            ledger.clear(rank)

    @staticmethod
    def _failure(entry: RepoEntry, reason: str, message: str) -> dict[str, object]:
        logger.warning(printable(message))
        return {
            "repo": entry.name,
            "url": entry.location.url,
            "reason": reason,
            "error": message,
            "line": entry.line,
        }

    def _read_repository(self, entry: RepoEntry) -> Iterator[Document]:
        languages = load_language_map(self.rules_dir)
        rules = load_file_rules(self.rules_dir)
        scratch = make_scratch("clone", self.work_dir)
        try:
            deadline = time.monotonic() + self.max_repo_seconds
            with self.track_time("repo"):
                repo = clone_with_retries(
                    entry.location,
                    scratch / "repo",
                    self.depth,
                    self.timeout_s,
                    self.retries,
                    deadline=deadline,
                    local_objects=self.local_objects,
                )
            try:
                if time.monotonic() > deadline:
                    raise TooBig("too_slow", "cloning took longer than stages.clone.max_repo_seconds")
                # the whole tree is checked before the first file goes out: a repository is kept whole or not
                check_limits(repo, self.limits, deadline)
                commit = head_commit(repo)
                for item in walk_repository(repo, languages, rules, self.max_file_bytes):
                    self.stat_update("files_in")
                    self.stat_update("bytes_in", value=item.size_bytes)
                    if isinstance(item, Skipped):
                        self.stat_update(f"skipped_{item.reason}")
                        continue
                    self.stat_update("files_out")
                    self.stat_update("bytes_out", value=item.size_bytes)
                    if item.encoding != "utf-8":
                        self.stat_update("files_legacy_encoding")
                    yield Document(
                        text=item.content,
                        id=item.sha,
                        metadata={
                            "repo": entry.name,
                            "repo_url": entry.location.url,
                            "commit": commit,
                            "path": item.path,
                            "language": item.language,
                            "extension": item.extension,
                            "size_bytes": item.size_bytes,
                            "stars": entry.stars,
                            "forks": entry.forks,
                        },
                    )
            finally:
                repo.close()
        finally:
            shutil.rmtree(scratch, ignore_errors=True)

    def _write_failures(self, rank: int, failures: list[dict[str, object]]) -> None:
        if self.failures_folder is None:
            return
        name = f"{rank:05d}.jsonl"
        if not failures:
            if self.failures_folder.exists(name):
                self.failures_folder.rm(name)
            return
        with self.failures_folder.open(name + ".tmp", "w") as handle:
            for failure in failures:
                handle.write(json.dumps(failure) + "\n")
        self.failures_folder.mv(name + ".tmp", name)
