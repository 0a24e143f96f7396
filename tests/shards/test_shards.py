"""Tokenizer, shards, manifest/verify, the PyTorch loader (splitting, FIM, packing, resume), a tiny training
run, and shards at the end of a pipeline run."""

from __future__ import annotations

import importlib.util
import json
import random
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
from conftest import MIT_TEXT, dictionary_columns, python_file
from torch.utils.data import DataLoader

from stackcurate.cli import main
from stackcurate.shards.build import build_shards, format_document
from stackcurate.shards.loader import ShardDataset, apply_fim
from stackcurate.shards.tokenizer import (
    FIM_MIDDLE,
    FIM_PREFIX,
    FIM_SUFFIX,
    SPECIAL_TOKENS,
    fast_encoder,
    load_tokenizer,
    train_tokenizer,
)
from stackcurate.shards.verify import verify_shards

ROOT = Path(__file__).resolve().parents[2]
STARCODER = str(ROOT / "pipelines" / "starcoder.yaml")


def real_sources() -> list[tuple[str, str]]:
    import email
    import json as json_module

    paths = sorted(Path(json_module.__file__).parent.glob("*.py")) + sorted(
        Path(email.__file__).parent.glob("*.py")
    )
    return [(f"{path.parent.name}/{path.name}", path.read_text(encoding="utf-8")) for path in paths]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A curated folder of real standard-library files (two Parquet files), a small tokenizer, shards."""
    root = tmp_path_factory.mktemp("shards")
    curated = root / "curated"
    curated.mkdir()
    rows = [
        {
            "id": f"blob{i}",
            "repo": f"python/{path.split('/')[0]}",
            "path": path,
            "language": "python" if i % 5 else "python-stub",
            "license": "PSF-2.0",
            "stars": i * 37,
            "content": text,
        }
        for i, (path, text) in enumerate(real_sources())
    ]
    half = len(rows) // 2
    pq.write_table(pa.Table.from_pylist(rows[:half]), curated / "00000.parquet")
    pq.write_table(pa.Table.from_pylist(rows[half:]), curated / "00001.parquet")
    tokenizer = train_tokenizer(curated, vocab_size=2000)
    tokenizer.save(str(root / "tokenizer.json"))
    build_shards(curated, root / "tokenizer.json", root / "shards", shard_tokens=60_000, row_group_rows=4)
    return {"root": root, "curated": curated, "tokenizer": root / "tokenizer.json", "shards": root / "shards"}


def test_tokenizer_round_trips_real_code(corpus: dict[str, Path]) -> None:
    tokenizer = load_tokenizer(corpus["tokenizer"])
    assert [tokenizer.id_to_token(i) for i in range(len(SPECIAL_TOKENS))] == SPECIAL_TOKENS
    fast = fast_encoder(tokenizer)
    assert fast is not None
    texts = [text for _, text in real_sources()] + ["naïve = 'données' + 12345  # ünïcode ✓ 🚀\n\t\r\n"]
    same = 0
    for text in texts:
        ids = tokenizer.encode(text, add_special_tokens=False).ids
        assert tokenizer.decode(ids) == text
        fast_ids = fast.encode_ordinary(text)
        assert tokenizer.decode(fast_ids) == text
        same += fast_ids == ids
    assert same >= 0.9 * len(texts)  # tiktoken's merge order differs on rare pieces only
    digits = tokenizer.encode("x = 12345", add_special_tokens=False).tokens
    assert digits[-5:] == ["1", "2", "3", "4", "5"]  # digits are split


def test_manifest_counts_equal_the_data(corpus: dict[str, Path]) -> None:
    manifest = json.loads((corpus["shards"] / "manifest.json").read_text())
    assert len(manifest["shards"]) > 1
    tables = [pq.read_table(corpus["shards"] / entry["file"]) for entry in manifest["shards"]]
    assert sum(t.num_rows for t in tables) == manifest["total_rows"] == len(real_sources())
    tokens = sum(sum(t.column("n_tokens").to_pylist()) for t in tables)
    assert tokens == manifest["total_tokens"]
    per_language: Counter[str] = Counter()
    for table in tables:
        for language, ids in zip(
            table.column("language").to_pylist(), table.column("input_ids").to_pylist(), strict=True
        ):
            per_language[language] += len(ids)
    assert {lang: stats["tokens"] for lang, stats in manifest["languages"].items()} == dict(per_language)
    assert tables[0].schema.field("input_ids").type == pa.list_(pa.int32())
    assert pq.ParquetFile(corpus["shards"] / manifest["shards"][0]["file"]).metadata.num_row_groups > 1
    # token ids plain (smaller under zstd than in a dictionary), the metadata columns in dictionaries
    for entry in manifest["shards"]:
        assert dictionary_columns(corpus["shards"] / entry["file"]) == {
            "n_tokens",
            "repo",
            "path",
            "language",
            "license",
        }
    assert verify_shards(corpus["shards"]) == []


def test_build_is_reproducible_and_formats_metadata(corpus: dict[str, Path], tmp_path: Path) -> None:
    again = build_shards(
        corpus["curated"], corpus["tokenizer"], tmp_path / "again", shard_tokens=60_000, row_group_rows=4
    )
    first = json.loads((corpus["shards"] / "manifest.json").read_text())
    assert [s["sha256"] for s in again["shards"]] == [s["sha256"] for s in first["shards"]]
    row = {"id": "x", "repo": "octo/demo", "path": "a.py", "stars": 250, "content": "pass\n"}
    texts = [format_document({**row, "id": str(i)}, seed=0) for i in range(2000)]
    with_repo = sum("<reponame>octo/demo" in t for t in texts) / len(texts)
    assert 0.16 < with_repo < 0.24 and any("<gh_stars>100-1000" in t for t in texts)
    assert all(t.endswith("pass\n") for t in texts)


def test_verify_catches_a_flipped_byte_and_a_missing_shard(
    corpus: dict[str, Path], tmp_path: Path, capsys
) -> None:
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(corpus["shards"], copy)
    assert main(["shards", "verify", str(copy)]) == 0
    victim = sorted(copy.glob("shard-*.parquet"))[0]
    data = bytearray(victim.read_bytes())
    data[len(data) // 2] ^= 0x01
    victim.write_bytes(bytes(data))
    assert main(["shards", "verify", str(copy)]) == 2
    assert f"{victim.name}: sha256 differs" in capsys.readouterr().err
    sorted(copy.glob("shard-*.parquet"))[-1].unlink()
    assert main(["shards", "verify", str(copy)]) == 2
    assert "missing" in capsys.readouterr().err


def _documents(dataset: ShardDataset, workers: int) -> list[int]:
    loader = DataLoader(dataset, batch_size=None, num_workers=workers)
    return [int(item["doc"]) for item in loader]


def test_two_ranks_two_workers_read_every_document_once_per_epoch(corpus: dict[str, Path]) -> None:
    total = json.loads((corpus["shards"] / "manifest.json").read_text())["total_rows"]
    for epoch in (0, 1):
        per_rank: list[list[int]] = []
        for rank in (0, 1):
            dataset = ShardDataset(
                corpus["shards"], fim_rate=0, pack=False, rank=rank, world_size=2, shuffle_buffer=8
            )
            dataset.set_epoch(epoch)
            per_rank.append(_documents(dataset, workers=2))
        seen = per_rank[0] + per_rank[1]
        assert len(set(seen)) == total  # every document, and padding repeats some
        assert len(per_rank[0]) == len(per_rank[1]) == 2 * dataset.samples_per_reader(4)
        assert len(seen) - total < 4 * max(group[2] for group in dataset.row_groups)


def test_fim_puts_sentinels_in_order_and_decodes_back(corpus: dict[str, Path]) -> None:
    tokenizer = load_tokenizer(corpus["tokenizer"])
    text = real_sources()[3][1]
    ids = tokenizer.encode(text, add_special_tokens=False).ids
    prefix, middle, suffix = (tokenizer.token_to_id(t) for t in (FIM_PREFIX, FIM_MIDDLE, FIM_SUFFIX))
    for spm_rate, name in ((0.0, "psm"), (1.0, "spm")):
        out = apply_fim(ids, tokenizer, random.Random(5), spm_rate)
        p, s, m = out.index(prefix), out.index(suffix), out.index(middle)
        if name == "psm":
            assert p == 0 < s < m
            pre, suf, mid = out[p + 1 : s], out[s + 1 : m], out[m + 1 :]
        else:
            assert (p, s) == (0, 1) and m > s
            suf, rest = out[2:m], out[m + 1 :]
            pre, mid = rest, []
        assert (
            tokenizer.decode(pre + mid + suf) == text
            or tokenizer.decode(pre) + tokenizer.decode(mid) + tokenizer.decode(suf) == text
        )


def test_packing_and_resume(corpus: dict[str, Path]) -> None:
    def samples(state=None, take=None, workers=2):
        dataset = ShardDataset(corpus["shards"], seq_len=64, fim_rate=0.5, shuffle_buffer=16, seed=3)
        if state is not None:
            dataset.load_state_dict(state, batch_size=4, num_workers=workers)
        out = []
        for batch in DataLoader(dataset, batch_size=4, num_workers=workers):
            out.append(batch["input_ids"])
            if take is not None and len(out) == take:
                break
        return torch.cat(out)

    everything = samples()
    assert everything.shape[1] == 64
    eos = load_tokenizer(corpus["tokenizer"]).token_to_id("<|endoftext|>")
    assert (everything == eos).sum() > 10
    resumed = samples(state={"epoch": 0, "samples": 20})
    assert torch.equal(resumed, everything[20:])


def test_a_tiny_training_run_lowers_the_loss(corpus: dict[str, Path]) -> None:
    spec = importlib.util.spec_from_file_location("train_tiny_gpt", ROOT / "examples" / "train_tiny_gpt.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["train_tiny_gpt"] = module
    spec.loader.exec_module(module)
    losses = module.train(
        str(corpus["shards"]), steps=150, seq_len=64, batch_size=8, workers=0, log_every=50, threads=1
    )
    first, last = sum(losses[:10]) / 10, sum(losses[-10:]) / 10
    assert last < first - 1.0, (first, last)


def test_a_pipeline_run_ends_with_shards(git_repo_factory: Callable[..., Path], tmp_path: Path) -> None:
    files = {"LICENSE": MIT_TEXT, **{f"src/m{j}.py": python_file(j, lines=60) for j in range(6)}}
    listing = tmp_path / "repos.txt"
    listing.write_text(f"{git_repo_factory('octo/lib', files)}\n")
    out = tmp_path / "run"
    args = [
        "run",
        STARCODER,
        "--repos",
        str(listing),
        "--out",
        str(out),
        "--set",
        "stages.shards.train_vocab_size=400",
    ]
    assert main(args) == 0
    assert verify_shards(out / "shards") == []
    manifest = json.loads((out / "shards" / "manifest.json").read_text())
    assert manifest["total_rows"] == 6 and (out / "tokenizer.json").exists()
    assert json.loads((out / "run.json").read_text())["shards"]["rows"] == 6


def test_metadata_are_special_ids_and_code_never_is(corpus: dict[str, Path], tmp_path: Path) -> None:
    from stackcurate.shards.build import document_parts

    tokenizer = load_tokenizer(corpus["tokenizer"])
    row = {"id": "a", "repo": "octo/demo", "path": "x.py", "stars": 5, "content": 'EOS = "<|endoftext|>"\n'}
    seed = next(s for s in range(100) if document_parts(row, s)[0])
    curated = tmp_path / "curated"
    curated.mkdir()
    pq.write_table(
        pa.Table.from_pylist([{**row, "language": "python", "license": "MIT"}]), curated / "0.parquet"
    )
    build_shards(curated, corpus["tokenizer"], tmp_path / "shards", seed=seed)
    ids = pq.read_table(tmp_path / "shards" / "shard-00000.parquet").column("input_ids").to_pylist()[0]
    header, _ = document_parts(row, seed)
    assert ids[0] == tokenizer.token_to_id(header[0][0])  # the metadata marker is the special token
    assert tokenizer.token_to_id("<|endoftext|>") not in ids  # the string in the code stays text
    assert tokenizer.decode(ids, skip_special_tokens=False).endswith('EOS = "<|endoftext|>"\n')


def test_fim_with_the_fast_encoder_decodes_back(corpus: dict[str, Path]) -> None:
    tokenizer = load_tokenizer(corpus["tokenizer"])
    text = real_sources()[5][1]
    ids = tokenizer.encode(text, add_special_tokens=False).ids
    out = apply_fim(ids, tokenizer, random.Random(11), 0.0, fast_encoder(tokenizer))
    prefix, middle, suffix = (tokenizer.token_to_id(t) for t in (FIM_PREFIX, FIM_MIDDLE, FIM_SUFFIX))
    p, s, m = out.index(prefix), out.index(suffix), out.index(middle)
    assert p == 0 < s < m
    assert tokenizer.decode(out[p + 1 : s] + out[m + 1 :] + out[s + 1 : m]) == text


def test_the_token_column_is_the_same_however_it_is_encoded_and_chunked(
    corpus: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """``encode_table`` builds the ``input_ids`` column from tiktoken's buffers: one thread or two, and cut
    into chunks wherever its int32 offsets would run out (lowered here), it holds the ids HF's tokenizer
    gives for the same formatted documents, metadata tokens included."""
    from stackcurate.shards import build
    from stackcurate.shards.build import DocumentEncoder

    rows = pq.read_table(corpus["curated"] / "00000.parquet").to_pylist()[:40]
    rows.append({**rows[0], "id": "empty", "content": ""})  # a document of no code (or metadata only)
    seed = 3
    fast = DocumentEncoder(corpus["tokenizer"], "tiktoken").encode_table(rows, seed)
    assert fast.schema == build.SHARD_SCHEMA
    assert DocumentEncoder(corpus["tokenizer"], "tiktoken", threads=2).encode_table(rows, seed).equals(fast)
    hf = DocumentEncoder(corpus["tokenizer"], "hf").encode_table(rows, seed)
    differ = [
        row["path"]
        for row, a, b in zip(rows, fast["input_ids"].to_pylist(), hf["input_ids"].to_pylist(), strict=True)
        if a != b
    ]
    assert len(differ) <= 1, differ  # tiktoken's merge order differs from HF's on rare pieces (tokenizer.py)
    assert fast["n_tokens"].to_pylist() == [len(ids) for ids in fast["input_ids"].to_pylist()]
    largest = max(fast["n_tokens"].to_pylist())
    monkeypatch.setattr(build, "_MAX_LIST_VALUES", largest + 1)
    chunked = DocumentEncoder(corpus["tokenizer"], "tiktoken").encode_table(rows, seed)
    assert chunked["input_ids"].num_chunks > 1
    assert chunked.equals(fast)
    assert DocumentEncoder(corpus["tokenizer"], "tiktoken").encode_rows(rows, seed) == fast.to_pylist()
