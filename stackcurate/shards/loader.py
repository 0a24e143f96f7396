"""A PyTorch ``IterableDataset`` over training shards: distributed and multi-worker splitting with equal
sample counts, a shuffle buffer, FIM at training time, packing to ``seq_len``, and exact resumption.

Splitting: the unit of work is a Parquet row group. Every (rank, DataLoader worker) pair -- ``world_size x
num_workers`` readers -- takes row groups ``[reader::readers]`` of the epoch's row-group order (shuffled
with ``(seed, epoch)``, the same on every reader), so each document is read once per epoch by one reader.
Rank and world size come from ``torch.distributed`` when it is initialised, or from the arguments.

Equal counts (the policy of PyTorch's ``DistributedSampler``, pad by repetition): every reader yields
exactly ``samples_per_reader()`` samples per epoch, so every rank runs the same number of steps and no
collective waits for a rank that ran out. Without packing that is the largest reader's document count;
with packing, the largest reader's expected window count, ``ceil((tokens + documents x (1 + 7 x
fim_rate)) / seq_len)`` (one ``<|endoftext|>`` per document; a FIM document gains three sentinels and
about one token per cut that splits a token: ``FIM_EXTRA_TOKENS``), from the ``n_tokens`` column read
once. A reader whose own share ends first continues with padding: the epoch's row groups again, from its
own position in the order (repeated documents). Its own share is always read whole before any padding.
Should FIM make a reader's own stream longer than that (rare: far more FIM documents than expected), its
last windows are dropped (the remainder policy; ``remainder_windows`` counts them in the process that
iterates), as the token tail shorter than one window at the end of every reader's stream always is.

FIM (``stackcurate.shards.fim``): with probability ``fim_rate`` a document is cut into prefix, middle and
suffix, PSM or (``fim_spm_rate``) SPM; text is re-encoded as ordinary text only, so code that spells a
special token never becomes one. Documents are then joined with ``<|endoftext|>`` and cut into
``seq_len`` tokens (``pack=True``), or yielded one by one (``pack=False``: ``{"input_ids", "doc"}``,
``doc`` a stable document key).

Resumption: iterate through ``ShardLoader`` (a ``DataLoader`` that counts, in the main process, the batches
the training loop received): ``state_dict()`` -- of the loader or of the dataset -- is then exact with any
``num_workers``: ``{"epoch", "samples", "batches"}``. The stream is deterministic for a seed, so a restored
loader skips what was consumed: DataLoader takes batch ``j`` from worker ``j % num_workers`` and every
worker yields the same number of samples, so after ``k`` batches worker ``w`` continues the stream of
worker ``(w + k) % num_workers`` and skips that worker's batches among the first ``k``. Iterating the
dataset directly (no DataLoader) counts samples in the dataset itself.
"""

from __future__ import annotations

import itertools
import json
import math
import random
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
import torch
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

from stackcurate.shards.fim import apply_fim, special_mask
from stackcurate.shards.tokenizer import EOS, fast_encoder, load_tokenizer

__all__ = ["FIM_EXTRA_TOKENS", "ShardDataset", "ShardLoader", "apply_fim"]

#: tokens a FIM document gains, for the window estimate: three sentinels plus about one per cut that falls
#: inside a token. Measured with apply_fim on 3,000 documents of the StarCoder run of the sample repositories
#: (49,152-token vocabulary): mean +5.0, p99 +8, max +10. 7 (mean + 2) makes a share longer than its
#: estimate very unlikely, at the cost of padding about 1 token per FIM document (~0.03% of the tokens).
FIM_EXTRA_TOKENS = 7
RowGroup = tuple[int, int, int, int]  # (file index, row group, documents, tokens)


