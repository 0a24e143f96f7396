"""Every command README.md shows is run here, so the README never rots.

Commands are the lines of ```bash blocks that start with ``stackcurate``, ``python benchmarks/``,
``python examples/`` or ``make``. They run in order in a scratch directory (with the project's
``pipelines/``, ``benchmarks/`` and ``examples/`` linked in); a line using the Ray executor runs inside a
private network namespace. Then every ```python block runs there. ``make`` lines are checked with
``make -n``: ``make demo`` must run exactly the README's quickstart commands.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from netns import NETNS_AVAILABLE, run_in_netns

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


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
    for command in readme_commands():
        if command.startswith("make "):
            continue  # checked above; running them here would build a venv inside the test
        argv = shlex.split(command)
        if argv[0] == "stackcurate":
            argv = [sys.executable, "-m", "stackcurate.cli", *argv[1:]]
        elif argv[0] == "python":
            argv = [sys.executable, *argv[1:]]
        if "ray" in argv:
            if not NETNS_AVAILABLE:
                pytest.fail("the README's Ray command needs root with unshare (CI has it)")
            run_in_netns(argv, timeout=600, cwd=tmp_path)
            continue
        result = subprocess.run(argv, cwd=tmp_path, capture_output=True, text=True, timeout=600, env=env)
        assert result.returncode == 0, f"{command}\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    assert list((tmp_path / "runs" / "quickstart" / "curated").glob("*.parquet"))
    assert list((tmp_path / "runs" / "quickstart-ray" / "curated").glob("*.parquet"))
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
