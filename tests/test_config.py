from pathlib import Path

import pytest

from stackcurate.cli import main
from stackcurate.config import load_config
from stackcurate.errors import FatalError

PIPELINES = Path(__file__).resolve().parents[1] / "pipelines"


def test_quickstart_pipeline_loads_with_overrides() -> None:
    cfg = load_config(str(PIPELINES / "quickstart.yaml"), {"out": "/tmp/x", "stages.clone.depth": 0})
    assert cfg.out == "/tmp/x"
    assert cfg.stages.clone.depth == 0
    assert cfg.stages.languages is not None and cfg.stages.languages.keep == "all"


def test_unknown_keys_and_bad_types_are_listed(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text("repos: r.txt\nout: o\nexecutor: {tasks: zero}\nstages: {clone: {depht: 2}}\n")
    with pytest.raises(FatalError) as error:
        load_config(str(path))
    message = str(error.value)
    assert "executor.tasks" in message
    assert "stages.clone.depht" in message


@pytest.mark.parametrize("text", ["repos: [unclosed\n", "- a list\n- at the top\n", "\x00\x01"])
def test_malformed_pipeline_files_are_clear_errors(tmp_path: Path, text: str) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(text)
    with pytest.raises(FatalError, match="pipeline"):
        load_config(str(path))


def test_identity_ignores_how_the_run_executes_but_not_what_it_produces() -> None:
    base = load_config(None, {"repos": "r", "out": "o"})
    faster = load_config(
        None, {"repos": "r", "out": "elsewhere", "executor.workers": 8, "executor.kind": "ray"}
    )
    different = load_config(None, {"repos": "r", "out": "o", "stages.clone.max_file_bytes": 10})
    assert base.identity_digest() == faster.identity_digest()
    assert base.identity_digest() != different.identity_digest()


def test_dry_run_prints_the_resolved_config(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    listing = tmp_path / "repos.txt"  # a dry run checks the repos list exists
    listing.write_text("https://github.com/octocat/hello-world\n")
    code = main(
        [
            "run",
            str(PIPELINES / "quickstart.yaml"),
            "--repos",
            str(listing),
            "--dry-run",
            "--out",
            "o",
            "--set",
            "stages.clone.depth=3",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert "depth: 3" in out and "out: o" in out
    assert "curate" in out and "01_clone" in out


def test_cli_reports_fatal_errors_with_exit_code_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["run", str(tmp_path / "missing.yaml")])
    assert code == 2
    assert "pipeline file not found" in capsys.readouterr().err