class ShardDataset(IterableDataset):
    """Training samples from a shards folder (see the module docstring for the contract).

    ``seq_len``: tokens per packed sample (default 2048); ``fim_rate`` 0.5 and ``fim_spm_rate`` 0.5
    (StarCoder's); ``shuffle_buffer``: documents held for shuffling per reader (default 1000, <= 1: none);
    ``rank``/``world_size``: override ``torch.distributed``'s; ``pack``: windows of ``seq_len`` (default)
    or whole documents."""

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
        self.batches_done = 0
        self.remainder_windows = 0
        self._counted_by_loader = False
        self._padding = False
        self._resume: tuple[int, int, int] | None = None  # (batches, batch_size, num_workers)
        self.row_groups: list[RowGroup] = []
        for index, path in enumerate(self.files):
            parquet = pq.ParquetFile(path)
            tokens = parquet.read(columns=["n_tokens"]).column(0).to_numpy()
            start = 0
            for group in range(parquet.num_row_groups):
                rows = parquet.metadata.row_group(group).num_rows
                self.row_groups.append((index, group, rows, int(tokens[start : start + rows].sum())))
                start += rows
        self._tokenizer: Any = None
        self._fast: Any = None
        self._mask: np.ndarray | None = None

    def __getstate__(self) -> dict[str, Any]:
        # DataLoader workers get a copy: they load the tokenizer themselves, on first use
        return {**self.__dict__, "_tokenizer": None, "_fast": None, "_mask": None}

    # -- position ------------------------------------------------------------------------------------
    def set_epoch(self, epoch: int) -> None:
        """Start epoch ``epoch`` (another row-group order and shuffle); the position restarts at 0."""
        if epoch != self.epoch:
            self.samples_done = self.batches_done = 0
        self.epoch = epoch

    def state_dict(self) -> dict[str, int]:
        batches = self.batches_done if self._counted_by_loader else self.samples_done
        return {"epoch": self.epoch, "samples": self.samples_done, "batches": batches}

    def load_state_dict(self, state: dict[str, int], batch_size: int = 1, num_workers: int = 0) -> None:
        """Resume after the position ``state`` of epoch ``state["epoch"]``, consumed through a DataLoader
        with this ``batch_size`` and ``num_workers`` (``ShardLoader.load_state_dict`` passes its own). A
        state without ``"batches"`` (older) counts ``samples // batch_size`` batches."""
        self.epoch = int(state["epoch"])
        batches = int(state["batches"]) if "batches" in state else int(state["samples"]) // batch_size
        self._resume = (batches, batch_size, num_workers)
        self.samples_done, self.batches_done = int(state["samples"]), batches

    def _resume_plan(self, worker: int, workers: int) -> tuple[int, int]:
        """(the worker whose stream this DataLoader worker continues, samples to skip in it).

        DataLoader takes batch ``j`` from worker ``j % num_workers`` (every worker yields as many samples);
        after ``k`` consumed batches, the next batch ``k + j`` comes from worker ``(k + j) % num_workers``,
        so worker ``w`` of the resumed loader continues the stream of worker ``(w + k) % num_workers``."""
        if self._resume is None:
            return worker, 0
        batches, batch_size, num_workers = self._resume
        if num_workers <= 1:
            return worker, batches * batch_size
        continued = (worker + batches) % workers
        mine = sum(1 for batch in range(batches) if batch % num_workers == continued)
        return continued, mine * batch_size

    # -- splitting -------------------------------------------------------------------------------------
    def _readers(self, worker: int, workers: int) -> tuple[int, int]:
        rank, world = self.rank, self.world_size
        if rank is None or world is None:
            if torch.distributed.is_available() and torch.distributed.is_initialized():
                rank, world = torch.distributed.get_rank(), torch.distributed.get_world_size()
            else:
                rank, world = 0, 1
        return rank * workers + worker, world * workers

    def _order(self) -> list[RowGroup]:
        order = list(self.row_groups)
        random.Random(f"{self.seed}|{self.epoch}").shuffle(order)
        return order

    def samples_per_reader(self, readers: int) -> int:
        """Samples every one of ``readers`` readers yields per epoch (the module docstring's policy)."""
        order = self._order()
        shares = [order[reader::readers] for reader in range(readers)]
        if not self.pack:
            return max(sum(g[2] for g in share) for share in shares)
        extra = 1 + FIM_EXTRA_TOKENS * self.fim_rate
        expected = max(sum(g[3] + g[2] * extra for g in share) for share in shares)
        return math.ceil(expected / self.seq_len)

    # -- reading ---------------------------------------------------------------------------------------
    def _documents(self, groups: Iterable[RowGroup], rng: random.Random) -> Iterator[tuple[int, np.ndarray]]:
        files: dict[int, pq.ParquetFile] = {}
        buffer: list[tuple[int, np.ndarray]] = []
        for file_index, group, _, _ in groups:
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

    def _stream(self, reader: int, readers: int) -> Iterator[tuple[int, np.ndarray]]:
        """The reader's own share whole, then padding: the epoch's order again, cycled from the reader's
        position (endless; the caller stops after ``samples_per_reader``)."""
        order = self._order()
        rng = random.Random(f"{self.seed}|{self.epoch}|{reader}")
        yield from self._documents(order[reader::readers], rng)
        self._padding = True
        if order:
            start = reader % len(order)
            yield from self._documents(itertools.cycle(order[start:] + order[:start]), rng)

    def _samples(self, reader: int, readers: int) -> Iterator[dict[str, Any]]:
        rng = random.Random(f"{self.seed}|{self.epoch}|{reader}|fim")
        if self._tokenizer is None and (self.fim_rate > 0 or self.pack):
            self._tokenizer = load_tokenizer(self.tokenizer_path)
            self._fast = fast_encoder(self._tokenizer) if self.fim_rate > 0 else None
            self._mask = special_mask(self._tokenizer)
        eos = self._tokenizer.token_to_id(EOS) if self._tokenizer is not None else None
        chunks: list[np.ndarray] = []
        pending = 0
        for key, ids in self._stream(reader, readers):
            if self.fim_rate > 0 and rng.random() < self.fim_rate:
                fim = apply_fim(ids, self._tokenizer, rng, self.fim_spm_rate, self._fast, self._mask)
                ids = np.asarray(fim, dtype=np.int32)
            if not self.pack:
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
                yield {"input_ids": torch.from_numpy(sample.astype(np.int64))}
            rest = stream[full * self.seq_len :]
            chunks, pending = [rest], len(rest)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        info = get_worker_info()
        worker, workers = (info.id, info.num_workers) if info is not None else (0, 1)
        continued, skip = self._resume_plan(worker, workers)
        reader, readers = self._readers(continued, workers)
        total = self.samples_per_reader(readers)
        self._resume = None
        self._padding = False
        produced = 0
        samples = self._samples(reader, readers)
        for sample in samples:
            if produced >= total:
                if not self._padding:  # FIM made the own share longer than expected: the remainder
                    self.remainder_windows += 1
                    continue
                break
            produced += 1
            if produced <= skip:
                continue
            if not self._counted_by_loader:
                self.samples_done += 1
                self.batches_done += 1
            yield sample


