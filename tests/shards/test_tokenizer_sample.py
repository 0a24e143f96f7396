"""The tokenizer is trained on a bounded sample drawn from the whole curated folder, a given tokenizer is used
without training, and a trained one smaller than asked comes with a warning that says why."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import MIT_TEXT, python_file
from loguru import logger

from stackcurate.cli import main
from stackcurate.shards.tokenizer import (
    TrainingText,
    iter_curated_texts,
    sample_curated_texts,
    train_on,
    vocabulary_shortfall,
)
from stackcurate.shards.verify import verify_shards

ROOT = Path(__file__).resolve().parents[2]
STARCODER = str(ROOT / "pipelines" / "starcoder.yaml")


def corpus_rows(repos: int = 30, files: int = 20) -> list[dict]:
    """Rows of ``repos`` repositories in curated order, each file tagged with its repository."""
    rows = []
    for r in range(repos):
        for f in range(files):
            text = f"# repo{r:03d}\n" + python_file(r * files + f, lines=20)
            digest = hashlib.sha1(text.encode()).hexdigest()
            rows.append({"id": digest, "repo": f"org/repo{r:03d}", "content": text, "size_bytes": len(text)})
    return rows


def write_curated(folder: Path, rows: list[dict], parts: int, group_rows: int) -> None:
    folder.mkdir(parents=True)
    share = (len(rows) + parts - 1) // parts
    for part in range(parts):
        table = pa.Table.from_pylist(rows[part * share : (part + 1) * share])
        pq.write_table(table, folder / f"{part:05d}.parquet", row_group_size=group_rows)


def test_the_sample_is_bounded_spread_over_the_folder_and_independent_of_its_cut(tmp_path: Path) -> None:
    rows = corpus_rows()
    total = sum(len(row["content"].encode()) for row in rows)
    write_curated(tmp_path / "three", rows, parts=3, group_rows=50)
    write_curated(tmp_path / "one", list(reversed(rows)), parts=1, group_rows=170)
    max_bytes = total // 5
    sample = list(sample_curated_texts(tmp_path / "three", max_bytes))
    size = sum(len(text.encode()) for text in sample)
    assert 0.7 * max_bytes < size < 1.3 * max_bytes
    repos = {text.split("\n", 1)[0] for text in sample}
    tenths = {int(repo.removeprefix("# repo")) // 3 for repo in repos}
    assert tenths == set(range(10)), "every part of the folder is in the sample, not only the first files"
    assert sorted(sample) == sorted(sample_curated_texts(tmp_path / "one", max_bytes))
    assert sample == list(sample_curated_texts(tmp_path / "three", max_bytes))  # deterministic
    # a folder smaller than the bound is read whole
    assert sorted(sample_curated_texts(tmp_path / "three", 2 * total)) == sorted(r["content"] for r in rows)


def test_reading_is_bounded_by_the_sample_size_on_a_large_folder(tmp_path: Path) -> None:
    """Past ``SAMPLE_READ_FACTOR`` times the sample, row groups are chosen evenly over every file."""
    rows = corpus_rows(repos=60, files=20)
    write_curated(tmp_path / "curated", rows, parts=4, group_rows=100)  # 12 row groups of 5 repositories
    total = sum(len(row["content"].encode()) for row in rows)
    sample = list(sample_curated_texts(tmp_path / "curated", total // 40))
    repos = {int(text.split("\n", 1)[0].removeprefix("# repo")) for text in sample}
    assert len(repos) <= 25  # 16 x 1/40 of the folder: 5 of the 12 row groups read
    assert {repo // 15 for repo in repos} == {0, 1, 2, 3}  # from every file
    assert 0.5 * total / 40 < sum(len(text.encode()) for text in sample) < 1.5 * total / 40


def test_a_tokenizer_smaller_than_asked_says_why(tmp_path: Path) -> None:
    write_curated(tmp_path / "curated", corpus_rows(repos=2, files=3), parts=1, group_rows=10)
    text = TrainingText(iter_curated_texts(tmp_path / "curated"))
    tokenizer = train_on(text, vocab_size=20_000)
    reason = vocabulary_shortfall(tokenizer, 20_000, text)
    assert reason is not None and f"{tokenizer.get_vocab_size():,} tokens" in reason
    assert "6 files" in reason and "train_max_bytes" in reason
    assert vocabulary_shortfall(tokenizer, tokenizer.get_vocab_size(), text) is None
    out = tmp_path / "tok.json"
    train = ["tokenizer", "train", str(tmp_path / "curated"), "--vocab-size", "20000", "--out", str(out)]
    warnings: list[str] = []
    sink = logger.add(warnings.append, level="WARNING", format="{level} {message}")
    try:
        assert main(train) == 0
    finally:
        logger.remove(sink)
    assert [w for w in warnings if w.startswith("WARNING") and "fewer than the 20,000 asked" in w]


@pytest.mark.slow
def test_a_given_tokenizer_is_used_without_training(
    git_repo_factory: Callable[..., Path], tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    lines = []
    for i in range(2):
        files = {"LICENSE": MIT_TEXT, **{f"src/m{j}.py": python_file(i * 10 + j, lines=40) for j in range(3)}}
        lines.append(str(git_repo_factory(f"octo/lib{i}", files)))
    listing = tmp_path / "repos.txt"
    listing.write_text("\n".join(lines) + "\n")
    common = ["--repos", str(listing), "--workers", "1", "--set", "stages.shards.shard_tokens=1000"]
    trained = tmp_path / "trained"
    asked = ["--set", "stages.shards.train_vocab_size=5000"]  # more than this small corpus holds
    assert main(["run", STARCODER, *common, "--out", str(trained), *asked]) == 0
    err = capfd.readouterr().err
    assert "tokens trained on" in err and "fewer than the 5,000 asked" in err
    given = tmp_path / "given.json"
    given.write_bytes((trained / "tokenizer.json").read_bytes())
    reused = tmp_path / "reused"
    assert (
        main(["run", STARCODER, *common, "--out", str(reused), "--set", f"stages.shards.tokenizer={given}"])
        == 0
    )
    assert "tokens trained on" not in capfd.readouterr().err
    assert not (reused / "tokenizer.json").exists()
    manifests = [json.loads((run / "shards" / "manifest.json").read_text()) for run in (trained, reused)]
    assert manifests[1]["tokenizer"]["path"] == str(given.resolve())
    for manifest in manifests:
        manifest.pop("source"), manifest["tokenizer"].pop("path")
    assert manifests[0] == manifests[1]
    assert verify_shards(reused / "shards") == []
    # a file that is not a tokenizer stops the run before any shard is written
    bad = tmp_path / "bad.json"
    bad.write_text("{}")
    broken = tmp_path / "broken"
    assert (
        main(["run", STARCODER, *common, "--out", str(broken), "--set", f"stages.shards.tokenizer={bad}"])
        != 0
    )
    assert not (broken / "shards").exists()
