"""Vendor-prefixed credentials (``KEY``): tokens whose own text says what they are (``shpat_…``, ``hf_…``,
``dop_v1_…``, ``glpat-…``, ``AKIA…``), found wherever they stand, from the list in
``rules/pii_tokens.yaml`` (formats after gitleaks' rule set; the file cites it).

Fast path: where the entries' prefixes occur is found with the PII recognisers' triggers, in one
Aho-Corasick pass over the file (``stackcurate.pii.recognizers.TriggerScan``; case-sensitive, as tokens are
written); a prefix counts at the start of a token, or anywhere for an entry's ``infix``, and only the lines
where one does are searched with the entries that have it. A match
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
def load_tokens(rules_dir: str | None = None) -> tuple[VendorToken, ...]:
    """The entries of ``pii_tokens.yaml``, compiled."""
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
        if not prefixes or not all(len(p) > 1 and p.isascii() and p.isprintable() for p in prefixes):
            # what the recognisers' trigger scan finds (stackcurate.pii.recognizers.TriggerScan.indexed)
            raise FatalError(
                f"{path}: token {entry['id']}: every prefix must be two printable ASCII characters or more"
            )
        tokens.append(
            VendorToken(str(entry["id"]), frozenset(prefixes), pattern, float(entry.get("min_entropy", 2.0)))
        )
        if entry.get("infix"):
            # an infix (`-us` of Mailchimp's keys, `:A` of Telegram's) may stand anywhere in a token
            INFIXES.update(prefixes)
    return tuple(tokens)


@lru_cache(maxsize=8)
def token_prefixes(tokens: tuple[VendorToken, ...]) -> frozenset[str]:
    """Every prefix of ``tokens``."""
    return frozenset(prefix for token in tokens for prefix in token.prefixes)


def find_tokens(text: str, tokens: tuple[VendorToken, ...], occurrences: dict[str, list[int]]) -> list[Any]:
    """``(start, end, id)`` of every vendor token in ``text``, given where words occur in it
    (``occurrences``: ``{word: start of each occurrence}``, every prefix of ``tokens`` among the words)."""
    known = token_prefixes(tokens)
    hits: dict[tuple[int, int], set[str]] = {}
    for found, positions in occurrences.items():
        if found not in known:
            continue
        for position in positions:
            if position and LEFT_SET.get(text[position - 1]) and found not in INFIXES:
                continue  # inside a longer token
            start = text.rfind("\n", 0, position) + 1
            end = text.find("\n", position + len(found))
            hits.setdefault((start, len(text) if end < 0 else end), set()).add(found)
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
