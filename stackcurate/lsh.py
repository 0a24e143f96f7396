"""LSH banding for MinHash near dedup: the ``(bands, rows)`` that best split ``num_perm`` permutations for a
Jaccard threshold. Below the config (which derives a near-dedup stage's banding from it, once) and the
dedup passes alike."""

from __future__ import annotations

import numpy as np


def optimal_bands(
    threshold: float, num_perm: int, fp_weight: float = 0.5, fn_weight: float = 0.5
) -> tuple[int, int]:
    """(bands, rows) minimising the weighted false-positive and false-negative areas at ``threshold``
    (the search datasketch and bigcode-dataset use; 0.7 and 256 give 25 x 10)."""

    def area(fn, lo: float, hi: float, steps: int = 200) -> float:
        xs = np.linspace(lo, hi, steps + 1)
        ys = fn(xs)
        return float(np.sum((ys[1:] + ys[:-1]) / 2 * np.diff(xs)))

    best, best_error = (1, num_perm), float("inf")
    for bands in range(1, num_perm + 1):
        for rows in range(1, num_perm // bands + 1):
            fp = area(lambda s, b=bands, r=rows: 1 - (1 - s**r) ** b, 0.0, threshold)
            fn = area(lambda s, b=bands, r=rows: (1 - s**r) ** b, threshold, 1.0)
            error = fp * fp_weight + fn * fn_weight
            if error < best_error:
                best, best_error = (bands, rows), error
    return best
