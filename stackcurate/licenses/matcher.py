"""``spdx-match``: identify a license text against every text of the SPDX license list, accounting for all
of it. The SPDX exceptions (``LLVM-exception``, ``GCC-exception-3.1``, ...) are in the same index: a text
that is a license plus an exception reads as both, and ``LicensePolicy.attach_exceptions`` joins them with
``WITH``.

The method is licensee's and go-license-detector's: both texts are normalised (case, spelling variants,
copyright lines and ``<placeholders>`` removed), cut into word n-grams ("shingles"), and compared. A
candidate license must be found almost whole in the file (``min_license_coverage`` of its shingles); among
those, the one with the best Dice coefficient wins. Then the *file's* side is checked: every run of words no
shingle of the license covers is a remainder. Short runs are substitutions (names, years). A long run must be
explained — by another license of the list (a file holding two licenses), or as an attribution block or a
warranty disclaimer (no words of obligation) — otherwise the file is that license **plus unknown terms**
(``LicenseRef-unknown-terms``), which is never permissive: an MIT text with a "non-commercial" rider is not
MIT.
A text that no license covers but that carries a restricting phrase (``restricted_terms``) is named
``LicenseRef-restricted-terms``; anything else is left to the next engine (licensecheck, titles).

A text that is nothing but a URL (``License: https://github.com/owner/project/blob/master/LICENSE``, as NuGet
packages and many small projects write it) is looked up in ScanCode's URL references
(``spdx_data.load_license_urls``): the license its curators found behind that page. A URL they do not list is
read as any text (a license's own page, ``opensource.org/licenses/MIT``, names it), else left unknown.

Thresholds and word lists: ``matcher`` in ``rules/licenses.yaml``. Texts: ``stackcurate.licenses.spdx_data``.
"""

from __future__ import annotations

import hashlib
import re
import zlib
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache

from stackcurate.errors import FatalError
from stackcurate.licenses.engines import Detection
from stackcurate.licenses.names import LicenseNames, load_names
from stackcurate.licenses.policy import load_license_policy
from stackcurate.licenses.spdx_data import load_license_urls, load_spdx_exceptions, load_spdx_texts, url_key
from stackcurate.licenses.terms import TermRules, account
from stackcurate.licenses.text import read_words
from stackcurate.rules import load_yaml, rules_path

UNKNOWN_TERMS = "LicenseRef-unknown-terms"
PUBLIC_DOMAIN = "LicenseRef-public-domain"
#: Each license is found through its rarest shingles; the best-matching candidates are scored in full.
KEYS_PER_LICENSE = 40
CANDIDATES = 40
CANDIDATES_CHECKED = 6
#: a sentence of a license text that is (part of) its warranty disclaimer
DISCLAIMER = re.compile(r"\b(as is|warranty|warranties|liable|liability|damages|merchantability)\b")
#: a license whose text outside its disclaimer has fewer shingles is found only whole
CORE_SHINGLES = 30
#: candidates whose scores differ by less than this are told apart by their own wording (``_distinct``)
CLOSE = 0.15
#: this many of a license's shingles missing in a row are a passage (a clause), not a substituted name
PASSAGE = 15
NOTE_CHARS = 400
#: a second license text split in pieces by phrases the first one covered (mypy's MIT text and the PSF
#: license that follows share a sentence; MPL-2.0 shares dozens with the Apache-2.0 text before it) is
#: searched again with the pieces chained to it, each at most this many covered words from the next, before
#: it is called a modified text or nothing
REJOIN_WORDS = 80
#: a text that is one URL, after an optional label ("License:", "License URL:", "See"), in brackets or not
LONE_URL = re.compile(
    r"\A\s*(?:(?:licen[cs]e|project)?\s*(?:url|link)?\s*[:=-]?\s*(?:see|at)?\s*)?[<(\[\"']?"
    r"(?P<url>(?:https?://|ftp://|www\.)[^\s<>()\[\]\"']+?)[>)\]\"']?[.,;]?\s*\Z",
    re.IGNORECASE,
)
#: words no index text has get ids above this (crc32 of the word): never equal to a vocabulary id
_UNSEEN = 1 << 40


@dataclass(frozen=True)
class MatcherRules:
    """``matcher``, ``names`` and ``terms`` in rules/licenses.yaml; see the comments there for each value."""

    shingle: int
    min_license_coverage: float
    max_missing_run: int
    optional_after: str
    remainder_run_words: int
    remainder_gap_words: int
    variants: dict[str, str]
    modified: str
    dedications: frozenset[str]
    names: dict[str, object]
    terms: TermRules
    digest: str


