"""The trigger scan that every PII recogniser shares (one Aho-Corasick pass over a file): it must find
each occurrence of each word exactly where a plain substring search does, overlapping ones included, so
that what is scanned, and therefore what is redacted, does not depend on it. Also the rules it relies on:
vendor-token prefixes it can find, and ``needs``."""

from __future__ import annotations

import random
from pathlib import Path
from types import SimpleNamespace

import pytest

from stackcurate.errors import FatalError
from stackcurate.pii.checks import Validators
from stackcurate.pii.recognizers import TriggerScan, load_pii_rules, make_code_recognizer, merge_lines
from stackcurate.pii.redact import PiiScanner
from stackcurate.pii.tokens import find_tokens, load_tokens, token_prefixes

RULES = Path(__file__).resolve().parents[2] / "rules"


def every_occurrence(haystack: str, word: str) -> list[int]:
    found, position = [], haystack.find(word)
    while position >= 0:
        found.append(position)
        position = haystack.find(word, position + 1)
    return found


def lowered(text: str) -> str:
    low = text.lower()
    return low if len(low) == len(text) else "".join(c.lower() if len(c.lower()) == 1 else c for c in text)


EXACT = ("author", "AKIA", "ghp_", "SK", "default", " -- ", "://", "Q~", "* Mon")
FOLDED = ("auth", "author", "authorization", "key", "pass", "passw", "password=", "cc", " by ", "-by:")


def test_the_scan_finds_every_occurrence_a_substring_search_finds() -> None:
    scan = TriggerScan(EXACT, FOLDED)
    pieces = [*EXACT, *FOLDED, *(w.upper() for w in FOLDED), "AuThOrIzAtIoN", "İ", "ß", "x", "\n", " ", "_"]
    generator = random.Random(7)
    for _ in range(300):
        text = "".join(generator.choice(pieces) for _ in range(generator.randint(0, 40)))
        low = lowered(text)
        artifacts = SimpleNamespace(stackcurate_lowered=low, stackcurate_cache={})
        exact = scan.positions(text, artifacts, folded=False)
        folded = scan.positions(text, artifacts, folded=True)
        assert exact == {w: p for w in EXACT if (p := every_occurrence(text, w))}, text
        assert folded == {w: p for w in FOLDED if (p := every_occurrence(low, w))}, text
        # computed once per text: the second call answers from the artifacts' cache
        assert scan.positions(text, artifacts, folded=False) is exact


def test_words_the_scan_cannot_hold_are_left_to_the_recognisers() -> None:
    assert not TriggerScan.indexed("@", folded=False)  # one character: a plain `in` is as fast
    assert not TriggerScan.indexed("a\nb", folded=True)
    assert not TriggerScan.indexed("©ab", folded=False)  # exact and not ASCII
    assert TriggerScan.indexed("©ab", folded=True)
    scan = TriggerScan(["@", "a\nb"], [])
    assert scan.positions("x@y a\nb", None, folded=False) == {}


def test_a_one_character_trigger_still_scopes_its_lines() -> None:
    # `@` is not in the automaton: the email recogniser finds the lines holding it itself
    text = "first line\nmail jane.roe@corp-mail.com here\nlast"
    assert [(s.type, s.text) for s in PiiScanner().scan(text)] == [("EMAIL", "jane.roe@corp-mail.com")]


def test_vendor_tokens_from_the_shared_scan() -> None:
    tokens = load_tokens(None)
    token = "ghp_" + "aB3dE5gH7jK9mN1pQ3sT5vW7yZ9bC1dF3hJ5"
    text = f'headers = {{"x": "{token}"}}\nnot_ghp_{token[4:]}\n'
    scan = TriggerScan(token_prefixes(tokens), ())
    found = find_tokens(text, tokens, scan.positions(text, None, folded=False))
    # the first stands alone; the second `ghp_` is inside a longer word and starts no token
    github = next(t.id for t in tokens if "ghp_" in t.prefixes)
    assert [(text[a:b], name) for a, b, name in found] == [(token, github)]


@pytest.mark.parametrize("prefix", ["x", "é_", "a\tb"])
def test_a_vendor_prefix_the_scan_cannot_find_is_refused(tmp_path: Path, prefix: str) -> None:
    (tmp_path / "pii_tokens.yaml").write_text(
        f'version: 1\ntokens:\n  - {{id: odd, prefixes: ["{prefix}"], pattern: "{prefix}[a-z]{{20}}"}}\n',
        encoding="utf-8",
    )
    with pytest.raises(FatalError, match="every prefix must be two printable ASCII characters"):
        load_tokens(str(tmp_path))


def test_needs_must_be_words(tmp_path: Path) -> None:
    text = (RULES / "pii.yaml").read_text(encoding="utf-8").replace("needs: [value]", "needs: value", 1)
    (tmp_path / "pii.yaml").write_text(text, encoding="utf-8")
    with pytest.raises(FatalError, match="needs must be a list of non-empty words"):
        load_pii_rules(str(tmp_path))


def test_needs_skips_a_region_without_the_word_and_only_that() -> None:
    entry = {
        "name": "k_value",
        "entity": "KEY",
        "pattern": r"\bk=(?P<value>\w+)",
        "triggers": ["K="],
        "triggers_ignore_case": True,
        "scope": "line",
        "needs": ["Use"],
    }
    recognizer = make_code_recognizer(entry, Validators(load_pii_rules(), True), 0.5)
    # lines next to each other are searched as one region: a blank line between them keeps them apart
    text = "k=first\n\nk=second # USE it\n\nk=third\n"
    results = recognizer.analyze(text, ["KEY"], None)
    assert [text[r.start : r.end] for r in results] == ["second"]
    assert [text[r.start : r.end] for r in recognizer.analyze(text.replace("USE", "u"), ["KEY"], None)] == []


def lines_of(text: str, positions: list[int], after: int) -> list[tuple[int, int]]:
    """merge_lines as its definition says: each position's line and the ``after`` lines below it, merged
    where they touch."""
    lines = text.split("\n")
    starts = [sum(len(line) + 1 for line in lines[:i]) for i in range(len(lines))]
    ranges = []
    for position in positions:
        row = max(i for i, start in enumerate(starts) if start <= position)
        last = min(row + after, len(lines) - 1)
        ranges.append((starts[row], starts[last] + len(lines[last])))
    merged: list[tuple[int, int]] = []
    for start, end in sorted(ranges):
        if merged and start <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def test_merge_lines_matches_its_definition() -> None:
    generator = random.Random(29)
    for _ in range(500):
        text = "".join(generator.choice("ab\n") for _ in range(generator.randint(1, 30)))
        positions = [generator.randrange(len(text)) for _ in range(generator.randint(0, 8))]
        after = generator.randint(0, 2)
        assert merge_lines(text, positions, after) == lines_of(text, positions, after), (text, positions)