class ShardLoader(DataLoader):
    """A ``DataLoader`` over a ``ShardDataset`` that counts, in the main process, what the training loop
    received, so ``state_dict()`` is exact with any ``num_workers`` (DataLoader's workers iterate copies of
    the dataset; their counts never reach the main process). Same arguments as ``DataLoader``."""

    dataset: ShardDataset

    def __init__(
        self, dataset: ShardDataset, batch_size: int | None = 1, num_workers: int = 0, **kwargs: Any
    ):
        super().__init__(dataset, batch_size=batch_size, num_workers=num_workers, **kwargs)
        dataset._counted_by_loader = True

    def __iter__(self) -> Iterator[Any]:  # type: ignore[override]
        for batch in super().__iter__():
            self.dataset.samples_done += 1 if self.batch_size is None else len(batch["input_ids"])
            self.dataset.batches_done += 1
            yield batch

    def state_dict(self) -> dict[str, int]:
        """``{"epoch", "samples", "batches"}`` consumed so far in this epoch."""
        return self.dataset.state_dict()

    def load_state_dict(self, state: dict[str, int]) -> None:
        """Continue right after ``state`` (from a loader with the same ``batch_size`` and ``num_workers``)."""
        self.dataset.load_state_dict(state, batch_size=self.batch_size or 1, num_workers=self.num_workers)
