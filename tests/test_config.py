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


def test_the_identity_of_runs_made_before_stays_the_same() -> None:
    """What joins the identity is declared on each field now; the digests of configs computed before that
    change (with the hand-written list of keys left out) are unchanged, so those runs still resume. The
    tokenizer's training sample default went from 1 GB to 64 MB later (issue 29): that changes the shards,
    so it changes the digest of a pipeline with shards; given the old value, the digest is the old one."""
    starcoder = "pipelines/starcoder.yaml"
    root = Path(__file__).resolve().parents[1]
    old_sample = {"stages.shards.train_max_bytes": 1_000_000_000}
    assert load_config(str(root / starcoder), old_sample).identity_digest() == "795dd088a7f27396"
    assert load_config(str(root / starcoder)).identity_digest() != "795dd088a7f27396"
    assert load_config(None, {"repos": "r.csv", "out": "o"}).identity_digest() == "0d48f9da772c5ee2"
    overrides = {
        "stages.clone.max_entries": 10,
        "stages.quality.thresholds": {"max_line_length": None},
        "stages.shards.row_group_rows": 2,
        "executor.workers": 3,
        "stages.near_dedup.bands": 8,
        "stages.near_dedup.rows": 4,
        **old_sample,
    }
    assert load_config(str(root / starcoder), overrides).identity_digest() == "7e8600dfd6be928d"


def test_identity_is_declared_on_the_field() -> None:
    from stackcurate.config import CloneStage, ExecutorSettings, PipelineConfig, ShardsStage

    def rule(model: type, name: str) -> str:
        extra = model.model_fields[name].json_schema_extra
        return str(extra.get("identity", "yes")) if isinstance(extra, dict) else "yes"

    assert rule(PipelineConfig, "out") == rule(ExecutorSettings, "workers") == "no"
    assert rule(CloneStage, "max_entries") == rule(ShardsStage, "row_group_rows") == "unless_default"
    assert rule(ExecutorSettings, "tasks") == rule(CloneStage, "depth") == "yes"
    base = load_config(None, {"repos": "r.csv", "out": "o"})
    for dotted, value, joins in [
        ("executor.workers", 7, False),
        ("out", "elsewhere", False),
        ("stages.clone.max_entries", 500_000, False),  # its default
        ("stages.clone.max_entries", 10, True),
        ("stages.clone.depth", 0, True),
        ("stages.clone.local_objects", "copy", False),  # the same files either way
    ]:
        changed = load_config(None, {"repos": "r.csv", "out": "o", dotted: value})
        assert (changed.identity_digest() != base.identity_digest()) is joins, dotted
