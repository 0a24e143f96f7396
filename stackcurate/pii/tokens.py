"""Vendor-prefixed credentials (``KEY``): tokens whose own text says what they are (``shpat_…``, ``hf_…``,
``dop_v1_…``, ``glpat-…``, ``AKIA…``), found wherever they stand, from the list in
``rules/pii_tokens.yaml`` (formats after gitleaks' rule set; the file cites it).

Fast path: one regular expression of every entry's prefixes (case-sensitive, as tokens are written; at the
start of a token, or anywhere for an entry's ``infix``); only the lines where a prefix occurs are searched
with the entries that have it. A match
must stand alone (no key character on either side: a token inside a longer base64 run is no match), reach
the entry's ``min_entropy`` on the part after the prefix, and not be a mask (``xxxx``, ``0000``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from stackcurate.errors import FatalError
from stackcurate.pii.secrets import shannon_entropy
from stackcurate.rules import load_yaml, rules_path

#: characters that continue a token: a match touching one of them is part of something longer (on the
#: left `=` is an assignment, `KEY=ghp_...`; on the right it is base64 padding)
LEFT_CHARS = "A-Za-z0-9_\\-+/"
RIGHT_CHARS = "A-Za-z0-9_\\-+/="
INFIXES: set[str] = set()
LEFT_SET = dict.fromkeys("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-+/", True)
#: a mask or an example written into a token: ghp_xxxx..., AKIAIOSFODNN7EXAMPLE, sk_test_0000...
MASKED = re.compile(r"(?i)x{4,}|\*{3,}|0{8,}|example|sample|dummy|placeholder|your_?token")


@dataclass(frozen=True)
class VendorToken:
    """One entry of rules/pii_tokens.yaml, compiled."""

    id: str
    prefixes: frozenset[str]
    pattern: re.Pattern[str]
    min_entropy: float


@lru_cache(maxsize=8)
def load_tokens(rules_dir: str | None = None) -> tuple[tuple[VendorToken, ...], re.Pattern[str]]:
    """The entries of ``pii_tokens.yaml`` and the prefix pattern that finds where any of them may start."""
    path = rules_path("pii_tokens.yaml", rules_dir)
    data = load_yaml(path)
    entries = data.get("tokens")
    if not isinstance(entries, list) or not entries:
        raise FatalError(f"{path}: 'tokens' must be a non-empty list")
    tokens = []
    for entry in entries:
        if not isinstance(entry, dict) or not {"id", "prefixes", "pattern"} <= set(entry):
            raise FatalError(f"{path}: every token needs id, prefixes and pattern: {entry!r}")
        left = f"(?<![{LEFT_CHARS}])" if entry.get("left_boundary", True) else ""
        try:
            pattern = re.compile(f"{left}(?:{entry['pattern']})(?![{RIGHT_CHARS}])")
        except re.error as error:
            raise FatalError(f"{path}: token {entry['id']}: bad pattern: {error}") from None
        prefixes = tuple(str(p) for p in entry["prefixes"])
        tokens.append(
            VendorToken(str(entry["id"]), frozenset(prefixes), pattern, float(entry.get("min_entropy", 2.0)))
        )
    # a prefix starts a token (no key character before it), an infix (`infix: true`: `-us` of Mailchimp's
    # keys, `:A` of Telegram's) may stand anywhere
    starts = sorted(
        {p for t, e in zip(tokens, entries, strict=True) if not e.get("infix") for p in t.prefixes}
    )
    infixes = sorted({p for t, e in zip(tokens, entries, strict=True) if e.get("infix") for p in t.prefixes})
    # one trie-shaped alternation: the regex engine then skips the text by the set of first characters
    INFIXES.update(infixes)
    return tuple(tokens), re.compile(trie(sorted(set(starts) | set(infixes))))


def trie(words: list[str]) -> str:
    """A regular expression matching any of ``words`` (non-empty), factored by common prefixes."""
    heads: dict[str, list[str]] = {}
    for word in words:
        heads.setdefault(word[0], []).append(word[1:])
    alternatives = []
    for head, tails in sorted(heads.items()):
        rest = [tail for tail in tails if tail]
        inner = f"(?:{trie(rest)})" if rest else ""
        optional = "?" if rest and len(rest) < len(tails) else ""
        alternatives.append(re.escape(head) + inner + optional)
    return "|".join(alternatives)


def find_tokens(text: str, tokens: tuple[VendorToken, ...], prefix: re.Pattern[str]) -> list[Any]:
    """``(start, end, id)`` of every vendor token in ``text``."""
    hits: dict[tuple[int, int], set[str]] = {}
    for found in prefix.finditer(text):
        if found.start() and LEFT_SET.get(text[found.start() - 1]) and found.group(0) not in INFIXES:
            continue  # inside a longer token
        start = text.rfind("\n", 0, found.start()) + 1
        end = text.find("\n", found.end())
        hits.setdefault((start, len(text) if end < 0 else end), set()).add(found.group(0))
    results = []
    for (start, end), prefixes in sorted(hits.items()):
        for token in tokens:
            if prefixes.isdisjoint(token.prefixes):
                continue
            for match in token.pattern.finditer(text, start, end):
                value = match.group(0)
                body = value[len(next((p for p in token.prefixes if value.startswith(p)), "")) :]
                if MASKED.search(value) or shannon_entropy(body or value) < token.min_entropy:
                    continue
                results.append((match.start(), match.end(), token.id))
    return results