@lru_cache(maxsize=8)
def load_matcher_rules(rules_dir: str | None = None) -> MatcherRules:
    path = rules_path("licenses.yaml", rules_dir)
    try:
        everything = load_yaml(path)
        data = everything["matcher"]
        return MatcherRules(
            int(data["shingle"]),
            float(data["min_license_coverage"]),
            int(data["max_missing_run"]),
            str(data["optional_after"]),
            int(data["remainder_run_words"]),
            int(data["remainder_gap_words"]),
            {str(k): str(v) for k, v in (data.get("variants") or {}).items()},
            str(data["modified"]),
            frozenset(str(i) for i in data["public_domain_dedications"]),
            dict(everything["names"]),
            TermRules.from_rules(everything["terms"]),
            hashlib.sha256(path.read_bytes()).hexdigest()[:16],
        )
    except (KeyError, TypeError, ValueError, re.error) as error:
        raise FatalError(f"{path}: invalid license matcher rules: {error!r}") from None


class Vocabulary:
    """Word -> int, the same in every process whatever ``PYTHONHASHSEED`` is: the index's words are numbered
    in sorted order, any other word is its crc32 above ``_UNSEEN``. Shingles are tuples of these ints, whose
    hash does not depend on the seed (a str's does: ties between candidates broke differently per run)."""

    def __init__(self, words: set[str]):
        self.ids = {word: number for number, word in enumerate(sorted(words))}

    def __call__(self, tokens: list[str]) -> list[int]:
        ids = self.ids
        return [ids.get(t, _UNSEEN + zlib.crc32(t.encode())) for t in tokens]


def shingles(ids: list[int], size: int) -> list[int]:
    return [hash(tuple(ids[i : i + size])) for i in range(len(ids) - size + 1)]


@dataclass(frozen=True)
class Found:
    """License texts found in a text: ids in order found, and which words they cover (1 = covered)."""

    ids: tuple[str, ...]
    covered: bytearray


