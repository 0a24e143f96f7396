"""Train a tiny decoder-only transformer on stackcurate's training data: the Parquet shards through
``ShardLoader``, or a Megatron-LM export (``stackcurate shards export --format megatron``) through
megatron-core's ``IndexedDataset``.

    python examples/train_tiny_gpt.py SHARDS_DIR [--steps 200] [--seq-len 128] [--batch-size 8]
                                                 [--workers 2] [--device auto]
    python examples/train_tiny_gpt.py EXPORT_DIR --megatron [...]

Uses CUDA when it is available (``--device auto``), else the CPU. From the shards, the loader applies FIM
(rate 0.5, SPM 0.5) and packs documents to ``--seq-len`` with ``<|endoftext|>`` between them. From the
Megatron export (``<|endoftext|>`` already after every document, no FIM: Megatron's BigCode fork applies it
in its own dataset), documents are read in a seeded order per epoch, split between DataLoader workers, and
packed the same way. The model predicts the next token. Prints the loss every ``--log-every`` steps;
``train()`` returns the losses for tests.
"""

from __future__ import annotations

import argparse
import json
import math
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

from stackcurate.shards.export import MEGATRON_PREFIX
from stackcurate.shards.loader import ShardDataset, ShardLoader


def _indexed_dataset(prefix: str):
    """megatron-core's ``IndexedDataset`` of ``prefix``. Importing megatron-core without Transformer Engine
    or Apex warns four times per process that it falls back to PyTorch (eight lines on stderr with two
    loader workers); this example needs neither, so those warnings, and only those, are silenced."""
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message="Transformer Engine and Apex are not installed", category=UserWarning
        )
        from megatron.core.datasets.indexed_dataset import IndexedDataset

    return IndexedDataset(prefix)


class MegatronWindows(IterableDataset):
    """Windows of ``seq_len`` tokens from a Megatron indexed dataset: documents in a seeded order per epoch
    (worker ``w`` of ``n`` takes every ``n``-th), concatenated (they end with ``<|endoftext|>``), cut, and
    shuffled in a buffer of ``shuffle_windows`` windows."""

    def __init__(self, export_dir: str, seq_len: int, seed: int = 0, shuffle_windows: int = 256):
        super().__init__()
        self.prefix = str(Path(export_dir) / MEGATRON_PREFIX)
        self.seq_len, self.seed, self.epoch = seq_len, seed, 0
        self.shuffle_windows = shuffle_windows

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self):
        documents = _indexed_dataset(self.prefix)
        info = get_worker_info()
        worker, workers = (info.id, info.num_workers) if info is not None else (0, 1)
        rng = np.random.default_rng([self.seed, self.epoch, worker])
        order = np.random.default_rng([self.seed, self.epoch]).permutation(len(documents))
        pending = np.zeros(0, dtype=np.int64)
        windows: list[np.ndarray] = []  # a shuffle buffer: Megatron's GPTDataset shuffles its samples too
        for index in order[worker::workers]:
            pending = np.concatenate([pending, documents[int(index)].astype(np.int64)])
            while len(pending) >= self.seq_len:
                windows.append(pending[: self.seq_len].copy())
                pending = pending[self.seq_len :]
            while len(windows) > self.shuffle_windows:
                yield {"input_ids": torch.from_numpy(windows.pop(int(rng.integers(len(windows)))))}
        for at in rng.permutation(len(windows)):
            yield {"input_ids": torch.from_numpy(windows[at])}


class TinyGPT(nn.Module):
    """Token + position embeddings, a few pre-norm transformer blocks with a causal mask, tied output."""

    def __init__(self, vocab_size: int, seq_len: int, dim: int = 128, layers: int = 2, heads: int = 4):
        super().__init__()
        self.tokens = nn.Embedding(vocab_size, dim)
        self.positions = nn.Embedding(seq_len, dim)
        block = nn.TransformerEncoderLayer(
            dim, heads, 4 * dim, dropout=0.0, batch_first=True, norm_first=True
        )
        self.blocks = nn.TransformerEncoder(block, layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(dim)
        nn.init.normal_(self.tokens.weight, std=0.02)  # GPT-2's init: the first loss is near ln(vocab)
        nn.init.normal_(self.positions.weight, std=0.02)
        mask = torch.triu(torch.full((seq_len, seq_len), float("-inf")), diagonal=1)
        self.register_buffer("mask", mask, persistent=False)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        length = ids.shape[1]
        x = self.tokens(ids) + self.positions(torch.arange(length, device=ids.device))
        x = self.blocks(x, mask=self.mask[:length, :length], is_causal=True)
        return self.norm(x) @ self.tokens.weight.T


def train(
    shards: str,
    steps: int = 200,
    seq_len: int = 128,
    batch_size: int = 8,
    workers: int = 2,
    device: str = "auto",
    lr: float = 3e-3,
    log_every: int = 20,
    seed: int = 0,
    megatron: bool = False,
    threads: int | None = None,
) -> list[float]:
    """Train for ``steps`` steps on ``shards`` (a shards folder, or with ``megatron`` a Megatron export
    folder); returns the loss of every step. ``threads``: torch's CPU threads (default: torch's choice;
    1 is ~10x faster for this tiny model on a machine whose cores are busy)."""
    torch.manual_seed(seed)
    if threads:
        torch.set_num_threads(threads)
    target = torch.device(
        "cuda" if device == "auto" and torch.cuda.is_available() else "cpu" if device == "auto" else device
    )
    dataset: ShardDataset | MegatronWindows
    if megatron:
        vocab = json.loads((Path(shards) / "export.json").read_text())["vocab_size"]
        dataset = MegatronWindows(shards, seq_len + 1, seed=seed)
        loader: DataLoader = DataLoader(dataset, batch_size=batch_size, num_workers=workers)
    else:
        vocab = json.loads((Path(shards) / "manifest.json").read_text())["tokenizer"]["vocab_size"]
        dataset = ShardDataset(shards, seq_len=seq_len + 1, seed=seed, shuffle_buffer=256)
        loader = ShardLoader(dataset, batch_size=batch_size, num_workers=workers)
    epoch = 0
    model = TinyGPT(vocab, seq_len).to(target)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr)
    losses: list[float] = []
    started = time.monotonic()
    step = 0
    while step < steps:
        for batch in loader:
            ids = batch["input_ids"].to(target)
            logits = model(ids[:, :-1])
            loss = nn.functional.cross_entropy(logits.reshape(-1, vocab), ids[:, 1:].reshape(-1))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
            step += 1
            if step % log_every == 0 or step == steps:
                recent = sum(losses[-log_every:]) / len(losses[-log_every:])
                print(
                    f"step {step:>5}  loss {recent:.3f}  ppl {math.exp(recent):.1f}  "
                    f"{time.monotonic() - started:.1f}s on {target}"
                )
            if step >= steps:
                break
        epoch += 1
        dataset.set_epoch(epoch)
    return losses


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("shards", help="a shards folder, or with --megatron a Megatron export folder")
    parser.add_argument(
        "--megatron", action="store_true", help="read a `stackcurate shards export --format megatron` folder"
    )
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--seq-len", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--log-every", type=int, default=20)
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")
    args = parser.parse_args()
    losses = train(
        args.shards,
        args.steps,
        args.seq_len,
        args.batch_size,
        args.workers,
        args.device,
        log_every=args.log_every,
        megatron=args.megatron,
        threads=args.threads,
    )
    first, last = sum(losses[:10]) / 10, sum(losses[-10:]) / 10
    print(f"loss {first:.3f} -> {last:.3f} over {len(losses)} steps")


if __name__ == "__main__":
    main()
