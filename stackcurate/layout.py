"""Where a run keeps what (docs/architecture.md, "Passes and folders")::

<out>/run.json                 identity digest, resolved config, passes and their task counts
<out>/01_clone/*.parquet       files as cloned (one row per file)
<out>/curated/*.parquet        the pipeline's final output
<out>/rejects/<stage>/         dropped files with their reason (keep_rejects: true)
<out>/samples/<stage>/         a small sample of the dropped files per reason (``stackcurate inspect``)
<out>/failures/clone/*.jsonl   repositories that could not be cloned, with the error
<out>/logs/<pass>/             per-task logs, stats/<rank>.json, completions/<rank>, progress/
<out>/stats/summary.json       merged per-stage counts (``stackcurate stats``)
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from datatrove.io import get_datafolder

from stackcurate.errors import FatalError


@dataclass(frozen=True)
class RunLayout:
    """Paths (strings, so that fsspec URLs work as well as local paths) inside one run directory."""

    out: str

    def join(self, *parts: str) -> str:
        return "/".join([self.out.rstrip("/"), *parts])

    @property
    def run_json(self) -> str:
        return self.join("run.json")

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


def read_manifest(layout: RunLayout) -> dict[str, Any] | None:
    """The run's ``run.json``, or None when the directory holds no run yet."""
    folder = get_datafolder(layout.out)
    if not folder.exists("run.json"):
        return None
    with folder.open("run.json", "r") as handle:
        try:
            data = json.load(handle)
        except json.JSONDecodeError as error:
            raise FatalError(f"{layout.run_json} is corrupt ({error}); remove the run directory") from None
    return data if isinstance(data, dict) else None
