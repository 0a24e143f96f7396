"""Measure ScanCode's license index as a back-up for texts stackcurate's fast path cannot account for.

Runs under a separate virtual environment that has ScanCode (never the project's own)::

    python3 -m venv /work/venv-scancode
    /work/venv-scancode/bin/pip install scancode-toolkit-mini==32.5.0 pluggy==1.0.0
    PYTHONPATH=. /work/venv-scancode/bin/python benchmarks/license_scancode.py detect --json DIR...

``detect`` answers like ``stackcurate license detect --json`` (one JSON line per folder: ``repo``,
``license``, ``license_class``, ``evidence``), so the calibration suite can grade ScanCode the same way it
grades stackcurate (``license_suite.py run --bin`` with a two-line shell wrapper around this command). Every
top-level file of a folder is scanned with ``scancode.api.get_licenses``; the folder's expression is the AND
of the files' detected SPDX expressions, classed with ``rules/licenses.yaml`` through ``LicensePolicy``.

``time FILE...`` prints ScanCode's cold start (index load) and its warm speed in files/s on one core.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path


def _scan(path: Path) -> str | None:
    from scancode.api import get_licenses

    found = get_licenses(str(path))
    return found.get("detected_license_expression_spdx") or None


def detect(folders: list[str]) -> None:
    from stackcurate.licenses.policy import and_all, load_license_policy

    policy = load_license_policy()
    for folder in folders:
        root = Path(folder)
        evidence = []
        for path in sorted(p for p in root.rglob("*") if p.is_file()):
            expression = _scan(path)
            if expression:
                evidence.append(
                    {"path": str(path.relative_to(root)), "license": expression, "engine": "scancode"}
                )
        license_expression = and_all([e["license"] for e in evidence])
        report = {
            "repo": "/".join(root.resolve().parts[-2:]),
            "license": license_expression,
            "license_class": policy.classify(license_expression),
            "evidence": evidence,
        }
        print(json.dumps(report))


def timing(files: list[str]) -> None:
    started = time.process_time()
    from licensedcode.cache import get_index

    get_index()
    loaded = time.process_time() - started
    started = time.process_time()
    for file in files:
        _scan(Path(file))
    scanned = time.process_time() - started
    print(
        f"index load {loaded:.1f} CPU-s; {len(files)} files in {scanned:.1f} CPU-s = "
        f"{len(files) / scanned:.1f} files/s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("command", choices=["license", "detect", "time"])
    parser.add_argument("rest", nargs="*")
    args, extra = parser.parse_known_args()
    rest = [a for a in [*args.rest, *extra] if not a.startswith("--")]
    if args.command == "license":  # "license detect --json --no-memo DIR...": the suite's calling form
        rest = rest[1:]
    os.environ.setdefault("SCANCODE_CACHE", str(Path.home() / ".cache" / "scancode"))
    if args.command == "time":
        timing(rest)
    else:
        detect(rest)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