class SpdxIndex:
    """Shingles of every SPDX text: all of them (they cover a file's words), the *required* ones in text order
    (before an ``optional_after`` marker such as Apache's "END OF TERMS AND CONDITIONS": how-to-apply
    appendices are often left out), and each license's rarest shingles as keys to find candidates."""

    def __init__(self, rules: MatcherRules):
        self.rules = rules
        data = load_spdx_texts()
        exceptions = load_spdx_exceptions()
        self.source = f"{data['source']}+{exceptions['source']}"
        texts = sorted(data["licenses"].items()) + sorted(exceptions["exceptions"].items())
        read = [(spdx_id, read_words(text, rules.variants)) for spdx_id, text in texts]
        tokenized = [(spdx_id, words.tokens) for spdx_id, words in read]
        self.vocabulary = Vocabulary({t for _, tokens in tokenized for t in tokens})
        optional_after = re.compile(rules.optional_after)
        self.ids: list[str] = []
        self.sets: list[frozenset[int]] = []
        self.required: list[frozenset[int]] = []
        self.order: list[tuple[int, ...]] = []
        #: the required shingles outside the warranty disclaimer, in order: a copy that left the disclaimer
        #: out or wrote its own is still the license (the disclaimer protects the licensor only); None when
        #: the license is mostly disclaimer
        self.core: list[tuple[frozenset[int], tuple[int, ...]] | None] = []
        #: index numbers of the exceptions: checked on every text, since an exception shares much of its
        #: wording with the license it amends and can hide in the remainder's short runs
        self.exception_numbers: list[int] = []
        for spdx_id, words in read:
            tokens = words.tokens
            found = shingles(self.vocabulary(tokens), rules.shingle)
            if not found or spdx_id.endswith("+"):  # deprecated "+" ids: the -or-later id stands for them
                continue
            optional = optional_after.search(" ".join(tokens))
            required = found[: len(" ".join(tokens)[: optional.start()].split())] if optional else found
            if spdx_id in exceptions["exceptions"]:
                self.exception_numbers.append(len(self.ids))
            self.ids.append(spdx_id)
            self.sets.append(frozenset(found))
            self.required.append(frozenset(required or found))
            self.order.append(tuple(required or found))
            disclaimer = bytearray(len(tokens))
            for start, end in words.sentences:
                if DISCLAIMER.search(" ".join(tokens[start:end])):
                    disclaimer[start:end] = b"\x01" * (end - start)
            core = tuple(item for position, item in enumerate(required or found) if not disclaimer[position])
            self.core.append((frozenset(core), core) if CORE_SHINGLES <= len(core) < len(required) else None)
        frequency = Counter(item for found in self.sets for item in found)
        self.keys: dict[int, list[int]] = {}
        self.key_counts: list[int] = []
        for number, license_set in enumerate(self.sets):
            rarest = sorted(license_set, key=lambda item: (frequency[item], item))[:KEYS_PER_LICENSE]
            self.key_counts.append(len(rarest))
            for item in rarest:
                self.keys.setdefault(item, []).append(number)

    def _missing_run(self, number: int, found: set[int], core: bool = False) -> int:
        """The longest run of the license's required shingles (``core``: outside its disclaimer, when it has
        one: a missing disclaimer never makes a text another license), in its own order, absent from the
        file."""
        longest = current = 0
        entry = self.core[number]
        for item in entry[1] if core and entry else self.order[number]:
            current = 0 if item in found else current + 1
            longest = max(longest, current)
        return longest

    def best(self, found: set[int]) -> tuple[int, bool] | None:
        """(license, whole?) for the license found in a text with these shingles; None if none.

        Candidates: the licenses with the largest share of their key shingles in the text. Score: the F1 of
        the license's required shingles found (license coverage) and the text's shingles it covers; ties go
        to the lower index number (sorted ids), so every run decides alike. The best scoring candidate wins
        unless a passage of it is missing (``max_missing_run`` shingles in a row): a variant whose clause is
        absent (Pixar's trademark clause, Apache's section 4) is not that license. When every candidate
        lacks a passage, the best is returned with ``whole`` False."""
        counts: Counter[int] = Counter()
        for item in found:
            counts.update(self.keys.get(item, ()))
        ranked = sorted(counts, key=lambda n: (-counts[n] / self.key_counts[n], n))[:CANDIDATES]
        scored = []
        for number in ranked:
            license_cover = len(self.required[number] & found) / len(self.required[number])
            entry = self.core[number]
            if license_cover < self.rules.min_license_coverage and entry is not None:
                license_cover = len(entry[0] & found) / len(entry[0])
            if license_cover < self.rules.min_license_coverage:
                continue
            text_cover = len(self.sets[number] & found) / len(found)
            score = 2 * license_cover * text_cover / (license_cover + text_cover)
            scored.append((-round(score, 9), number))
        scored.sort()
        whole = [
            (score, number)
            for score, number in scored[:CANDIDATES_CHECKED]
            if self._missing_run(number, found, True) < self.rules.max_missing_run
        ]
        if whole:
            return self._distinct(whole, found), True
        return (scored[0][1], False) if scored else None

    def _distinct(self, whole: list[tuple[float, int]], found: set[int]) -> int:
        """Among candidates that score alike (within ``CLOSE``), one that misses no passage of its own
        (``PASSAGE`` shingles in a row) wins over one that does: a variant is a base license plus a passage
        (BSD-3-Clause-No-Nuclear-License-2014's nuclear clause), so a text without it is the base. Then the
        better score, then the lower index number (sorted ids: every run decides alike)."""
        top = -whole[0][0]
        ranked = [
            (self._missing_run(number, found, True) >= PASSAGE, score, number)
            for score, number in whole
            if -score >= top - CLOSE
        ]
        return min(ranked)[2]

    def exceptions_in(self, found: set[int], besides: int) -> list[int]:
        """The exceptions found (nearly) whole in a text besides the license ``besides``."""
        named = []
        for number in self.exception_numbers:
            # only its own wording counts: most of an exception must be words the license does not have
            # (a short exception made of GPL phrases is not "found" in every GPL text)
            own = self.required[number] - self.sets[besides]
            if number == besides or len(own) < len(self.required[number]) / 2:
                continue
            whole = len(own & found) >= self.rules.min_license_coverage * len(own)
            if whole and self._missing_run(number, found) < self.rules.max_missing_run:
                named.append(number)
        return named

    def find(self, tokens: list[str]) -> Found:
        """Every license text of the list found in ``tokens``: the best one, then again in what it leaves
        uncovered (a file that holds two licenses), and the words they cover."""
        ids: list[str] = []
        covered = bytearray(len(tokens))
        hashes = shingles(self.vocabulary(tokens), self.rules.shingle)
        pending = [(0, len(tokens))]
        depth = 0
        searched: list[tuple[int, int]] = []
        while pending and depth < 64:
            start, end = pending.pop(0)
            depth += 1
            best = self._best_in(hashes, start, end)
            searched.append((start, end))
            if depth > 1 and (best is None or not best[1]):
                joined = self._rejoin(hashes, covered, start, end, pending + searched[:-1])
                if joined is not None and self.ids[joined[1]] not in ids:
                    (start, end), number, whole = joined
                    pending = [(a, b) for a, b in pending if b <= start or a >= end]
                    best = (number, whole)
            if best is None:
                continue
            number, whole = best
            numbers = [number]
            if depth == 1:  # exceptions (WITH) are read in the whole text
                numbers += self.exceptions_in(set(hashes[start : self._stop(start, end)]), number)
            ids.append(self.ids[number] if whole else self.rules.modified.format(id=self.ids[number]))
            ids.extend(self.ids[n] for n in numbers[1:])
            self._cover(covered, hashes, start, end, numbers)
            pending.extend(self._remainders(covered, start, end))
        return Found(tuple(dict.fromkeys(ids)), covered)

    def _stop(self, start: int, end: int) -> int:
        """End of the shingles that lie wholly inside the words [start, end)."""
        return max(start, end - self.rules.shingle + 1)

    def _best_in(self, hashes: list[int], start: int, end: int) -> tuple[int, bool] | None:
        local = hashes[start : self._stop(start, end)]
        return self.best(set(local)) if local else None

    def _rejoin(
        self, hashes: list[int], covered: bytearray, start: int, end: int, others: list[tuple[int, int]]
    ) -> tuple[tuple[int, int], int, bool] | None:
        """``((start, end), license, True)`` when the span over [start, end) and the other uncovered pieces
        chained to it (each within ``REJOIN_WORDS`` of the next) holds a license whole, most of whose words
        there are uncovered: the license found first lent it a few shared phrases, not its body."""
        first, last = start, end
        for a, b in sorted(others, reverse=True):
            if b <= first and first - b <= REJOIN_WORDS:
                first = a
        for a, b in sorted(others):
            if a >= last and a - last <= REJOIN_WORDS:
                last = b
        span = (first, last)
        if span == (start, end):
            return None
        best = self._best_in(hashes, *span)
        if best is None or not best[1]:
            return None
        own = self.sets[best[0]]
        positions = [p for p in range(span[0], self._stop(*span)) if hashes[p] in own]
        free = sum(1 for p in positions if not covered[p])
        return (span, best[0], True) if 2 * free >= len(positions) else None

    def _cover(self, covered: bytearray, hashes: list[int], start: int, end: int, numbers: list[int]) -> None:
        """Mark the words of [start, end) that runs of two or more consecutive shingles of these licenses
        cover (one 3-word shingle alone, "of the software", is common wording, not the license)."""
        size = self.rules.shingle
        sets = [self.sets[n] for n in numbers]
        run_start = None
        for position in range(start, max(start, end - size + 1) + 1):
            inside = position < end - size + 1 and any(hashes[position] in s for s in sets)
            if inside and run_start is None:
                run_start = position
            elif not inside and run_start is not None:
                if position - run_start >= 2:
                    covered[run_start : position - 1 + size] = b"\x01" * (position - 1 + size - run_start)
                run_start = None

    def _remainders(self, covered: bytearray, start: int, end: int) -> list[tuple[int, int]]:
        """Uncovered runs of [start, end) long enough to hold another license, runs close together joined:
        a second license shares common phrases ("the software", "without warranty") with the first."""
        runs = _runs(covered[start:end], self.rules.remainder_run_words)
        merged = _merge(runs, self.rules.remainder_gap_words)
        return [(start + a, start + b) for a, b in merged if b - a >= 20]


