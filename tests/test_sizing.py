"""Planner-sized defaults: `--dry-run` prints the sizes for an expected corpus, and they follow the corpus
size and the tasks' memory."""

from __future__ import annotations

from pathlib import Path

import pytest

from stackcurate.cli import main
from stackcurate.config import load_config
from stackcurate.sizing import sized_plan

STARCODER = str(Path(__file__).resolve().parents[1] / "pipelines" / "starcoder.yaml")


def test_dry_run_prints_the_plan_sized_for_the_expected_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    listing = tmp_path / "repos.txt"  # a dry run checks the repos list exists
    listing.write_text("https://github.com/octocat/hello-world\n")
    sets = ["executor.expected_files=3000000000", "executor.tasks=2000", "executor.mem_per_cpu_gb=2"]
    args = ["run", STARCODER, "--repos", str(listing), "--dry-run"]
    assert main([*args, *[arg for s in sets for arg in ("--set", s)]]) == 0
    out = capsys.readouterr().out
    assert "sized for 3,000,000,000 files" in out
    assert "exact_dedup buckets: 2000" in out  # 3e9 x 340 B / 1.5 GB = 680 < one per task
    assert "near_dedup bucket groups: 21000" in out  # 3e9 x 32 bands x 112 B / 512 MB
    assert "near_dedup edge partitions: 2000" in out  # 2 x 3e9 x 80 B / 512 MB = 938 < one per task
    assert "near_components/r000" in out and "shards_encode" in out


def test_sizes_grow_with_the_corpus_and_shrink_with_memory() -> None:
    cfg = load_config(STARCODER, {"executor.tasks": 4})
    laptop = sized_plan(cfg, 20_000)
    assert (laptop.exact_buckets, laptop.near_groups, laptop.edge_partitions) == (4, 4, 4)
    big = sized_plan(cfg, 100_000_000)
    small = sized_plan(load_config(STARCODER, {"executor.tasks": 4, "executor.mem_per_cpu_gb": 0.75}), 10**8)
    assert big.exact_buckets is not None and small.exact_buckets is not None
    assert big.exact_buckets == 68  # 1e8 x 340 B / 500 MB
    assert small.exact_buckets > big.exact_buckets
    assert load_config(STARCODER, {"stages.exact_dedup.buckets": 8}).stages.exact_dedup.buckets == 8


def test_expected_files_is_not_part_of_the_run_identity() -> None:
    plain = load_config(STARCODER, {})
    sized = load_config(STARCODER, {"executor.expected_files": 10**9})
    assert plain.identity_digest() == sized.identity_digest()
