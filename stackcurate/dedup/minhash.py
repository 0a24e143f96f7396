"""MinHash signatures and LSH band keys, computed over whole batches outside the interpreter (numba).

StarCoder's near-dedup parameters (docs/architecture.md): tokens are the runs of ``[A-Za-z_0-9]`` (everything
else separates), shingles are 5-grams of consecutive tokens, 256 permutations, Jaccard threshold 0.7 with
25 bands of 10 rows. Files with fewer than 5 tokens have no shingle and no signature (the caller skips and
counts them).

Differences from bigcode-dataset's script (``NON_ALPHA.split`` + datasketch), on purpose:

- empty tokens are dropped: ``re.split`` yields ``''`` between two adjacent separators, which makes a
  re-indented copy look different; here a reformatted file has exactly the same shingles;
- the kernel hashes each token with FNV-1a (64 bit), combines five token hashes into a shingle hash
  (multiply-xor, then murmur3's 64-bit finaliser) and applies 256 multiply-add-shift permutations
  ``((a * x + b) mod 2**64) >> 32`` on the shingle's 32-bit hash (Dietzfelbinger's universal family,
  which vectorises; datasketch's ``(a * x + b) mod (2**61 - 1)`` does not). Estimates agree with
  datasketch's within the estimator's own error (tests/dedup/test_near.py).

Text is read as UTF-8 bytes; a non-ASCII byte is a separator, as a non-ASCII character is for the regex.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np
from numba import njit

NGRAM = 5
NUM_PERM = 256
BANDS = 25
ROWS = 10
TOKEN_PATTERN = re.compile(r"[A-Za-z_0-9]+")

_WORD = np.zeros(256, dtype=np.uint8)
for _byte in b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_0123456789":
    _WORD[_byte] = 1

_FNV_OFFSET = np.uint64(0xCBF29CE484222325)
_FNV_PRIME = np.uint64(0x100000001B3)
_MIX_PRIME = np.uint64(0x9E3779B97F4A7C15)


@njit(cache=True, inline="always")
def _fmix64(h: np.uint64) -> np.uint64:
    h ^= h >> np.uint64(33)
    h *= np.uint64(0xFF51AFD7ED558CCD)
    h ^= h >> np.uint64(33)
    h *= np.uint64(0xC4CEB9FE1A85EC53)
    h ^= h >> np.uint64(33)
    return h


@njit(cache=True, inline="always")
def _shingle_hash(ring: np.ndarray, start: int, ngram: int) -> np.uint64:
    h = np.uint64(0)
    for k in range(ngram):
        h = (h ^ ring[(start + k) % ngram]) * _MIX_PRIME
    return _fmix64(h)


@njit(cache=True, inline="always")
def _permute_min(x: np.uint64, a: np.ndarray, b: np.ndarray, sig: np.ndarray) -> None:
    for j in range(a.shape[0]):
        v = np.uint32((a[j] * x + b[j]) >> np.uint64(32))
        if v < sig[j]:
            sig[j] = v


@njit(cache=True)
def _signatures_kernel(
    data: np.ndarray,
    offsets: np.ndarray,
    word: np.ndarray,
    a: np.ndarray,
    b: np.ndarray,
    ngram: int,
    sigs: np.ndarray,
    tokens: np.ndarray,
) -> None:
    ring = np.zeros(ngram, dtype=np.uint64)
    for i in range(offsets.shape[0] - 1):
        sig = sigs[i]
        sig[:] = np.uint32(0xFFFFFFFF)
        count = 0
        h = _FNV_OFFSET
        in_token = False
        end = offsets[i + 1]
        for p in range(offsets[i], end + 1):
            is_word = p < end and word[data[p]] == 1
            if is_word:
                h = (h ^ np.uint64(data[p])) * _FNV_PRIME
                in_token = True
            elif in_token:
                ring[count % ngram] = h
                count += 1
                if count >= ngram:
                    x = _shingle_hash(ring, count, ngram) >> np.uint64(32)
                    _permute_min(x, a, b, sig)
                h = _FNV_OFFSET
                in_token = False
        tokens[i] = count


@njit(cache=True)
def _band_keys_kernel(sigs: np.ndarray, bands: int, rows: int, keys: np.ndarray) -> None:
    for i in range(sigs.shape[0]):
        for band in range(bands):
            h = np.uint64(band + 1) * _MIX_PRIME
            for r in range(rows):
                h = (h ^ np.uint64(sigs[i, band * rows + r])) * _MIX_PRIME
            keys[i, band] = _fmix64(h)


@njit(cache=True)
def _shingle_hashes_kernel(
    data: np.ndarray, offsets: np.ndarray, word: np.ndarray, ngram: int, out: np.ndarray, counts: np.ndarray
) -> None:
    """The 32-bit shingle hashes the signature kernel permutes, per text, concatenated into ``out``."""
    ring = np.zeros(ngram, dtype=np.uint64)
    written = 0
    for i in range(offsets.shape[0] - 1):
        count = 0
        before = written
        h = _FNV_OFFSET
        in_token = False
        end = offsets[i + 1]
        for p in range(offsets[i], end + 1):
            if p < end and word[data[p]] == 1:
                h = (h ^ np.uint64(data[p])) * _FNV_PRIME
                in_token = True
            elif in_token:
                ring[count % ngram] = h
                count += 1
                if count >= ngram:
                    out[written] = np.uint32(_shingle_hash(ring, count, ngram) >> np.uint64(32))
                    written += 1
                h = _FNV_OFFSET
                in_token = False
        counts[i] = written - before


def shingle_hashes(texts: list[str], ngram: int) -> list[np.ndarray]:
    """Sorted unique 32-bit shingle hashes of each text (what ``verify`` compares)."""
    data, offsets = pack_texts(texts)
    # a shingle ends a token and a text of n bytes holds at most (n + 1) // 2 tokens
    out = np.empty((len(data) + len(texts)) // 2 + 1, dtype=np.uint32)
    counts = np.empty(len(texts), dtype=np.int64)
    _shingle_hashes_kernel(data, offsets, _WORD, ngram, out, counts)
    ends = np.cumsum(counts)
    return [np.unique(out[end - n : end]) for end, n in zip(ends, counts, strict=True)]


@njit(cache=True)
def _pair_jaccard_kernel(
    values: np.ndarray, offsets: np.ndarray, left: np.ndarray, right: np.ndarray, out: np.ndarray
) -> None:
    for e in range(left.shape[0]):
        i, j = offsets[left[e]], offsets[right[e]]
        i_end, j_end = offsets[left[e] + 1], offsets[right[e] + 1]
        size = (i_end - i) + (j_end - j)
        common = 0
        while i < i_end and j < j_end:
            if values[i] == values[j]:
                common += 1
                i += 1
                j += 1
            elif values[i] < values[j]:
                i += 1
            else:
                j += 1
        union = size - common
        out[e] = common / union if union else 1.0


def pair_jaccard(values: np.ndarray, offsets: np.ndarray, left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Exact Jaccard of the sets ``left[e]`` and ``right[e]``, where set ``i`` is the sorted unique
    ``values[offsets[i]:offsets[i + 1]]``."""
    out = np.empty(len(left), dtype=np.float64)
    _pair_jaccard_kernel(values, offsets, left, right, out)
    return out