def _runs(covered: bytearray, minimum: int) -> list[tuple[int, int]]:
    """[start, end) of the runs of zeros at least ``minimum`` long."""
    runs, start = [], None
    for position, flag in enumerate(covered):
        if not flag and start is None:
            start = position
        elif flag and start is not None:
            if position - start >= minimum:
                runs.append((start, position))
            start = None
    if start is not None and len(covered) - start >= minimum:
        runs.append((start, len(covered)))
    return runs


def _merge(runs: list[tuple[int, int]], gap: int) -> list[tuple[int, int]]:
    """Join runs separated by at most ``gap`` covered words."""
    merged: list[tuple[int, int]] = []
    for start, end in runs:
        if merged and start - merged[-1][1] <= gap:
            merged[-1] = (merged[-1][0], end)
        else:
            merged.append((start, end))
    return merged


def load_index(rules_dir: str | None = None) -> SpdxIndex:
    """The index, built once per process and rules folder (about 2 s: every SPDX text cut into shingles)."""
    return _index_of(rules_dir)  # one cache key however it is called (lru_cache keys f() and f(None) apart)


@lru_cache(maxsize=4)
def _index_of(rules_dir: str | None) -> SpdxIndex:
    return SpdxIndex(load_matcher_rules(rules_dir))


class SpdxMatchEngine:
    """The ``spdx-match`` engine; see the module docstring."""

    name = "spdx-match"

    def __init__(self, rules_dir: str | None = None):
        self.rules_dir = rules_dir
        rules = load_matcher_rules(rules_dir)  # bad rules fail here, where the engine is made
        self.names: LicenseNames = load_names(
            rules.names, load_license_policy(rules_dir).aliases, f"{rules_dir}:{rules.digest}"
        )
        source = f"{load_spdx_texts()['source']}+{load_spdx_exceptions()['source']}"  # as SpdxIndex's
        urls = load_license_urls()
        self.urls: dict[str, str] = urls["urls"]
        table = hashlib.sha256(repr(sorted(self.urls.items())).encode()).hexdigest()[:16]
        self.version = f"spdx-match-8:{source}+{urls['source']}:{table}:{rules.digest}"

    @property
    def index(self) -> SpdxIndex:
        """The index, built on the first text read (about 2 s): a pass is planned in the driver, which
        makes the engine to check it and reads nothing; the tasks that read find it built by the fork
        server (``stackcurate.licenses.index_preload``) or build it once."""
        return load_index(self.rules_dir)

    def read(self, text: str, source: bool = False) -> Detection:
        """Licenses found in ``text`` (an expression per part, see ``assemble``), and the quoted sentences
        no license accounts for; ``source``: ``text`` is a source file's notice (``terms.account``)."""
        referenced = self.referenced(text)
        if referenced:
            return Detection((referenced,), f"{self.name}:url")
        rules = self.index.rules
        words = read_words(text, rules.variants)
        found = self.index.find(words.tokens)
        accounting = account(
            words, found.covered, self.names, rules.terms, int(str(rules.names["short_words"])), source
        )
        parts = self.names.absorb_unversioned(
            assemble(found.ids, [n for _, n in accounting.notices], rules.dedications)
        )
        note = " … ".join(words.quote(a, b) for a, b, _ in accounting.unaccounted)
        if accounting.unaccounted:
            parts.append(UNKNOWN_TERMS)
        return Detection(tuple(parts), self.name, note[:NOTE_CHARS])

    def referenced(self, text: str) -> str | None:
        """The license behind a text that is one URL listed in the URL references, else None."""
        if len(text) > 400:
            return None
        lone = LONE_URL.match(text)
        return self.urls.get(url_key(lone.group("url"))) if lone else None

    def identify(self, texts: dict[str, str]) -> dict[str, Detection]:
        return {key: self.read(text) for key, text in texts.items()}

    def read_notice(self, text: str) -> Detection:
        """A source file's license-notice comment block or docstring (in-process, fast: every source file of
        a repository may carry one), read as source code: only its license paragraphs and what follows them
        are read for terms, the rest only for the strongest kinds (``terms._readable``)."""
        return self.read(text, source=True)


def assemble(texts: tuple[str, ...], notices: list, dedications: frozenset[str]) -> list[str]:
    """The parts of a text's expression (ANDed by the caller): license texts found, then each notice in text
    order. A notice that begins "Alternatively" is a choice against everything before it; a text found whole
    whose license is a branch of a choice a notice offers is that branch's text, not an extra license. A
    public-domain sentence beside a public-domain dedication (Unlicense, CC0) is the dedication."""
    parts: list[str] = list(texts)
    for notice in notices:
        expression = notice.expression
        if notice.alternative and parts:
            before = " AND ".join(f"({p})" if " " in p else p for p in parts)
            parts = [f"({before}) OR ({expression})"]
        elif expression not in parts:
            parts.append(expression)
    choices = [p for p in parts if " OR " in p]
    parts = [p for p in parts if " " in p or not any(_names_id(c, p) for c in choices)]
    if PUBLIC_DOMAIN in parts and any(p in dedications for p in parts):
        parts.remove(PUBLIC_DOMAIN)
    return parts


def _names_id(expression: str, spdx: str) -> bool:
    return bool(re.search(rf"(?<![\w.+-]){re.escape(spdx)}(?![\w.+-])", expression))
