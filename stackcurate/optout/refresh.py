"""After a purge: what is derived from the curated output and kept beside it, made again.

- the attribution index (``index/``, ``stackcurate index build``), when the run has one: its membership
  filter is a Bloom filter, from which a document cannot be removed, so it is built again from the purged
  curated output, with the settings its ``meta.json`` records;
- ``report.html`` at the top of the run, when there is one (``stackcurate stats RUN --html``, as ``make
  demo`` writes it): rendered again by the statistics' own HTML writer, so it no longer counts purged files.
"""

from __future__ import annotations

import json
import uuid

from datatrove.io import get_datafolder

from stackcurate.attribution.index import build_index
from stackcurate.run_copy import local_run_copy
from stackcurate.stats.html import render_report_html
from stackcurate.stats.report import collect_report

REPORT = "report.html"
INDEX_META = "index/meta.json"


def refresh_after_purge(run_dir: str) -> list[str]:
    """Rebuild the attribution index and ``report.html`` of ``run_dir`` when it has them; returns what
    was made again."""
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
    if run.exists(REPORT):
        html = render_report_html(collect_report(run_dir))
        tmp = f".{REPORT}.{uuid.uuid4().hex}.tmp"
        with run.open(tmp, "w") as handle:
            handle.write(html)
        run.mv(tmp, REPORT)
        done.append(REPORT)
    return done
