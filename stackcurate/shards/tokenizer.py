"""StarCoder's tokenizer recipe: byte-level BPE (HF ``tokenizers``), digits split one by one, the
StarCoder special tokens, trained by streaming a run's curated Parquet (one batch of rows in memory).

The trainer keeps counts of distinct pre-tokenized words, not the corpus, so memory follows the
vocabulary of the data, not its size. Any existing ``tokenizer.json`` (for example StarCoder's own) can be
used instead of a trained one, as long as it knows ``<|endoftext|>`` and the FIM tokens.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from stackcurate.errors import FatalError

EOS = "<|endoftext|>"
FIM_PREFIX, FIM_MIDDLE, FIM_SUFFIX, FIM_PAD = "<fim_prefix>", "<fim_middle>", "<fim_suffix>", "<fim_pad>"
FILENAME, GH_STARS, REPONAME = "<filename>", "<gh_stars>", "<reponame>"
#: StarCoder's special tokens, in its order (arXiv 2305.06161 sec. 5; the released tokenizer.json)
SPECIAL_TOKENS = [
    EOS,
    FIM_PREFIX,
    FIM_MIDDLE,
    FIM_SUFFIX,
    FIM_PAD,
    FILENAME,
    GH_STARS,
    "<issue_start>",
    "<issue_comment>",
    "<issue_closed>",
    "<jupyter_start>",
    "<jupyter_text>",
    "<jupyter_code>",
    "<jupyter_output>",
    "<empty_output>",
    "<commit_before>",
    "<commit_msg>",
    "<commit_after>",
    REPONAME,
]
REQUIRED = (EOS, FIM_PREFIX, FIM_MIDDLE, FIM_SUFFIX, FIM_PAD)


def iter_curated_texts(
    curated: str | Path, batch_rows: int = 1024, max_bytes: int | None = None
) -> Iterator[str]:
    """The ``content`` of the rows of a curated folder, one Parquet batch at a time; with ``max_bytes``, the
    files are visited round-robin (a sample of every task's share, not the first tasks only) and reading
    stops after that many UTF-8 bytes."""
    from datatrove.io import get_datafolder

    from stackcurate.parquet_io import list_parquet_files

    folder = get_datafolder(str(curated))
    files = list_parquet_files(folder)
    if not files:
        raise FatalError(f"no Parquet files in {curated}")
    readers = [
        pq.ParquetFile(folder.open(name, "rb")).iter_batches(batch_size=batch_rows, columns=["content"])
        for name in files
    ]
    seen = 0
    while readers:
        for reader in list(readers):
            batch = next(reader, None)
            if batch is None:
                readers.remove(reader)
                continue
            for text in batch.column(0).to_pylist():
                if not text:
                    continue
                yield text
                seen += len(text.encode("utf-8"))
                if max_bytes is not None and seen >= max_bytes:
                    return


def train_tokenizer(
    curated: str | Path, vocab_size: int = 49152, min_frequency: int = 2, max_bytes: int | None = None
) -> Any:
    """A byte-level BPE tokenizer trained on the curated files (``tokenizers.Tokenizer``); ``max_bytes``
    trains on a sample of that size drawn from every file of the folder."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Digits(individual_digits=True),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True),
        ]
    )
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=min_frequency,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(iter_curated_texts(curated, max_bytes=max_bytes), trainer=trainer)
    return tokenizer


def load_tokenizer(path: str | Path) -> Any:
    """A ``tokenizer.json``, checked for the tokens the shards and the loader need."""
    from tokenizers import Tokenizer

    try:
        tokenizer = Tokenizer.from_file(str(path))
    except Exception as error:  # tokenizers raises a bare Exception on bad files
        raise FatalError(f"cannot load tokenizer {path}: {error}") from None
    missing = [token for token in REQUIRED if tokenizer.token_to_id(token) is None]
    if missing:
        raise FatalError(f"tokenizer {path} lacks the special tokens {missing}")
    return tokenizer


#: GPT-2's byte-level split with digits isolated first (the pre-tokenizer of ``train_tokenizer``), as one
#: regex for tiktoken: a digit alone; whitespace before a digit kept whole (the digit split ends the piece)
TIKTOKEN_PATTERN = r"\p{N}|'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?[^\s\p{L}\p{N}]+|\s+(?=\p{N})|\s+(?!\S)|\s+"


def _byte_decoder() -> dict[str, int]:
    """GPT-2's byte-level alphabet: printable character -> byte."""
    printable = [
        *range(ord("!"), ord("~") + 1),
        *range(ord("¡"), ord("¬") + 1),
        *range(ord("®"), ord("ÿ") + 1),
    ]
    mapping = {byte: chr(byte) for byte in printable}
    extra = 0
    for byte in range(256):
        if byte not in mapping:
            mapping[byte] = chr(256 + extra)
            extra += 1
    return {char: byte for byte, char in mapping.items()}


@functools.lru_cache(maxsize=8)
def _fast_encoder(spec_text: str) -> Any:
    return _build_fast_encoder(spec_text)


def fast_encoder(tokenizer: Any) -> Any:
    """``_build_fast_encoder`` of ``tokenizer``, built once per vocabulary (cached by its JSON)."""
    return _fast_encoder(tokenizer.to_str())


def _build_fast_encoder(spec_text: str) -> Any:
    """A tiktoken ``Encoding`` with the same vocabulary as ``tokenizer`` when it is a byte-level BPE with
    ``train_tokenizer``'s pre-tokenizer (None otherwise, or without tiktoken). tiktoken encodes about 5x
    faster; it merges by the rank of the merged token where HF merges by the rank of the pair, so on rare
    pieces it picks another segmentation of the same bytes (measured: identical ids on 99.9% of files;
    every output decodes to the same text)."""
    try:
        import tiktoken
    except ImportError:
        return None
    spec = json.loads(spec_text)
    pre = spec.get("pre_tokenizer") or {}
    steps = [step.get("type") for step in pre.get("pretokenizers", [])]
    if spec.get("model", {}).get("type") != "BPE" or steps != ["Digits", "ByteLevel"]:
        return None
    decoder = _byte_decoder()
    specials = {token["content"]: token["id"] for token in spec.get("added_tokens", [])}
    ranks = {}
    for piece, rank in spec["model"]["vocab"].items():
        if piece in specials:
            continue
        try:
            ranks[bytes(decoder[char] for char in piece)] = rank
        except KeyError:
            return None
    return tiktoken.Encoding(
        "stackcurate-bpe", pat_str=TIKTOKEN_PATTERN, mergeable_ranks=ranks, special_tokens=specials
    )


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
