"""The fork server's MinHash preload (``dedup/minhash_preload.py``): after it, every kernel holds machine code
for exactly the argument types the near-dedup passes call it with, so a task forked from the server compiles
and loads nothing. Run in a fresh interpreter: what it checks is what the import leaves behind."""

from __future__ import annotations

import subprocess
import sys

from stackcurate.config import load_config
from stackcurate.runner import task_modules

KERNELS = ["_signatures_kernel", "_band_keys_kernel", "_pair_jaccard_kernel", "_shingle_hashes_kernel"]

CHECK = f"""
import numpy as np
import stackcurate.dedup.minhash_preload
from stackcurate.dedup import minhash
kernels = [getattr(minhash, name) for name in {KERNELS!r}]
print([len(kernel.overloads) for kernel in kernels])
texts = ["def add(a, b):\\n    return a + b  # " + str(i) * i for i in range(50)]
sigs, tokens = minhash.MinHasher().signatures(texts)
minhash.band_keys(sigs[tokens >= minhash.NGRAM])
hashes = minhash.shingle_hashes(texts, minhash.NGRAM)
offsets = np.zeros(len(hashes) + 1, dtype=np.int64)
np.cumsum([len(h) for h in hashes], out=offsets[1:])
values = np.concatenate(hashes).astype(np.uint32)
left, right = np.array([0, 1], dtype=np.int64), np.array([1, 2], dtype=np.int64)
jaccard = minhash.pair_jaccard(values, offsets, left, right)
print([len(kernel.overloads) for kernel in kernels], bool(jaccard[0] > 0.5))
"""


def test_the_preload_compiles_every_kernel_for_the_types_the_passes_use() -> None:
    done = subprocess.run([sys.executable, "-c", CHECK], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["[1, 1, 1, 1]", "[1, 1, 1, 1] True"]


def test_the_runner_preloads_the_kernels_only_when_near_dedup_runs() -> None:
    assert "stackcurate.dedup.minhash_preload" in task_modules(load_config("pipelines/starcoder.yaml"))
    off = load_config("pipelines/starcoder.yaml", {"stages": {"near_dedup": None}})
    assert "stackcurate.dedup.minhash_preload" not in task_modules(off)
