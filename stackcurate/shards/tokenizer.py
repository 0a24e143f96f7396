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
import math
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute
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


def iter_curated_texts(curated: str | Path, batch_rows: int = 1024) -> Iterator[str]:
    """The ``content`` of every row of a curated folder, one Parquet batch at a time."""
    from datatrove.io import get_datafolder

    folder = get_datafolder(str(curated))
    for name in _curated_files(curated):
        with folder.open(name, "rb") as handle:
            for batch in pq.ParquetFile(handle).iter_batches(batch_size=batch_rows, columns=["content"]):
                yield from (text for text in batch.column(0).to_pylist() if text)


def _curated_files(curated: str | Path) -> list[str]:
    from datatrove.io import get_datafolder

    from stackcurate.parquet_io import list_parquet_files

    files = list_parquet_files(get_datafolder(str(curated)))
    if not files:
        raise FatalError(f"no Parquet files in {curated}")
    return files


#: a sample is drawn from at most this many times its size of the curated files: from all of them up to
#: that size (then the sample does not depend on how the folder is cut into files and row groups), else
#: from row groups chosen evenly over every file, so reading stays bounded by the sample's size, not the
#: corpus's (16 x 64 MB: about 5 s of Parquet reading, docs/scaling.md)
SAMPLE_READ_FACTOR = 16


def sample_curated_texts(curated: str | Path, max_bytes: int, batch_rows: int = 1024) -> Iterator[str]:
    """A sample of about ``max_bytes`` of the curated files' ``content``, spread over the
    whole folder: the rows whose id hashes (xxh3) below the sampling rate, so every part of the corpus --
    its repositories and languages -- is represented, not only the first files. Reading is bounded
    (``SAMPLE_READ_FACTOR``); sizes come from the Parquet footers (the content column's uncompressed
    size). A folder smaller than ``max_bytes`` is read whole. Deterministic, and the same whatever the
    order of the rows and (up to ``SAMPLE_READ_FACTOR`` x ``max_bytes``) their cut into files."""
    import xxhash
    from datatrove.io import get_datafolder

    folder = get_datafolder(str(curated))
    groups: list[tuple[str, int, int]] = []  # (file, row group, content bytes by the footer)
    for name in _curated_files(curated):
        with folder.open(name, "rb") as handle:
            meta = pq.ParquetFile(handle).metadata
        column = meta.schema.names.index("content")
        for index in range(meta.num_row_groups):
            groups.append((name, index, meta.row_group(index).column(column).total_uncompressed_size))
    total = sum(size for _, _, size in groups)
    if total <= max_bytes:
        yield from iter_curated_texts(curated, batch_rows)
        return
    wanted = min(len(groups), max(1, math.ceil(len(groups) * SAMPLE_READ_FACTOR * max_bytes / total)))
    picked = [groups[(i * len(groups)) // wanted] for i in range(wanted)]
    rate = min(1.0, max_bytes / _content_bytes(folder, picked))
    below = int(rate * 2**64)
    for name, index, _ in picked:
        with folder.open(name, "rb") as handle:
            batches = pq.ParquetFile(handle).iter_batches(
                batch_size=batch_rows, row_groups=[index], columns=["id", "content"]
            )
            for batch in batches:
                ids = batch.column(0).to_pylist()
                taken = [i for i, doc in enumerate(ids) if xxhash.xxh3_64_intdigest(doc or "") < below]
                if taken:
                    texts = batch.column(1).take(pa.array(taken, type=pa.int64())).to_pylist()
                    yield from (text for text in texts if text)


def _content_bytes(folder: Any, groups: list[tuple[str, int, int]]) -> int:
    """The content bytes of row groups ``(file, index, footer size)``: their ``size_bytes`` summed (the
    files' sizes as cloned: the same however the rows are cut into row groups, where the footers' sizes
    carry page overheads that are not), or the footers' sizes when the folder has no ``size_bytes``."""
    total = 0
    for name, index, footer in groups:
        with folder.open(name, "rb") as handle:
            parquet = pq.ParquetFile(handle)
            if "size_bytes" not in parquet.schema_arrow.names:
                total += footer
                continue
            sizes = parquet.read_row_group(index, columns=["size_bytes"]).column(0)
            total += int(pa.compute.sum(sizes).as_py() or 0)
    return max(1, total)


class TrainingText:
    """The texts a tokenizer is trained on, counted (files, UTF-8 bytes) as the trainer reads them."""

    def __init__(self, texts: Iterable[str]):
        self.texts = texts
        self.files = 0
        self.bytes = 0

    def __iter__(self) -> Iterator[str]:
        for text in self.texts:
            self.files += 1
            self.bytes += len(text.encode("utf-8"))
            yield text


def training_text(curated: str | Path, max_bytes: int | None = None) -> TrainingText:
    """The curated files' content to train on: all of it, or with ``max_bytes`` a sample of about that
    size drawn from the whole folder (``sample_curated_texts``)."""
    if max_bytes is None:
        return TrainingText(iter_curated_texts(curated))
    return TrainingText(sample_curated_texts(curated, max_bytes))


def train_on(texts: Iterable[str], vocab_size: int = 49152, min_frequency: int = 2) -> Any:
    """A byte-level BPE tokenizer (``tokenizers.Tokenizer``) trained on ``texts``: StarCoder's recipe (see
    the module docstring)."""
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
    tokenizer.train_from_iterator(texts, trainer=trainer)
    return tokenizer


def train_tokenizer(
    curated: str | Path, vocab_size: int = 49152, min_frequency: int = 2, max_bytes: int | None = None
) -> Any:
    """A byte-level BPE tokenizer trained on the curated files (``tokenizers.Tokenizer``); ``max_bytes``
    trains on a sample of about that size drawn from the whole folder (``sample_curated_texts``)."""
    return train_on(training_text(curated, max_bytes), vocab_size, min_frequency)


def vocabulary_shortfall(
    tokenizer: Any, vocab_size: int, text: TrainingText, min_frequency: int = 2
) -> str | None:
    """Why a trained tokenizer has fewer tokens than ``vocab_size`` asked (None when it has them all).

    BPE adds a token per merge of the most frequent pair, and stops when no pair of the training text
    occurs ``min_frequency`` times any more: a small or repetitive text runs out of pairs first."""
    size = tokenizer.get_vocab_size()
    if size >= vocab_size:
        return None
    return (
        f"the tokenizer has {size:,} tokens, fewer than the {vocab_size:,} asked: its training text "
        f"({text.files:,} files, {text.bytes / 1e6:.1f} MB) has no other pair of tokens that occurs at least "
        f"{min_frequency} times. Train on more text (stages.shards.train_max_bytes, or a larger corpus) "
        "or ask for fewer tokens (stages.shards.train_vocab_size)"
    )


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
