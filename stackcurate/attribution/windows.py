"""Window hashes of code, computed over UTF-8 bytes by a compiled kernel (numba).

Tokens: runs of word bytes (ASCII letters, digits, ``_`` and every non-ASCII byte, so a non-ASCII letter
stays inside its word) or single other non-blank ASCII characters; ASCII blanks separate tokens and are
otherwise ignored, which makes the windows insensitive to reformatting. A window is ``window`` consecutive
tokens; its hash folds the tokens' FNV-1a hashes with a multiply-xor and murmur3's finaliser (64 bits).

Fingerprints (``winnow``): of every ``guard`` consecutive windows the one with the smallest hash (the
rightmost on a tie), as MOSS does (Schleimer, Wilkerson and Aiken, "Winnowing", SIGMOD 2003). About
2 / (guard + 1) of the windows are fingerprints, and a passage of at least ``window + guard - 1`` tokens
shared by two texts yields the same fingerprints in both: the choice in a run of ``guard`` windows depends
on those windows alone.
"""

from __future__ import annotations

import re

import numpy as np
from numba import njit

from stackcurate.dedup.minhash import _fmix64, pack_texts

_KIND = np.zeros(256, dtype=np.uint8)  # 0 blank, 1 word, 2 single-character token
for _byte in range(256):
    if _byte in b" \t\n\r\x0b\x0c":
        _KIND[_byte] = 0
    elif _byte >= 0x80 or chr(_byte).isalnum() or _byte == ord("_"):
        _KIND[_byte] = 1
    else:
        _KIND[_byte] = 2


@njit(cache=True)
def _windows_kernel(
    data: np.ndarray,
    offsets: np.ndarray,
    kind: np.ndarray,
    window: int,
    hashes: np.ndarray,
    counts: np.ndarray,
) -> None:
    ring = np.zeros(window, dtype=np.uint64)
    written = 0
    for doc in range(offsets.shape[0] - 1):
        count = 0
        before = written
        p = offsets[doc]
        end = offsets[doc + 1]
        while p < end:
            k = kind[data[p]]
            if k == 0:
                p += 1
                continue
            h = np.uint64(0xCBF29CE484222325)
            if k == 1:
                while p < end and kind[data[p]] == 1:
                    h = (h ^ np.uint64(data[p])) * np.uint64(0x100000001B3)
                    p += 1
            else:
                h = (h ^ np.uint64(data[p])) * np.uint64(0x100000001B3)
                p += 1
            ring[count % window] = h
            count += 1
            if count >= window:
                w = np.uint64(0)
                for j in range(window):
                    w = (w ^ ring[(count + j) % window]) * np.uint64(0x9E3779B97F4A7C15)
                hashes[written] = _fmix64(w)
                written += 1
        counts[doc] = written - before


@njit(cache=True)
def _winnow_kernel(hashes: np.ndarray, counts: np.ndarray, guard: int, chosen: np.ndarray) -> int:
    written = 0
    base = 0
    for doc in range(counts.shape[0]):
        n = counts[doc]
        last = -1
        if n == 0:
            continue
        for start in range(max(1, n - guard + 1)):
            best = start
            for j in range(start + 1, min(start + guard, n)):
                if hashes[base + j] <= hashes[base + best]:
                    best = j
            if best != last:
                chosen[written] = base + best
                written += 1
                last = best
        base += n
    return written


def winnow(hashes: np.ndarray, counts: np.ndarray, guard: int) -> np.ndarray:
    """Indices into ``hashes`` of the fingerprints of each text (``counts`` windows per text, in order):
    the smallest hash of every ``guard`` consecutive windows of a text, each index once."""
    if guard < 1:
        raise ValueError(f"guard must be at least 1, got {guard}")
    chosen = np.empty(len(hashes), dtype=np.int64)
    written = _winnow_kernel(hashes, counts.astype(np.int64), guard, chosen)
    return chosen[:written]


def window_hashes_batch(texts: list[str], window: int) -> tuple[np.ndarray, np.ndarray]:
    """All window hashes of ``texts`` (uint64, concatenated) and the number of windows per text."""
    data, offsets = pack_texts(texts)
    hashes = np.empty(len(data) + 1, dtype=np.uint64)  # at most one token, so one window, per byte
    counts = np.empty(len(texts), dtype=np.int64)
    _windows_kernel(data, offsets, _KIND, window, hashes, counts)
    return hashes[: int(counts.sum())], counts


#: the kernel's tokens on characters: word runs (ASCII letters, digits, _ and any non-ASCII character) or
#: one other non-blank character; blanks are ASCII whitespace only
TOKEN = re.compile(r"[A-Za-z0-9_\u0080-\U0010ffff]+|[^ \t\n\r\x0b\x0cA-Za-z0-9_\u0080-\U0010ffff]")


def token_spans(text: str) -> list[tuple[int, int]]:
    """Character offsets of the kernel's tokens in ``text``."""
    return [(m.start(), m.end()) for m in TOKEN.finditer(text)]
