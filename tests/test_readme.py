"""Every command README.md shows is run here, so the README never rots.

Commands are the lines of ```bash blocks that start with ``stackcurate``, ``python benchmarks/``,
``python examples/`` or ``make``. They run in order in a scratch directory (with the project's
``pipelines/``, ``benchmarks/`` and ``examples/`` linked in); a line using the Ray executor runs inside a
private network namespace. Then every ```python block runs there. ``make`` lines are checked with
``make -n``: ``make demo`` must run exactly the README's quickstart commands.

The commands run on a small sample of the installed distributions (``CI_ARGS``: ten of them, about 4 MB),
so that ``make test`` fits CI's time: the README's own sample is every installed distribution (about 1 GB in
230 repositories, 20 minutes of the pipeline on two cores), which ``make demo`` runs, as do the benchmarks
by default. After the README's Ray command, its run is compared with the local one file by file.

The benchmark commands (``python benchmarks/...``) read only the sample and their own temporary folders, and
no other command reads what they write: once the last ``sample-repos`` command has made the sample, they run
one after another, in the README's order, beside the other commands (a second core does them while the
pipeline commands run), and each must exit 0 as well.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from conftest import task_niceness
from netns import NETNS_AVAILABLE, run_in_netns

from stackcurate.parquet_io import list_parquet_files

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


#: Distributions of the CI sample: the three the README names (pyyaml, gitpython, rich), gitpython's own
#: dependencies, and a few more for other languages, licenses and PII (about 4 MB of files).
CI_SAMPLE = [
    "pyyaml",
    "gitpython",
    "gitdb",
    "smmap",
    "rich",
    "markupsafe",
    "jinja2",
    "certifi",
    "idna",
    "six",
]
#: Arguments added to a README command when this test runs it; every key must be a README command.
CI_ARGS = {
    "stackcurate sample-repos runs/sample": [arg for name in CI_SAMPLE for arg in ("--include", name)],
    # a slice of the SPDX list: tests/licenses/test_matcher.py decides the whole list and checks its figures
    "python benchmarks/license_spdx.py": ["--limit", "60"],
    # the benchmarks' smallest corpora: each still runs every part (make bench and `--quick` alone: larger)
    "python benchmarks/dedup.py --quick": ["--scales", "1", "--datasketch-files", "50"],
    "python benchmarks/shards.py --quick": ["--files", "100"],
}


def readme_commands() -> list[str]:
    commands: list[str] = []
    for block in re.findall(r"```bash\n(.*?)```", README, flags=re.DOTALL):
        for line in block.splitlines():
            command = line.split("  #", 1)[0].strip()
            if command.startswith(("stackcurate ", "python benchmarks/", "python examples/", "make ")):
                commands.append(command)
    return commands


def test_readme_shows_the_two_commands_and_the_quickstart() -> None:
    commands = readme_commands()
    assert "make demo" in commands and "make test" in commands
    assert "stackcurate run pipelines/quickstart.yaml" in commands
    ci = (ROOT / ".ci" / "run").read_text()
    assert re.search(r"^make test$", ci, flags=re.MULTILINE), ".ci/run must run the README's test command"


def test_the_ci_sample_changes_only_readme_commands() -> None:
    assert set(CI_ARGS) <= set(readme_commands())


def assert_same_output(local: Path, ray: Path) -> None:
    """The Ray executor's run equals the local executor's, file by file (the README runs both, the same
    pipeline and input; nothing changes the local run before the Ray command)."""
    for folder in ("01_clone", "curated"):
        names = list_parquet_files(str(local / folder))
        assert names == list_parquet_files(str(ray / folder)) == [f"{rank:05d}.parquet" for rank in range(4)]
        for name in names:
            assert pq.read_table(local / folder / name).equals(pq.read_table(ray / folder / name)), name


def test_make_demo_runs_the_readme_quickstart() -> None:
    dry = subprocess.run(["make", "-n", "demo"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    demo = [
        line.split("/bin/", 1)[1]
        for line in dry.splitlines()
        if "/bin/stackcurate " in line and not line.startswith("echo")
    ]
    quickstart = [c for c in readme_commands() if c.startswith("stackcurate ")][: len(demo)]
    assert demo == quickstart
    # the full pipeline through the shards, then the report; it says where the shards and report are
    assert "stackcurate run pipelines/starcoder.yaml" in demo and any("--html" in c for c in demo)
    assert "runs/starcoder/shards" in dry and "runs/starcoder/report.html" in dry and "serve" in dry


@pytest.mark.slow
@pytest.mark.timeout(1500)
def test_every_readme_command_runs(tmp_path: Path) -> None:
    (tmp_path / "pipelines").symlink_to(ROOT / "pipelines")
    (tmp_path / "benchmarks").symlink_to(ROOT / "benchmarks")
    (tmp_path / "examples").symlink_to(ROOT / "examples")
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}

    def run(argv: list[str]) -> subprocess.CompletedProcess[str]:
        return subprocess.run(argv, cwd=tmp_path, capture_output=True, text=True, timeout=600, env=env)

    def check(command: str, result: subprocess.CompletedProcess[str]) -> None:
        assert result.returncode == 0, f"{command}\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"

    def argv_of(command: str) -> list[str]:
        argv = [*shlex.split(command), *CI_ARGS.get(command, [])]
        if argv[0] == "stackcurate":
            return [sys.executable, "-m", "stackcurate.cli", *argv[1:]]
        return [sys.executable, *argv[1:]] if argv[0] == "python" else argv

    commands = readme_commands()
    # the benchmarks read the sample: every command that (re)makes it comes before the first of them, and
    # they all start (one after another, in the README's order) once the last of those has run
    first = min(i for i, c in enumerate(commands) if c.startswith("python benchmarks/"))
    assert not [c for c in commands[first:] if c.startswith("stackcurate sample-repos")]
    sampled = max(i for i, c in enumerate(commands) if c.startswith("stackcurate sample-repos"))
    benchmarks: list[tuple[str, Future[subprocess.CompletedProcess[str]]]] = []
    beside = ThreadPoolExecutor(max_workers=1)  # the benchmarks, in order, beside the other commands
    try:
        for index, command in enumerate(commands):
            if index == sampled + 1:
                benchmarks = [
                    (bench, beside.submit(run, argv_of(bench)))
                    for bench in commands
                    if bench.startswith("python benchmarks/")
                ]
            if command.startswith(("make ", "python benchmarks/")):
                continue  # make: checked above (running it would build a venv inside the test)
            argv = argv_of(command)
            if "ray" in argv:
                if not NETNS_AVAILABLE:
                    pytest.fail("the README's Ray command needs root with unshare (CI has it)")
                output = run_in_netns(argv, timeout=600, cwd=tmp_path)
                assert "Started a local Ray instance" in output
                assert_same_output(tmp_path / "runs" / "quickstart", tmp_path / "runs" / "quickstart-ray")
                # the local Ray's workers run at the driver's priority, not Ray's niceness 15
                niceness = task_niceness(tmp_path / "runs" / "quickstart-ray")
                assert niceness and set(niceness) == {os.nice(0)}, niceness
            else:
                check(command, run(argv))
    except BaseException:
        beside.shutdown(wait=True, cancel_futures=True)  # after a failed command, no queued benchmark starts
        raise
    beside.shutdown(wait=True)
    for command, future in benchmarks:
        check(command, future.result())
    assert list((tmp_path / "runs" / "quickstart" / "curated").glob("*.parquet"))
    for snippet in re.findall(r"```python\n(.*?)```", README, flags=re.DOTALL):
        result = subprocess.run(
            [sys.executable, "-c", snippet],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=600,
            env=env,
        )
        assert result.returncode == 0, f"{snippet}\n{result.stderr[-3000:]}"
