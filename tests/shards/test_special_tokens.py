"""Special-token hygiene end to end: code that spells every special token stays text through the build
(both encoders), FIM (PSM and SPM, fast and HF encoders) and packing; only the build's metadata markers, the
FIM sentinels and the packing's ``<|endoftext|>`` are ever special ids."""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from stackcurate.shards.build import build_shards, document_parts
from stackcurate.shards.fim import apply_fim, special_mask
from stackcurate.shards.loader import ShardDataset
from stackcurate.shards.tokenizer import (
    EOS,
    FILENAME,
    FIM_MIDDLE,
    FIM_PREFIX,
    FIM_SUFFIX,
    GH_STARS,
    REPONAME,
    SPECIAL_TOKENS,
    fast_encoder,
    load_tokenizer,
    train_tokenizer,
)

METADATA = (REPONAME, FILENAME, GH_STARS)
SENTINELS = (FIM_PREFIX, FIM_SUFFIX, FIM_MIDDLE)


def spelling_code(i: int) -> str:
    """A Python file that writes every special token in its code, in strings, comments and glued to code."""
    listed = ", ".join(f'"{token}"' for token in SPECIAL_TOKENS)
    glued = "".join(SPECIAL_TOKENS)
    return (
        f"# tokens{i}: {' '.join(SPECIAL_TOKENS)}\n"
        f"SPECIAL_{i} = [{listed}]\n"
        f"GLUED = '{glued}'\n"
        "def strip(text):\n"
        f"    return text.replace('<|endoftext|>', '').split('<fim_middle>')[{i % 3}]\n"
    )


@pytest.fixture(scope="module")
def spelled(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A curated folder: real standard-library code plus 40 files spelling every special token."""
    import json

    root = tmp_path_factory.mktemp("special")
    curated = root / "curated"
    curated.mkdir()
    real = sorted(Path(json.__file__).parent.glob("*.py"))
    rows = [
        {"id": f"real{i}", "repo": "python/json", "path": p.name, "content": p.read_text(encoding="utf-8")}
        for i, p in enumerate(real)
    ]
    rows += [
        {"id": f"spell{i}", "repo": f"octo/tok{i}", "path": f"t{i}.py", "content": spelling_code(i)}
        for i in range(40)
    ]
    for i, row in enumerate(rows):
        row.update(language="python", license="MIT", stars=i * 13)
    pq.write_table(pa.Table.from_pylist(rows), curated / "00000.parquet")
    train_tokenizer(curated, vocab_size=1500).save(str(root / "tokenizer.json"))
    for encoder in ("tiktoken", "hf"):
        build_shards(curated, root / "tokenizer.json", root / encoder, encoder=encoder, row_group_rows=8)
    return {"root": root, "tokenizer": root / "tokenizer.json", "curated": curated}


def special_counts(ids: list[int], tokenizer) -> Counter[str]:
    mask = special_mask(tokenizer)
    return Counter(tokenizer.id_to_token(i) for i in ids if mask[i])


@pytest.mark.parametrize("encoder", ["tiktoken", "hf"])
def test_the_build_keeps_spelled_tokens_as_text(spelled: dict[str, Path], encoder: str) -> None:
    tokenizer = load_tokenizer(spelled["tokenizer"])
    table = pq.read_table(spelled["root"] / encoder / "shard-00000.parquet").to_pylist()
    spelling = [row for row in table if row["repo"].startswith("octo/")]
    assert len(spelling) == 40
    sources = {row["repo"]: row for row in pq.read_table(spelled["curated"]).to_pylist()}
    with_header = 0
    for row in spelling:
        header, body = document_parts(sources[row["repo"]], seed=0)
        with_header += bool(header)
        # the only special ids are the metadata markers the build chose, each once, at the header's places
        assert special_counts(row["input_ids"], tokenizer) == Counter(token for token, _ in header)
        decoded = tokenizer.decode(row["input_ids"], skip_special_tokens=False)
        assert decoded == "".join(token + value for token, value in header) + body
    assert with_header > 0


@pytest.mark.parametrize("spm_rate", [0.0, 1.0])
@pytest.mark.parametrize("fast", [True, False])
def test_fim_never_makes_a_special_id_from_text(
    spelled: dict[str, Path], spm_rate: float, fast: bool
) -> None:
    tokenizer = load_tokenizer(spelled["tokenizer"])
    encoder = fast_encoder(tokenizer) if fast else None
    table = pq.read_table(spelled["root"] / "tiktoken" / "shard-00000.parquet").to_pylist()
    rng = random.Random(7)
    prefix, suffix, middle = (tokenizer.token_to_id(t) for t in SENTINELS)
    for row in table:
        ids = row["input_ids"]
        before = special_counts(ids, tokenizer)
        out = apply_fim(np.asarray(ids, dtype=np.int32), tokenizer, rng, spm_rate, encoder)
        # exactly the document's own special ids plus one of each sentinel
        assert special_counts(out, tokenizer) == before + Counter(SENTINELS)
        p, s, m = out.index(prefix), out.index(suffix), out.index(middle)
        if spm_rate == 1.0:
            assert (p, s) == (0, 1) < (1, m)
            pre_mid, suf = out[m + 1 :], out[s + 1 : m]
        else:
            assert p == 0 < s < m
            pre_mid, suf = out[p + 1 : s] + out[m + 1 :], out[s + 1 : m]
        # the parts put back together are the document's text
        assert tokenizer.decode(pre_mid + suf, skip_special_tokens=False) == tokenizer.decode(
            ids, skip_special_tokens=False
        )


def test_packed_fim_samples_hold_only_structural_special_ids(spelled: dict[str, Path]) -> None:
    tokenizer = load_tokenizer(spelled["tokenizer"])
    dataset = ShardDataset(spelled["root"] / "tiktoken", seq_len=64, fim_rate=1.0, fim_spm_rate=0.5, seed=1)
    stream = [int(t) for sample in dataset for t in sample["input_ids"]]
    counts = special_counts(stream, tokenizer)
    allowed = {EOS, *SENTINELS, *METADATA}
    assert set(counts) <= allowed, set(counts) - allowed
    documents = sum(group[2] for group in dataset.row_groups)
    # every document of the epoch is FIM'd and followed by one <|endoftext|>; the last window may hold the
    # start of a padding document (the own share is read whole first; a window can cut a document)
    assert documents - 1 <= counts[EOS] <= documents + 3
    sentinels = [counts[FIM_PREFIX], counts[FIM_SUFFIX], counts[FIM_MIDDLE]]
    assert max(sentinels) - min(sentinels) <= 1 and abs(counts[FIM_PREFIX] - counts[EOS]) <= 1
    text = tokenizer.decode(stream, skip_special_tokens=True)
    assert text.count("<fim_pad>") >= 40 and text.count("<|endoftext|>") >= 80  # the code's spellings
