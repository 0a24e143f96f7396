"""Which repository each clone task is on, and how many times a task died there while the run went on.

A repository that kills its task (out of memory, a git that never returns) must not stop a run: after
``crash_limit`` deaths on it, it is skipped and recorded. But a task also stops when the whole run is killed
(its driver killed with SIGKILL, the machine rebooted); that says nothing about the repository, and counting
it would silently drop a large repository from a run interrupted twice while on it.

So the two sides of a death each do what only they can:

- the **task** writes ``in_progress/<rank>.json`` before each repository: ``{"index", "repo", "deaths",
  "visit"}`` where ``visit`` is new on every write, and ``deaths`` is the confirmed count carried over
  when it is the same repository (same position in the task's share) as the last marker;
- the **driver**, and only after an attempt in which it stayed alive and saw the task not complete,
  confirms a death: a marker written during that attempt (its ``visit`` differs from the one seen before
  the attempt) gets ``deaths + 1`` (``confirm_deaths``). A driver killed with its tasks confirms nothing.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable
from typing import Any

from datatrove.io import DataFolderLike, get_datafolder


class CrashLedger:
    """The ``in_progress`` markers of a pass's failures folder (``<out>/failures/clone``)."""

    def __init__(self, folder: DataFolderLike):
        self.folder = get_datafolder(folder)

    @staticmethod
    def _name(rank: int) -> str:
        return f"in_progress/{rank:05d}.json"

    def _raw(self, rank: int) -> str | None:
        try:
            if not self.folder.exists(self._name(rank)):
                return None
            with self.folder.open(self._name(rank), "r") as handle:
                text: str = handle.read()
        except OSError:
            return None
        return text

    def read(self, rank: int) -> dict[str, Any] | None:
        """The marker of task ``rank``; None when there is none or it is unreadable (torn by a kill)."""
        raw = self._raw(rank)
        if raw is None:
            return None
        try:
            data = json.loads(raw)
        except ValueError:
            return None
        if not isinstance(data, dict) or not isinstance(data.get("deaths", 0), int):
            return None
        return data

    def deaths_on(self, marker: dict[str, Any] | None, index: int, repo: str) -> int:
        """Confirmed deaths on the repository at ``index`` of the task's share (from its last marker)."""
        if marker is None or marker.get("index") != index or marker.get("repo") != repo:
            return 0
        return int(marker.get("deaths", 0))

    def enter(self, rank: int, index: int, repo: str, deaths: int) -> None:
        """Note that task ``rank`` starts on ``repo`` (one small write: a single PUT on object storage)."""
        marker = {"index": index, "repo": repo, "deaths": deaths, "visit": uuid.uuid4().hex}
        with self.folder.open(self._name(rank), "w") as handle:
            json.dump(marker, handle)

    def clear(self, rank: int) -> None:
        """Task ``rank`` went through its whole share."""
        if self.folder.exists(self._name(rank)):
            self.folder.rm(self._name(rank))

    def snapshot(self, ranks: Iterable[int]) -> dict[int, str | None]:
        """The markers as they are before an attempt (the driver calls this)."""
        if not self.folder.isdir("in_progress"):
            return {}
        present = set(self.folder.list_files("in_progress"))
        return {rank: self._raw(rank) for rank in ranks if self._name(rank) in present}

    def confirm_deaths(self, missing: Iterable[int], before: dict[int, str | None]) -> list[dict[str, Any]]:
        """Count one death for each task of ``missing`` (did not complete although the driver went on) whose
        marker was written during the attempt; return the updated markers."""
        confirmed = []
        for rank in missing:
            raw = self._raw(rank)
            marker = self.read(rank)
            if raw is None or marker is None or raw == before.get(rank):
                continue  # the task died before its first repository, or the marker is torn
            marker["deaths"] = int(marker.get("deaths", 0)) + 1
            marker["visit"] = "confirmed"
            with self.folder.open(self._name(rank), "w") as handle:
                json.dump(marker, handle)
            confirmed.append({"rank": rank, **marker})
        return confirmed
