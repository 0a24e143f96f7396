"""After a purge: what is derived from the curated output and kept beside it, made again.

- the attribution index (``index/``, ``stackcurate index build``), when the run has one: its membership
  filter is a Bloom filter, from which a document cannot be removed, so it is built again from the purged
  curated output, with the settings its ``meta.json`` records;
- ``report.html`` at the top of the run, when there is one (as ``make demo`` writes it), also when the
  run summary did not record it (a run made before reports were recorded): on a local run it is recorded
  now, so that ``summary.refresh_after_purge`` (which the command line calls next: the run summary and
  every HTML report ``stackcurate stats --html`` made from the run) writes it again with the others; on
  object storage it is rendered again here by the statistics' own HTML writer.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path

from datatrove.io import get_datafolder

from stackcurate.attribution.index import build_index
from stackcurate.run_copy import is_remote, local_run_copy
from stackcurate.stats.html import render_report_html
from stackcurate.stats.metadata import record_report
from stackcurate.stats.report import collect_report

REPORT = "report.html"
INDEX_META = "index/meta.json"


def refresh_after_purge(run_dir: str) -> list[str]:
    """Rebuild the attribution index of ``run_dir`` and its top ``report.html`` (see the module docstring);
    returns what was made again: ``index``, and the report's path when it was written here."""
    run = get_datafolder(run_dir)
    done = []
    if run.exists(INDEX_META):
        with run.open(INDEX_META, "r") as handle:
            settings = json.load(handle)
        with local_run_copy(run_dir, folders=["curated", "index"], write=True) as local:
            build_index(
                local,
                fp_rate=settings["fp_rate"],
                window=settings["window_tokens"],
                guard=settings.get("guard", 1),
            )
        done.append("index")
    remote_report = run.exists(REPORT) and is_remote(run_dir)
    if run.exists(REPORT) and not remote_report:
        record_report(run_dir, Path(run_dir) / REPORT)  # regenerated with the recorded ones, next
    if remote_report:
        html = render_report_html(collect_report(run_dir))
        tmp = f".{REPORT}.{uuid.uuid4().hex}.tmp"
        with run.open(tmp, "w") as handle:
            handle.write(html)
        run.mv(tmp, REPORT)
        done.append(f"{run_dir.rstrip('/')}/{REPORT}")
    return done
