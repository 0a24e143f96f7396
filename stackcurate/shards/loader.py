"""A PyTorch ``IterableDataset`` over training shards: distributed and multi-worker splitting, a shuffle
buffer, FIM at training time, packing to ``seq_len``, and resumption.

Splitting: the unit of work is a Parquet row group. Every (rank, DataLoader worker) pair -- ``world_size x
num_workers`` readers -- takes row groups ``[reader::readers]`` of the epoch's row-group order (shuffled
with ``(seed, epoch)``, the same on every reader), so each document is read exactly once per epoch.
Rank and world size come from ``torch.distributed`` when it is initialised, or from the arguments.

FIM (Bavarian et al. 2022, as Megatron-LM's BigCode fork applies it): with probability ``fim_rate`` a
document is decoded to text, cut at two uniformly drawn character positions into prefix, middle and
suffix, each part re-encoded, and laid out as PSM ``<fim_prefix> prefix <fim_suffix> suffix <fim_middle>
middle`` or, with probability ``fim_spm_rate``, SPM ``<fim_prefix> <fim_suffix> suffix <fim_middle> prefix
middle``. Documents are then joined with ``<|endoftext|>`` and cut into ``seq_len`` tokens (``pack=True``),
or yielded one by one (``pack=False``: ``{"input_ids", "doc"}``, ``doc`` a stable document key).

Resumption: ``state_dict()`` / ``load_state_dict()`` carry ``(epoch, samples)``; the stream is
deterministic for a given seed, so a restored dataset skips the samples already consumed: each DataLoader
worker continues the stream of the worker whose turn comes next in DataLoader's round-robin and skips that
worker's share (give ``load_state_dict`` the DataLoader's ``batch_size`` and ``num_workers``).
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
import torch
from torch.utils.data import IterableDataset, get_worker_info

from stackcurate.shards.tokenizer import (
    EOS,
    FIM_MIDDLE,
    FIM_PREFIX,
    FIM_SUFFIX,
    fast_encoder,
    load_tokenizer,
)


def apply_fim(
    ids: list[int], tokenizer: Any, rng: random.Random, spm_rate: float, fast: Any = None
) -> list[int]:
    """One document's tokens in FIM form (PSM, or SPM with probability ``spm_rate``). ``fast``: a tiktoken
    encoder of the same vocabulary (``fast_encoder``) to re-encode the parts ~4x faster."""
    text = fast.decode(ids) if fast is not None else tokenizer.decode(ids, skip_special_tokens=False)
    if len(text) < 2:
        return ids
    low, high = sorted(rng.randint(0, len(text)) for _ in range(2))
    prefix, middle, suffix = text[:low], text[low:high], text[high:]

    def encode(part: str) -> list[int]:
        if not part:
            return []
        if fast is not None:  # the same vocabulary, ~4x faster than the library on this hot path
            return fast.encode(part, allowed_special="all")
        return tokenizer.encode(part, add_special_tokens=False).ids

    pre, mid, suf = encode(prefix), encode(middle), encode(suffix)
    token = tokenizer.token_to_id
    if rng.random() < spm_rate:
        return [token(FIM_PREFIX), token(FIM_SUFFIX), *suf, token(FIM_MIDDLE), *pre, *mid]
    return [token(FIM_PREFIX), *pre, token(FIM_SUFFIX), *suf, token(FIM_MIDDLE), *mid]


class ShardDataset(IterableDataset):
    """Training samples from a shards folder (see the module docstring for the contract)."""

    def __init__(
        self,
        shards_dir: str | Path,
        seq_len: int = 2048,
        tokenizer: str | Path | None = None,
        fim_rate: float = 0.5,
        fim_spm_rate: float = 0.5,
        shuffle_buffer: int = 1000,
        seed: int = 0,
        rank: int | None = None,
        world_size: int | None = None,
        pack: bool = True,
    ):
        super().__init__()
        self.root = Path(shards_dir)
        manifest = json.loads((self.root / "manifest.json").read_text())
        self.files = [self.root / entry["file"] for entry in manifest["shards"]]
        self.tokenizer_path = str(tokenizer or manifest["tokenizer"]["path"])
        self.seq_len = seq_len
        self.fim_rate = fim_rate
        self.fim_spm_rate = fim_spm_rate
        self.shuffle_buffer = shuffle_buffer
        self.seed = seed
        self.rank, self.world_size = rank, world_size
        self.pack = pack
        self.epoch = 0
        self.samples_done = 0
        self._resume: tuple[int, int, int] | None = None  # (samples, batch_size, num_workers)
        self.row_groups = [
            (i, group)
            for i, path in enumerate(self.files)
            for group in range(pq.ParquetFile(path).num_row_groups)
        ]
        self._tokenizer: Any = None
        self._fast: Any = None

    def __getstate__(self) -> dict[str, Any]:
        # DataLoader workers get a copy: they load the tokenizer themselves, on first use
        return {**self.__dict__, "_tokenizer": None, "_fast": None}

    # -- position ------------------------------------------------------------------------------------
    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def state_dict(self) -> dict[str, int]:
        return {"epoch": self.epoch, "samples": self.samples_done}

    def load_state_dict(self, state: dict[str, int], batch_size: int = 1, num_workers: int = 0) -> None:
        """Resume after ``state["samples"]`` samples of epoch ``state["epoch"]`` were consumed through a
        DataLoader with this ``batch_size`` and ``num_workers``."""
        self.epoch = int(state["epoch"])
        self._resume = (int(state["samples"]), batch_size, num_workers)
        self.samples_done = int(state["samples"])

    def _resume_plan(self, worker: int, workers: int) -> tuple[int, int]:
        """(the worker whose stream this DataLoader worker continues, samples to skip in it).

        DataLoader takes batch ``j`` from worker ``j % num_workers``. After ``k`` consumed batches, the next
        batch ``k + j`` came from worker ``(k + j) % num_workers``, so worker ``w`` of the resumed loader
        continues the stream of worker ``(w + k) % num_workers``, skipping that worker's first batches."""
        if self._resume is None:
            return worker, 0
        samples, batch_size, num_workers = self._resume
        if num_workers <= 1:
            return worker, samples
        batches = samples // batch_size
        continued = (worker + batches) % workers
        mine = sum(1 for batch in range(batches) if batch % num_workers == continued)
        return continued, mine * batch_size

    # -- reading ---------------------------------------------------------------------------------------
    def _readers(self, worker: int, workers: int) -> tuple[int, int]:
        rank, world = self.rank, self.world_size
        if rank is None or world is None:
            if torch.distributed.is_available() and torch.distributed.is_initialized():
                rank, world = torch.distributed.get_rank(), torch.distributed.get_world_size()
            else:
                rank, world = 0, 1
        return rank * workers + worker, world * workers

    def _documents(self, reader: int, readers: int) -> Iterator[tuple[int, np.ndarray]]:
        order = list(self.row_groups)
        random.Random(f"{self.seed}|{self.epoch}").shuffle(order)
        files: dict[int, pq.ParquetFile] = {}
        rng = random.Random(f"{self.seed}|{self.epoch}|{reader}")
        buffer: list[tuple[int, np.ndarray]] = []
        for file_index, group in order[reader::readers]:
            parquet = files.setdefault(file_index, pq.ParquetFile(self.files[file_index]))
            column = parquet.read_row_group(group, columns=["input_ids"]).column(0).combine_chunks()
            values = column.values.to_numpy(zero_copy_only=False)
            offsets = column.offsets.to_numpy()
            for row in range(len(column)):
                ids = values[offsets[row] : offsets[row + 1]]
                key = (file_index << 40) | (group << 20) | row
                if self.shuffle_buffer <= 1:
                    yield key, ids
                    continue
                buffer.append((key, ids))
                if len(buffer) >= self.shuffle_buffer:
                    yield buffer.pop(rng.randrange(len(buffer)))
        rng.shuffle(buffer)
        yield from buffer

    def __iter__(self) -> Iterator[dict[str, Any]]:
        info = get_worker_info()
        worker, workers = (info.id, info.num_workers) if info is not None else (0, 1)
        worker, skip = self._resume_plan(worker, workers)
        reader, readers = self._readers(worker, workers)
        rng = random.Random(f"{self.seed}|{self.epoch}|{reader}|fim")
        if self._tokenizer is None and (self.fim_rate > 0 or self.pack):
            self._tokenizer = load_tokenizer(self.tokenizer_path)
            self._fast = fast_encoder(self._tokenizer) if self.fim_rate > 0 else None
        eos = self._tokenizer.token_to_id(EOS) if self._tokenizer is not None else None
        produced = 0
        chunks: list[np.ndarray] = []
        pending = 0
        for key, ids in self._documents(reader, readers):
            if self.fim_rate > 0 and rng.random() < self.fim_rate:
                ids = np.asarray(
                    apply_fim(ids.tolist(), self._tokenizer, rng, self.fim_spm_rate, self._fast),
                    dtype=np.int32,
                )
            if not self.pack:
                produced += 1
                if produced > skip:
                    self.samples_done += 1
                    yield {"input_ids": torch.from_numpy(ids.astype(np.int64)), "doc": key}
                continue
            chunks.append(ids)
            chunks.append(np.asarray([eos], dtype=np.int32))
            pending += len(ids) + 1
            if pending < self.seq_len:
                continue
            stream = np.concatenate(chunks)
            full = len(stream) // self.seq_len
            for sample in stream[: full * self.seq_len].reshape(full, self.seq_len):
                produced += 1
                if produced > skip:
                    self.samples_done += 1
                    yield {"input_ids": torch.from_numpy(sample.astype(np.int64))}
            rest = stream[full * self.seq_len :]
            chunks, pending = [rest], len(rest)
        self._resume = None
