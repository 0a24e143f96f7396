"""Joining a dedup pass's decisions back onto the stream of files they were made for.

A decision names its file twice: by position in its task's stream (``index``, how the passes find it
without holding content) and by identity (``id``, the blob id, with ``repo`` and ``path``, since identical
blobs share an id). The curate pass reads the same shard in the same order, so both must agree; a stream
that lost, gained or reordered a file since the decisions were written would otherwise apply one file's
decision to another and silently keep or drop the wrong code. ``DecisionJoin`` checks every join and
raises ``FatalError`` naming the pass and the file (see docs/architecture.md, "Decisions join by id").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from datatrove.data import Document

from stackcurate.errors import FatalError


def _describe(repo: Any, path: Any, file_id: Any) -> str:
    return f"{repo}:{path} (id {file_id})"


@dataclass
class DecisionJoin:
    """Decisions of one task by position, checked by identity as the stream is read.

    ``complete``: every file of the stream has a decision (exact dedup decides every file; near dedup only
    the files in clusters, the others are singletons). ``values`` of each row are what the filter uses."""

    pass_name: str
    complete: bool
    rows: dict[int, tuple[str | None, str | None, str | None, tuple[Any, ...]]] = field(default_factory=dict)
    seen: int = 0

    def add(self, row: dict[str, Any], *values: Any) -> None:
        index = int(row["index"])
        if index in self.rows:
            raise FatalError(f"{self.pass_name}: two decisions for position {index} of one task")
        self.rows[index] = (row.get("id"), row.get("repo"), row.get("path"), values)

    def next(self, doc: Document) -> tuple[Any, ...] | None:
        """The values decided for ``doc`` (the stream's next file), ``None`` when it has none."""
        index = self.seen
        self.seen += 1
        found = self.rows.get(index)
        repo, path = doc.metadata.get("repo"), doc.metadata.get("path")
        if found is None:
            if self.complete:
                raise FatalError(
                    f"{self.pass_name}: no decision for file {_describe(repo, path, doc.id)} at position "
                    f"{index}; the pass's input changed since its decisions were written: rerun the run "
                    "in a new output folder"
                )
            return None
        file_id, decided_repo, decided_path, values = found
        if (file_id, decided_repo, decided_path) != (doc.id, repo, path):
            raise FatalError(
                f"{self.pass_name}: the decision at position {index} is for "
                f"{_describe(decided_repo, decided_path, file_id)} but the stream has "
                f"{_describe(repo, path, doc.id)}; the pass's input changed since its decisions were "
                "written: rerun the run in a new output folder"
            )
        return values

    def finish(self) -> None:
        """After the stream: a decision beyond its end names a file the stream lost."""
        beyond = sorted(index for index in self.rows if index >= self.seen)
        if beyond:
            file_id, repo, path, _ = self.rows[beyond[0]]
            raise FatalError(
                f"{self.pass_name}: {len(beyond)} decisions name files missing from the stream of "
                f"{self.seen} files, first {_describe(repo, path, file_id)} at position {beyond[0]}"
            )
