"""Hostile configuration and unlucky command lines: bounded YAML, bounded numbers, files checked before any
pass, and one error line (exit 2) instead of a traceback."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pytest
from conftest import MIT_TEXT, python_file

from stackcurate.cli import main
from stackcurate.config import load_config
from stackcurate.errors import FatalError
from stackcurate.rules import load_yaml

BILLION_LAUGHS = """\
repos: repos.txt
out: run
stages:
  quality:
    thresholds:
      a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
      b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
      c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
      d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
      e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
      f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
      g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
      h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
"""


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    def cap_memory() -> None:  # a YAML bomb must fail fast, never take the machine's memory
        resource.setrlimit(resource.RLIMIT_AS, (1_500_000_000, 1_500_000_000))

    return subprocess.run(
        [sys.executable, "-m", "stackcurate.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=cap_memory,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])},
    )


def test_a_yaml_alias_bomb_is_refused_in_a_line(tmp_path: Path) -> None:
    (tmp_path / "repos.txt").write_text("/nonexistent/a/b\n")
    (tmp_path / "bomb.yaml").write_text(BILLION_LAUGHS)
    done = _cli("run", "bomb.yaml", "--dry-run", cwd=tmp_path)
    assert done.returncode == 2, done.stderr[-2000:]
    assert "alias" in done.stderr and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) <= 3


def test_yaml_anchors_within_the_bound_still_work(tmp_path: Path) -> None:
    (tmp_path / "ok.yaml").write_text(
        "repos: r.txt\nout: run\nexecutor: &e {tasks: 3}\nstages: {clone: {depth: 2}}\n"
    )
    assert load_config(str(tmp_path / "ok.yaml")).executor.tasks == 3


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("executor.tasks", 99999999999999999999999),
        ("stages.clone.timeout_s", 1e300),
        ("executor.workers", 10**9),
        ("stages.clone.max_entries", 10**12),
    ],
)
def test_numbers_out_of_range_are_refused(key: str, value: float) -> None:
    with pytest.raises(FatalError, match=key.rsplit(".", 1)[-1]):
        load_config(None, {"repos": "r.txt", "out": "o", key: value})


def test_every_named_file_is_checked_in_dry_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    repos = tmp_path / "repos.txt"
    repos.write_text("/nonexistent/a/b\n")
    missing = tmp_path / "nope.jsonl"
    args = ["run", "--repos", str(repos), "--out", str(tmp_path / "out"), "--dry-run"]
    spec = f"stages.decontaminate.files=[{{name: extra, path: {missing}, fields: [prompt]}}]"
    assert main([*args, "--set", spec]) == 2
    err = capsys.readouterr().err
    assert f"stages.decontaminate.files[0] (extra) not found: {missing}" in err
    assert "Traceback" not in err


def test_out_that_is_a_file_or_under_a_file_or_read_only(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repos = tmp_path / "repos.txt"
    repos.write_text("/nonexistent/a/b\n")
    blocker = tmp_path / "file"
    blocker.write_text("x")
    read_only = tmp_path / "ro"
    read_only.mkdir()
    read_only.chmod(0o500)
    cases = {
        str(blocker): "is a file",
        str(blocker / "run"): f"is under a file ({blocker})",
    }
    if os.geteuid() != 0:  # root writes anywhere
        cases[str(read_only / "run")] = "cannot be written"
    for out, expected in cases.items():
        assert main(["run", "--repos", str(repos), "--out", out]) == 2
        err = capsys.readouterr().err
        assert expected in err and out in err and len(err.strip().splitlines()) == 1


def test_truncated_parquet_is_named_in_one_line(
    git_repo_factory: Callable[..., Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = git_repo_factory("org/lib", {"LICENSE": MIT_TEXT, "m.py": python_file(1)})
    (tmp_path / "repos.txt").write_text(f"{repo}\n")
    run = tmp_path / "run"
    assert main(["run", "--repos", str(tmp_path / "repos.txt"), "--out", str(run), "--tasks", "1"]) == 0
    damaged = run / "curated" / "00000.parquet"
    data = damaged.read_bytes()
    damaged.write_bytes(data[: len(data) // 2])
    capsys.readouterr()
    for command in (
        ["stats", str(run)],
        ["index", "build", str(run)],
        ["opt-out", "check", str(run), "org"],
    ):
        assert main(command) == 2, command
        err = capsys.readouterr().err
        assert f"cannot read {damaged}" in err and "Traceback" not in err, (command, err)
        assert len(err.strip().splitlines()) == 1
    with pytest.raises(pa.ArrowException):
        main(["--debug", "index", "build", str(run)])


def test_an_empty_opt_out_owner_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["opt-out", "request", "--owner", "", "--opt-out-dir", str(tmp_path / "oo")]) == 2
    err = capsys.readouterr().err
    assert "invalid owner ''" in err and len(err.strip().splitlines()) == 1


def test_a_rules_file_with_an_unsafe_tag_is_refused(tmp_path: Path) -> None:
    """Rules files (a ``rules_dir`` anyone may hand over) are parsed with a safe loader, libyaml's where
    PyYAML has it: a tag that would build a Python object is an error, not a call."""
    marker = tmp_path / "ran"
    rules = tmp_path / "files.yaml"
    rules.write_text(f"binary_magic: !!python/object/apply:os.system ['touch {marker}']\n")
    with pytest.raises(FatalError, match="cannot read rules file"):
        load_yaml(rules)
    assert not marker.exists()
    rules.write_text("binary_magic: {png: 89504e47}\nbinary_extensions: [png]\n")
    assert load_yaml(rules) == {"binary_magic": {"png": "89504e47"}, "binary_extensions": ["png"]}