def permutations(num_perm: int = NUM_PERM, seed: int = 42) -> tuple[np.ndarray, np.ndarray]:
    """The ``(a, b)`` of ``num_perm`` multiply-add-shift permutations (``a`` odd), drawn from ``seed``."""
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 2**64, size=num_perm, dtype=np.uint64, endpoint=False) | np.uint64(1)
    b = rng.integers(0, 2**64, size=num_perm, dtype=np.uint64, endpoint=False)
    return a, b


def pack_texts(texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """UTF-8 bytes of ``texts`` in one array, with ``len(texts) + 1`` offsets."""
    encoded = [text.encode("utf-8", errors="surrogatepass") for text in texts]
    offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
    np.cumsum([len(chunk) for chunk in encoded], out=offsets[1:])
    return np.frombuffer(b"".join(encoded), dtype=np.uint8), offsets


class MinHasher:
    """Signatures of batches of texts: ``MinHasher().signatures(texts) -> (uint32[n, num_perm], tokens[n])``.

    A row whose token count is below ``ngram`` has no shingle; its signature is all ``0xFFFFFFFF`` and must
    not be bucketed (``tokens`` tells which)."""

    def __init__(self, num_perm: int = NUM_PERM, ngram: int = NGRAM, seed: int = 42):
        if num_perm < 1 or ngram < 1:
            raise ValueError("num_perm and ngram must be positive")
        self.num_perm = num_perm
        self.ngram = ngram
        self.a, self.b = permutations(num_perm, seed)

    def signatures(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        data, offsets = pack_texts(texts)
        sigs = np.empty((len(texts), self.num_perm), dtype=np.uint32)
        tokens = np.empty(len(texts), dtype=np.int64)
        _signatures_kernel(data, offsets, _WORD, self.a, self.b, self.ngram, sigs, tokens)
        return sigs, tokens


def band_keys(sigs: np.ndarray, bands: int = BANDS, rows: int = ROWS) -> np.ndarray:
    """One 64-bit key per (row, band): the hash of the band's ``rows`` signature values."""
    if bands * rows > sigs.shape[1]:
        raise ValueError(
            f"{bands} bands x {rows} rows need {bands * rows} permutations, have {sigs.shape[1]}"
        )
    keys = np.empty((sigs.shape[0], bands), dtype=np.uint64)
    _band_keys_kernel(np.ascontiguousarray(sigs), bands, rows, keys)
    return keys


def estimate_jaccard(sig_a: np.ndarray, sig_b: np.ndarray) -> float:
    """The fraction of equal signature values: MinHash's estimate of the Jaccard similarity."""
    return float(np.mean(sig_a == sig_b))


def tokenize(text: str) -> list[str]:
    """The tokens the kernel sees (for references and tests): runs of ``[A-Za-z_0-9]``."""
    return TOKEN_PATTERN.findall(text)


def shingles(text: str, ngram: int = NGRAM) -> set[str]:
    """The shingle set of ``text`` as strings (the reference form datasketch and exact Jaccard use)."""
    tokens = tokenize(text)
    return {" ".join(tokens[i : i + ngram]) for i in range(len(tokens) - ngram + 1)}


def jaccard(a: set[str], b: set[str]) -> float:
    """Exact Jaccard similarity of two sets (1.0 for two empty sets)."""
    if not a and not b:
        return 1.0
    return len(a & b) / len(a | b)


def warm_up() -> None:
    """Run every kernel once on a tiny input, so that numba loads (or, on a fresh install, compiles) their
    machine code in this process: about 0.8 s of CPU on the first call of a process, which a process forked
    afterwards inherits instead of paying again (``dedup/minhash_preload.py``)."""
    hasher = MinHasher(num_perm=ROWS)
    sigs, _ = hasher.signatures(["warm up the minhash kernels once"])
    band_keys(sigs, bands=1, rows=ROWS)
    values = np.array([1, 2, 2, 3], dtype=np.uint32)
    pair_jaccard(values, np.array([0, 2, 4], dtype=np.int64), np.array([0]), np.array([1]))
    shingle_hashes(["warm up the shingle kernel once"], NGRAM)
