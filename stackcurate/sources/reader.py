"""``GitRepoReader``: the clone stage. Repos list in, one document per kept file out."""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pyarrow as pa
from datatrove.data import Document, DocumentsPipeline
from datatrove.io import DataFolderLike, get_datafolder
from datatrove.pipeline.base import PipelineStep
from loguru import logger

from stackcurate.errors import ItemError
from stackcurate.optout.apply import OptOutList
from stackcurate.rules import load_file_rules, load_language_map
from stackcurate.sources.git_clone import clone_with_retries
from stackcurate.sources.repos_list import RepoEntry, load_repos_list
from stackcurate.sources.walk import Skipped, walk_repository
from stackcurate.stage import ProgressReporter


class GitRepoReader(PipelineStep):
    """Clone the repositories of a repos list (task ``rank`` takes ``entries[rank::world_size]``) and yield
    one ``Document`` per file that passes the walk checks (see ``stackcurate.sources.walk``).

    Counters: ``repos_in``, ``repos_ok``, ``repos_failed_<reason>`` (clone failures, after retries),
    ``list_skipped_<reason>`` (bad lines of the list and, with ``opt_out``, opted-out repositories, which
    are never cloned; counted by task 0 only), ``files_in``/``bytes_in``
    (every tree entry; bytes as git records them), ``skipped_<reason>``, ``files_out``, ``bytes_out``.
    Failed repositories are also written to ``failures_folder/<rank>.jsonl`` with their error message.

    Repositories that kill their task: before each repository the task records which one it is on, and
    how many times it has been started, in ``failures_folder/in_progress/<rank>.json`` (removed when the
    task's repositories are done). A task that died (killed, out of memory, an unexpected error) is run
    again by the executor (``executor.max_retries``) or by a rerun of the command; when it comes back to
    the repository it died on and that repository has already been started ``crash_limit`` times, the
    repository is skipped and recorded as failed (``repos_failed_crashed``), so one poisonous repository
    cannot stop a run.
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
        died_on = self._read_in_progress(rank)
        for index, entry in enumerate(mine):
            self.stat_update("repos_in")
            starts = 1
            if died_on is not None and died_on.get("index") == index and died_on.get("repo") == entry.name:
                starts = int(died_on.get("starts", 0)) + 1
            try:
                if starts > self.crash_limit:
                    raise ItemError(
                        "crashed",
                        f"{entry.name}: its task died {starts - 1} times while on this repository; skipped",
                    )
                self._write_in_progress(rank, {"index": index, "repo": entry.name, "starts": starts})
                yield from self._read_repository(entry)
                self.stat_update("repos_ok")
            except ItemError as error:
                self.stat_update(f"repos_failed_{error.reason}")
                logger.warning(str(error))
                failures.append(
                    {
                        "repo": entry.name,
                        "url": entry.location.url,
                        "reason": error.reason,
                        "error": str(error),
                        "line": entry.line,
                    }
                )
            if progress:
                progress.advance()
        self._write_failures(rank, failures)
        if self.failures_folder is not None and self.failures_folder.exists(f"in_progress/{rank:05d}.json"):
            self.failures_folder.rm(f"in_progress/{rank:05d}.json")

    def _read_in_progress(self, rank: int) -> dict[str, Any] | None:
        """The repository an earlier attempt of this task was on when it died, if it did."""
        name = f"in_progress/{rank:05d}.json"
        if self.failures_folder is None or not self.failures_folder.exists(name):
            return None
        try:
            with self.failures_folder.open(name, "r") as handle:
                data = json.load(handle)
        except (OSError, ValueError):
            return None  # unreadable: count from zero again
        if isinstance(data, dict):
            logger.warning(
                f"task {rank}: an earlier attempt died on {data.get('repo')} (started {data.get('starts')}x)"
            )
            return data
        return None

    def _write_in_progress(self, rank: int, data: dict[str, object]) -> None:
        if self.failures_folder is None:
            return
        # written in place, one small write per repository (a single PUT on object storage); a copy torn by
        # a kill mid-write reads as unreadable, which counts from zero again
        with self.failures_folder.open(f"in_progress/{rank:05d}.json", "w") as handle:
            json.dump(data, handle)

    def _read_repository(self, entry: RepoEntry) -> Iterator[Document]:
        languages = load_language_map(self.rules_dir)
        rules = load_file_rules(self.rules_dir)
        scratch = Path(tempfile.mkdtemp(prefix="stackcurate-clone-", dir=self.work_dir))
        try:
            with self.track_time("repo"):
                repo = clone_with_retries(
                    entry.location, scratch / "repo", self.depth, self.timeout_s, self.retries
                )
            try:
                commit = repo.head.commit.hexsha
                for item in walk_repository(repo, languages, rules, self.max_file_bytes):
                    self.stat_update("files_in")
                    self.stat_update("bytes_in", value=item.size_bytes)
                    if isinstance(item, Skipped):
                        self.stat_update(f"skipped_{item.reason}")
                        continue
                    self.stat_update("files_out")
                    self.stat_update("bytes_out", value=item.size_bytes)
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
