"""Where a run keeps what (docs/architecture.md, "Passes and folders")::

<out>/run.json                 the run's ledger (``manifest.RunManifest``)
<out>/01_clone/*.parquet       files as cloned (one row per file)
<out>/curated/*.parquet        the pipeline's final output
<out>/rejects/<stage>/         dropped files with their reason (keep_rejects: true)
<out>/samples/<stage>/         a small sample of the dropped files per reason (``stackcurate inspect``)
<out>/failures/clone/*.jsonl   repositories that could not be cloned, with the error
<out>/logs/<pass>/             per-task logs, stats/<rank>.json, completions/<rank>, progress/
<out>/stats/summary.json       merged per-stage counts (``stackcurate stats``)
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RunLayout:
    """Paths (strings, so that fsspec URLs work as well as local paths) inside one run directory."""

    out: str

    def join(self, *parts: str) -> str:
        return "/".join([self.out.rstrip("/"), *parts])

    @property
    def curated(self) -> str:
        return self.join("curated")

    def stage(self, folder: str) -> str:
        return self.join(folder)

    def logs(self, pass_name: str) -> str:
        return self.join("logs", pass_name)

    def rejects(self, stage: str) -> str:
        return self.join("rejects", stage)

    def samples(self, stage: str) -> str:
        return self.join("samples", stage)

    def failures(self, pass_name: str) -> str:
        return self.join("failures", pass_name)

    @property
    def stats_dir(self) -> str:
        return self.join("stats")
