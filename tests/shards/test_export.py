"""`stackcurate shards export`: the Megatron-LM indexed dataset read back by megatron-core's own
IndexedDataset, the litdata dataset by litdata's StreamingDataset; documents and tokens equal the shards
and their manifest."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from shards_corpus import build_small_shards

from stackcurate.cli import main
from stackcurate.shards.export import MEGATRON_PREFIX
from stackcurate.shards.tokenizer import EOS, load_tokenizer


@pytest.fixture(scope="module")
def small_shards(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_small_shards(tmp_path_factory.mktemp("small_shards"))


def shard_rows(shards: Path) -> tuple[dict, list[dict]]:
    manifest = json.loads((shards / "manifest.json").read_text())
    rows = []
    for entry in manifest["shards"]:
        rows += pq.read_table(shards / entry["file"]).to_pylist()
    return manifest, rows


def test_megatron_export_reads_back_in_megatron_core(small_shards: Path, tmp_path: Path, capsys) -> None:
    from megatron.core.datasets.indexed_dataset import IndexedDataset

    out = tmp_path / "megatron"
    assert (
        main(["shards", "export", str(small_shards.parent), "--format", "megatron", "--out", str(out)]) == 0
    )
    assert f"--data-path {out.resolve() / MEGATRON_PREFIX}" in capsys.readouterr().out
    manifest, rows = shard_rows(small_shards)
    eos = load_tokenizer(manifest["tokenizer"]["path"]).token_to_id(EOS)
    dataset = IndexedDataset(str(out / MEGATRON_PREFIX))
    assert len(dataset) == manifest["total_rows"] == len(rows)
    # one sequence per document: the document boundaries are the rows of the shards
    assert dataset.document_indices.tolist() == list(range(len(rows) + 1))
    assert dataset.sequence_lengths.tolist() == [row["n_tokens"] + 1 for row in rows]
    assert int(dataset.sequence_lengths.sum()) == manifest["total_tokens"] + manifest["total_rows"]
    for i, row in enumerate(rows):
        sequence = dataset[i]
        assert sequence[:-1].tolist() == row["input_ids"] and int(sequence[-1]) == eos
    assert dataset.index.dtype == np.uint16  # a vocabulary under 65,500 ids
    summary = json.loads((out / "export.json").read_text())
    assert (summary["documents"], summary["tokens"]) == (manifest["total_rows"], manifest["total_tokens"])
    assert not (out / ".partial").exists()


def test_litdata_export_reads_back_in_litdata(small_shards: Path, tmp_path: Path) -> None:
    from litdata import StreamingDataset

    out = tmp_path / "litdata"
    assert main(["shards", "export", str(small_shards), "--format", "litdata", "--out", str(out)]) == 0
    manifest, rows = shard_rows(small_shards)
    dataset = StreamingDataset(str(out))
    assert len(dataset) == manifest["total_rows"]
    items = [dataset[i] for i in range(len(dataset))]
    assert [item["input_ids"].tolist() for item in items] == [row["input_ids"] for row in rows]
    assert [(item["repo"], item["path"]) for item in items] == [(row["repo"], row["path"]) for row in rows]
    assert sum(len(item["input_ids"]) for item in items) == manifest["total_tokens"]


def test_export_refuses_damaged_shards_and_a_full_folder(small_shards: Path, tmp_path: Path, capsys) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(small_shards, copy)
    victim = sorted(copy.glob("shard-*.parquet"))[0]
    data = bytearray(victim.read_bytes())
    data[len(data) // 2] ^= 0x01
    victim.write_bytes(bytes(data))
    out = tmp_path / "out"
    assert main(["shards", "export", str(copy), "--format", "megatron", "--out", str(out)]) == 2
    assert "not exported" in capsys.readouterr().err
    assert not list(out.glob("*.bin"))
    full = tmp_path / "full"
    full.mkdir()
    (full / "keep.txt").write_text("mine")
    assert main(["shards", "export", str(small_shards), "--format", "megatron", "--out", str(full)]) == 2
    assert "not empty" in capsys.readouterr().err and (full / "keep.txt").read_text() == "mine"
    with pytest.raises(SystemExit):
        main(["shards", "export", str(small_shards), "--format", "parquet", "--out", str(tmp_path / "x")])


def swapped_eos_copy(tokenizer: Path, target: Path, other: int = 300) -> Path:
    """A copy of ``tokenizer`` whose end-of-text token and token ``other`` trade ids."""
    data = json.loads(tokenizer.read_text())
    vocab = data["model"]["vocab"]
    eos = vocab[EOS]
    name = next(token for token, i in vocab.items() if i == other)
    vocab[EOS], vocab[name] = other, eos
    for added in data["added_tokens"]:
        if added["content"] == EOS:
            added["id"] = other
        elif added["id"] == other:
            added["id"] = eos
    target.write_text(json.dumps(data))
    return target


@pytest.mark.parametrize("tamper", ["tokenizer copy with the end-of-text id swapped", "zeroed sha256"])
def test_export_runs_the_checks_of_shards_verify(
    small_shards: Path, tmp_path: Path, capsys, tamper: str
) -> None:
    """A manifest pointed at another tokenizer (its ``<|endoftext|>`` at id 300 instead of 0: every
    document separator would be written wrong) or stating a zeroed tokenizer sha256 is refused by
    ``shards verify`` and, with the same checks, by ``shards export``."""
    copy = tmp_path / "copy"
    shutil.copytree(small_shards, copy)
    manifest = json.loads((copy / "manifest.json").read_text())
    if tamper == "zeroed sha256":
        manifest["tokenizer"]["sha256"] = "0" * 64
    else:
        swapped = swapped_eos_copy(Path(manifest["tokenizer"]["path"]), tmp_path / "tokenizer.json")
        assert load_tokenizer(swapped).token_to_id(EOS) == 300
        assert load_tokenizer(manifest["tokenizer"]["path"]).token_to_id(EOS) != 300
        manifest["tokenizer"]["path"] = str(swapped)
    (copy / "manifest.json").write_text(json.dumps(manifest))
    assert main(["shards", "verify", str(copy)]) == 2
    refused = capsys.readouterr().err
    out = tmp_path / "out"
    assert main(["shards", "export", str(copy), "--format", "megatron", "--out", str(out)]) == 2
    error = capsys.readouterr().err
    assert "not exported" in error and "sha256 differs" in error and "sha256 differs" in refused
    assert not list(out.glob("*.bin")) and not list(out.glob("*.idx"))


def test_the_tiny_gpt_example_trains_from_the_megatron_export(small_shards: Path, tmp_path: Path) -> None:
    import importlib.util
    import sys

    out = tmp_path / "megatron"
    assert main(["shards", "export", str(small_shards), "--format", "megatron", "--out", str(out)]) == 0
    example = Path(__file__).resolve().parents[2] / "examples" / "train_tiny_gpt.py"
    spec = importlib.util.spec_from_file_location("train_tiny_gpt_megatron", example)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["train_tiny_gpt_megatron"] = module
    spec.loader.exec_module(module)
    losses = module.train(
        str(out), steps=150, seq_len=64, batch_size=8, workers=0, log_every=50, megatron=True, threads=1
    )
    first, last = sum(losses[:10]) / 10, sum(losses[-10:]) / 10
    assert last < first - 1.0, (first, last)
