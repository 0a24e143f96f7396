"""Train a tiny decoder-only transformer on stackcurate training shards with ``ShardDataset``.

    python examples/train_tiny_gpt.py SHARDS_DIR [--steps 200] [--seq-len 128] [--batch-size 8]
                                                 [--workers 2] [--device auto]

Uses CUDA when it is available (``--device auto``), else the CPU. The loader applies FIM (rate 0.5, SPM
0.5) and packs documents to ``--seq-len`` with ``<|endoftext|>`` between them; the model predicts the next
token. Prints the loss every ``--log-every`` steps; ``train()`` returns the losses for tests.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import DataLoader

from stackcurate.shards.loader import ShardDataset


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
) -> list[float]:
    torch.manual_seed(seed)
    target = torch.device(
        "cuda" if device == "auto" and torch.cuda.is_available() else "cpu" if device == "auto" else device
    )
    manifest = json.loads((Path(shards) / "manifest.json").read_text())
    vocab = manifest["tokenizer"]["vocab_size"]
    dataset = ShardDataset(shards, seq_len=seq_len + 1, seed=seed, shuffle_buffer=256)
    loader = DataLoader(dataset, batch_size=batch_size, num_workers=workers)
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
        dataset.set_epoch(dataset.epoch + 1)
    return losses


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("shards")
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--seq-len", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--log-every", type=int, default=20)
    args = parser.parse_args()
    losses = train(
        args.shards,
        args.steps,
        args.seq_len,
        args.batch_size,
        args.workers,
        args.device,
        log_every=args.log_every,
    )
    first, last = sum(losses[:10]) / 10, sum(losses[-10:]) / 10
    print(f"loss {first:.3f} -> {last:.3f} over {len(losses)} steps")


if __name__ == "__main__":
    main()
