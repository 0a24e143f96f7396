"""Applying the approved opt-out list: before cloning (the clone stage skips listed repositories, counted
as ``list_skipped_opted_out``) and again in the filter pass, before dedup (``OptOutFilter``,
``dropped_opted_out``), so opted-out code is neither fetched nor emitted, and never the kept copy of a
duplicate group. Both checks use the repository name of the repos list (``repo``): a repository renamed
on the forge is matched under the name the list gives, not under its new name."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from datatrove.data import Document

from stackcurate.config import PipelineConfig
from stackcurate.optout.store import OptOutStore, list_digest
from stackcurate.stage import FileFilter


@dataclass(frozen=True)
class OptOutList:
    """Approved owners and ``owner/name`` repositories (lower case) and the list's ``digest``."""

    owners: frozenset[str] = frozenset()
    repos: frozenset[str] = frozenset()
    digest: str = field(default_factory=lambda: list_digest([]))

    @classmethod
    def load(cls, folder: str | Path) -> OptOutList:
        entries = OptOutStore(folder).approved()
        return cls(
            owners=frozenset(target for kind, target in entries if kind == "owner"),
            repos=frozenset(target for kind, target in entries if kind == "repo"),
            digest=list_digest(entries),
        )

    def __len__(self) -> int:
        return len(self.owners) + len(self.repos)

    def covers(self, repo: str | None) -> bool:
        """Whether repository ``owner/name`` is opted out (by its owner or by itself)."""
        if not repo:
            return False
        name = repo.lower()
        return name in self.repos or name.split("/", 1)[0] in self.owners


def approved_list(cfg: PipelineConfig) -> OptOutList | None:
    """The approved list a pipeline applies (None when it has no ``opt_out`` stage), read from
    ``stages.opt_out.folder``."""
    if cfg.stages.opt_out is None:
        return None
    return OptOutList.load(cfg.stages.opt_out.folder)


class OptOutFilter(FileFilter):
    """Drop the files of opted-out repositories (``dropped_opted_out``). It never writes rejects: keeping
    opted-out code for inspection would defeat the opt-out."""

    name = "opt-out"

    def __init__(self, opt_out: OptOutList):
        super().__init__(None)
        self.opt_out = opt_out

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        return (False, "opted_out") if self.opt_out.covers(doc.metadata.get("repo")) else True
