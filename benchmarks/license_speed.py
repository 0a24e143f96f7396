"""License detection speed on one core, cold and warm, in files per second (folders of license evidence).

    python benchmarks/license_speed.py [--corpus DIR] [--limit N] [--engine spdx-match ...]

``--corpus`` is a folder whose sub-folders (two levels down, as the calibration suite lays out
``corpus/<collection>/<case>``; or one level down) each hold one case's files; by default the calibration
suite's corpus at ``../shared/peer/licenses/corpus``. Every case is one folder as
``stackcurate license detect`` reads it (``repository_files``).

- **cold**: a fresh process pinned to one core (``taskset -c 0`` when available) with an empty memo: imports,
  the state load (the SPDX index and name table, licensecheck's start), then every case in one batch --
  what a clone task pays the first time it meets these texts. Reported on CPU seconds of the process and its
  children (licensecheck), and wall seconds.
- **warm**: the same process again over the same cases with the memo filled: what a later task, or a later
  run, pays for texts it has seen (one digest lookup per text, decisions recomputed).

The files are read before the clock starts (disk and git are the clone pass's own cost).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DEFAULT_CORPUS = Path(__file__).resolve().parents[2] / "shared" / "peer" / "licenses" / "corpus"

_CHILD = r"""
import json, resource, sys, time
started = time.perf_counter()
from stackcurate.licenses.cli import repository_files
from stackcurate.licenses.stage import make_detector
from pathlib import Path
args = json.loads(sys.argv[1])
repos = [repository_files(Path(f)) for f in args["folders"]]
def cpu():
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime
read = time.perf_counter() - started
cpu0, wall0 = cpu(), time.perf_counter()
detector = make_detector(args["engines"], args["memo"])
loaded = time.perf_counter() - wall0
detector.detect_many(repos)
cold_cpu, cold_wall = cpu() - cpu0, time.perf_counter() - wall0
cpu1, wall1 = cpu(), time.perf_counter()
make_detector(args["engines"], args["memo"]).detect_many(repos)
warm_cpu, warm_wall = cpu() - cpu1, time.perf_counter() - wall1
print(json.dumps({"files": len(repos), "import_and_read_s": read, "state_load_s": loaded,
                  "cold_cpu_s": cold_cpu, "cold_wall_s": cold_wall,
                  "warm_cpu_s": warm_cpu, "warm_wall_s": warm_wall}))
"""


def case_folders(corpus: Path) -> list[Path]:
    """The case folders of ``corpus``: sub-folders holding files, one or two levels down."""
    folders = []
    for first in sorted(p for p in corpus.iterdir() if p.is_dir()):
        inner = sorted(p for p in first.iterdir() if p.is_dir())
        if inner and not any(p.is_file() for p in first.iterdir()):
            folders.extend(inner)
        else:
            folders.append(first)
    return folders


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--limit", type=int, default=0, help="the first N cases only (0: all)")
    parser.add_argument(
        "--engine", action="append", choices=["spdx-match", "licensecheck", "titles", "scancode"]
    )
    args = parser.parse_args()
    if not args.corpus.is_dir():
        sys.exit(f"no corpus at {args.corpus} (give --corpus DIR)")
    from stackcurate.licenses.stage import DEFAULT_ENGINES

    folders = case_folders(args.corpus)[: args.limit or None]
    with tempfile.TemporaryDirectory(prefix="license-speed-") as tmp:
        payload = {
            "folders": [str(f) for f in folders],
            "engines": args.engine or list(DEFAULT_ENGINES),
            "memo": str(Path(tmp) / "memo.sqlite"),
        }
        command = [sys.executable, "-c", _CHILD, json.dumps(payload)]
        if shutil.which("taskset"):
            command = ["taskset", "-c", "0", *command]
        env = {**os.environ, "XDG_CACHE_HOME": tmp}
        started = time.perf_counter()
        out = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
        if out.returncode != 0:
            sys.exit(out.stderr[-2000:])
        whole = time.perf_counter() - started
        child = resource.getrusage(resource.RUSAGE_CHILDREN)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    n = result["files"]
    load = os.getloadavg()
    print(
        f"{n} cases from {args.corpus} (engines {'+'.join(payload['engines'])}), one core; load average "
        f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"
    )
    print(f"  process start, imports, reading the files: {result['import_and_read_s']:.2f} s wall")
    print(f"  state load (SPDX index, names, engines):    {result['state_load_s']:.2f} s wall")
    print(
        f"  cold: {result['cold_cpu_s']:7.2f} CPU-s ({n / result['cold_cpu_s']:6.1f} files/s), "
        f"{result['cold_wall_s']:7.2f} s wall ({n / result['cold_wall_s']:6.1f} files/s), state load included"
    )
    print(
        f"  warm: {result['warm_cpu_s']:7.2f} CPU-s ({n / result['warm_cpu_s']:6.1f} files/s), "
        f"{result['warm_wall_s']:7.2f} s wall ({n / result['warm_wall_s']:6.1f} files/s)"
    )
    print(f"  whole child process: {whole:.2f} s wall, {child.ru_utime + child.ru_stime:.2f} CPU-s")


if __name__ == "__main__":
    main()
