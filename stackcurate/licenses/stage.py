"""Pipeline steps: ``LicenseAnnotator`` tags every file with its license, ``LicenseFilter`` keeps permissive.

The annotator runs in the clone pass, right after the reader, where a repository's files arrive together:
it buffers whole repositories until ``batch_bytes`` of content (64 MiB by default) or ``batch_repos``
repositories are held, detects their licenses with one engine call for all unknown texts, and yields the
files tagged with ``license`` (SPDX expression), ``license_class``, ``license_evidence`` (the deciding file's
path) and ``license_choice`` (for a permissive expression with ``OR``, the permissive branch taken;
else null).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import ClassVar

import pyarrow as pa
from datatrove.data import Document, DocumentsPipeline
from datatrove.pipeline.base import PipelineStep
from datatrove.pipeline.writers.disk_base import DiskWriter

from stackcurate.errors import FatalError
from stackcurate.licenses.detect import LicenseDetector
from stackcurate.licenses.engines import (
    LicensecheckEngine,
    LicenseEngine,
    LicenseMemo,
    ScancodeEngine,
    TitleEngine,
)
from stackcurate.licenses.matcher import SpdxMatchEngine
from stackcurate.licenses.policy import NO_LICENSE, NON_PERMISSIVE, PERMISSIVE, load_license_policy
from stackcurate.rules import rules_path
from stackcurate.stage import FileFilter, content_bytes

ENGINES: dict[str, Callable[..., LicenseEngine]] = {
    "spdx-match": SpdxMatchEngine,
    "licensecheck": LicensecheckEngine,
    "scancode": ScancodeEngine,
    "titles": TitleEngine,
}
#: engines that read rules/licenses.yaml (they take ``rules_dir``)
RULES_ENGINES = ("spdx-match", "titles")
#: the SPDX-list matcher decides what it can account for; licensecheck and titles read the rest
DEFAULT_ENGINES = ("spdx-match", "licensecheck", "titles")


def default_memo_path() -> str:
    """``$XDG_CACHE_HOME/stackcurate/license-memo.sqlite`` (``~/.cache/...`` by default)."""
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return str(Path(cache) / "stackcurate" / "license-memo.sqlite")


def make_detector(
    engines: Sequence[str], memo_path: str | None, rules_dir: str | None = None
) -> LicenseDetector:
    """A detector with the named engines (first is primary; later ones read what earlier left unknown)."""
    unknown = [name for name in engines if name not in ENGINES]
    if unknown or not engines:
        raise FatalError(f"license engines must be among {sorted(ENGINES)}, got {engines}")
    built = [ENGINES[name](rules_dir) if name in RULES_ENGINES else ENGINES[name]() for name in engines]
    rules_digest = hashlib.sha256(rules_path("licenses.yaml", rules_dir).read_bytes()).hexdigest()[:16]
    return LicenseDetector(load_license_policy(rules_dir), built, LicenseMemo(memo_path), rules_digest)


class LicenseAnnotator(PipelineStep):
    """Tag files with ``license``, ``license_class`` and ``license_evidence``; see the module docstring.

    Counters: ``repos_<class>`` (by the root directory's decision), ``files_<class>``,
    ``license_engine_calls``, ``license_batches``.
    """

    name = "license detect"
    type = "🏷 - TAGGER"
    adds_columns: ClassVar[dict[str, pa.DataType]] = {
        "license": pa.string(),
        "license_class": pa.string(),
        "license_evidence": pa.string(),
        "license_choice": pa.string(),
    }

    def __init__(
        self,
        engines: Sequence[str] | None = None,
        memo_path: str | None = None,
        batch_repos: int = 32,
        rules_dir: str | None = None,
        batch_bytes: int = 64 * 2**20,
    ):
        super().__init__()
        self.engines = list(engines or DEFAULT_ENGINES)
        self.memo_path = memo_path
        self.batch_repos = batch_repos
        #: memory bound: a batch is flushed once it holds this many bytes of content. One repository is
        #: always held whole (its files' decisions depend on all its license files), so a single repository
        #: larger than this is a batch of its own.
        self.batch_bytes = batch_bytes
        self.rules_dir = rules_dir
        make_detector(self.engines, None, rules_dir)  # fail at construction if an engine is missing

    def _flush(self, detector: LicenseDetector, batch: list[list[Document]]) -> Iterator[Document]:
        calls = detector.engine_calls
        results = detector.detect_many([[(d.metadata["path"], d.text) for d in docs] for docs in batch])
        self.stat_update("license_engine_calls", value=detector.engine_calls - calls)
        for docs, repo in zip(batch, results, strict=True):
            self.stat_update(f"repos_{repo.root.license_class}")
            for doc in docs:
                self.stat_update("files_in")
                self.stat_update("bytes_in", value=content_bytes(doc))
                decision = repo.for_file(doc.metadata["path"], detector.policy)
                doc.metadata["license"] = decision.license
                doc.metadata["license_class"] = decision.license_class
                doc.metadata["license_evidence"] = decision.evidence
                doc.metadata["license_choice"] = decision.choice
                self.stat_update(f"files_{decision.license_class}")
                self.stat_update("files_out")
                self.stat_update("bytes_out", value=content_bytes(doc))
                yield doc

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        detector = make_detector(self.engines, self.memo_path, self.rules_dir)
        batch: list[list[Document]] = []
        held = 0
        current: str | None = None
        for doc in data or ():
            repo = doc.metadata["repo"]
            if repo != current:
                if batch and (len(batch) >= self.batch_repos or held >= self.batch_bytes):
                    self.stat_update("license_batches")
                    with self.track_time("batch"):
                        yield from self._flush(detector, batch)
                    batch, held = [], 0
                batch.append([])
                current = repo
            batch[-1].append(doc)
            held += content_bytes(doc)
        if batch:
            self.stat_update("license_batches")
            with self.track_time("batch"):
                yield from self._flush(detector, batch)


class LicenseFilter(FileFilter):
    """Keep files whose ``license_class`` is in ``keep`` (default: permissive only).

    Drop reasons: ``non_permissive`` and ``no_license``.
    """

    name = "license"

    def __init__(self, keep: Sequence[str] | None = None, exclusion_writer: DiskWriter | None = None):
        super().__init__(exclusion_writer)
        self.keep = frozenset(keep or [PERMISSIVE])
        invalid = self.keep - {PERMISSIVE, NO_LICENSE, NON_PERMISSIVE}
        if invalid:
            raise FatalError(f"licenses.keep: unknown classes {sorted(invalid)}")

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        license_class = doc.metadata.get("license_class") or NO_LICENSE
        if license_class in self.keep:
            return True
        return False, license_class
