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

Thresholds and word lists: ``matcher`` in ``rules/licenses.yaml``. Texts: ``stackcurate.licenses.spdx_data``.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache

from stackcurate.errors import FatalError
from stackcurate.licenses.engines import COPYRIGHT_LINE, Detection
from stackcurate.licenses.spdx_data import load_spdx_exceptions, load_spdx_texts
from stackcurate.rules import load_yaml, rules_path

UNKNOWN_TERMS = "LicenseRef-unknown-terms"
RESTRICTED_TERMS = "LicenseRef-restricted-terms"
WORD = re.compile(r"[a-z0-9]+")
#: ``<year>``, ``<copyright holders>``, ``<name@example.org>``: template fields and e-mail addresses.
PLACEHOLDER = re.compile(r"<[^<>\n]{0,80}>")
#: Each license is found through its rarest shingles; the best-matching candidates are scored in full.
KEYS_PER_LICENSE = 40
CANDIDATES = 40
CANDIDATES_CHECKED = 6
NOTE_CHARS = 400


@dataclass(frozen=True)
class MatcherRules:
    """``matcher`` in rules/licenses.yaml; see the comments there for where each value comes from."""

    shingle: int
    min_license_coverage: float
    max_missing_run: int
    optional_after: re.Pattern[str]
    remainder_run_words: int
    remainder_words: int
    remainder_gap_words: int
    variants: dict[str, str]
    terms: tuple[re.Pattern[str], ...]
    notices: tuple[tuple[re.Pattern[str], str], ...]
    notice_ignore: re.Pattern[str]
    restricted: tuple[re.Pattern[str], ...]
    digest: str


@lru_cache(maxsize=8)
def load_matcher_rules(rules_dir: str | None = None) -> MatcherRules:
    path = rules_path("licenses.yaml", rules_dir)
    try:
        data = load_yaml(path)["matcher"]
        return MatcherRules(
            int(data["shingle"]),
            float(data["min_license_coverage"]),
            int(data["max_missing_run"]),
            re.compile(str(data["optional_after"])),
            int(data["remainder_run_words"]),
            int(data["remainder_words"]),
            int(data["remainder_gap_words"]),
            {str(k): str(v) for k, v in (data.get("variants") or {}).items()},
            tuple(re.compile(str(p), re.IGNORECASE) for p in data["terms_patterns"]),
            tuple(
                (re.compile(str(data["notice_prefix"]) + f"({p})", re.IGNORECASE), str(v))
                for p, v in data["notices"].items()
            ),
            re.compile(str(data["notice_ignore"]), re.IGNORECASE),
            tuple(re.compile(str(p), re.IGNORECASE) for p in data["restricted_terms"]),
            hashlib.sha256(path.read_bytes()).hexdigest()[:16],
        )
    except (KeyError, TypeError, ValueError, re.error) as error:
        raise FatalError(f"{path}: invalid license matcher rules: {error!r}") from None


def words(text: str, variants: dict[str, str]) -> tuple[list[str], list[tuple[int, int]]]:
    """Normalised words of ``text`` and their (start, end) character spans in it. Copyright lines and
    placeholders are blanked to spaces of the same length, so the spans still point into the original."""
    blank = COPYRIGHT_LINE.sub(lambda m: " " * len(m.group(0)), text)
    blank = PLACEHOLDER.sub(lambda m: " " * len(m.group(0)), blank).lower()
    found = [(variants.get(m.group(0), m.group(0)), m.span()) for m in WORD.finditer(blank)]
    return [w for w, _ in found], [s for _, s in found]


def shingles(tokens: list[str], size: int) -> list[int]:
    return [hash(tuple(tokens[i : i + size])) for i in range(len(tokens) - size + 1)]


@dataclass(frozen=True)
class Match:
    """What the matcher read in a text: license ids, the unaccounted spans (character offsets)."""

    ids: tuple[str, ...]
    unaccounted: tuple[tuple[int, int], ...]


class SpdxIndex:
    """Shingles of every SPDX text: all of them (they cover a file's words), the *required* ones in text order
    (before an ``optional_after`` marker such as Apache's "END OF TERMS AND CONDITIONS": how-to-apply
    appendices are often left out), and each license's rarest shingles as keys to find candidates."""

    def __init__(self, rules: MatcherRules):
        self.rules = rules
        data = load_spdx_texts()
        exceptions = load_spdx_exceptions()
        self.source = f"{data['source']}+{exceptions['source']}"
        self.ids: list[str] = []
        self.sets: list[frozenset[int]] = []
        self.required: list[frozenset[int]] = []
        self.order: list[tuple[int, ...]] = []
        #: index numbers of the exceptions: checked on every text, since an exception shares much of its
        #: wording with the license it amends and can hide in the remainder's short runs
        self.exception_numbers: list[int] = []
        texts = sorted(data["licenses"].items()) + sorted(exceptions["exceptions"].items())
        for spdx_id, text in texts:
            tokens, _ = words(text, rules.variants)
            found = shingles(tokens, rules.shingle)
            if not found:
                continue
            optional = rules.optional_after.search(" ".join(tokens))
            required = found[: len(" ".join(tokens)[: optional.start()].split())] if optional else found
            if spdx_id in exceptions["exceptions"]:
                self.exception_numbers.append(len(self.ids))
            self.ids.append(spdx_id)
            self.sets.append(frozenset(found))
            self.required.append(frozenset(required or found))
            self.order.append(tuple(required or found))
        frequency = Counter(item for found in self.sets for item in found)
        self.keys: dict[int, list[int]] = {}
        self.key_counts: list[int] = []
        for number, license_set in enumerate(self.sets):
            rarest = sorted(license_set, key=lambda item: (frequency[item], item))[:KEYS_PER_LICENSE]
            self.key_counts.append(len(rarest))
            for item in rarest:
                self.keys.setdefault(item, []).append(number)

    def _missing_run(self, number: int, found: set[int]) -> int:
        """The longest run of the license's required shingles, in its own order, absent from the file."""
        longest = current = 0
        for item in self.order[number]:
            current = 0 if item in found else current + 1
            longest = max(longest, current)
        return longest

    def best(self, found: set[int]) -> int | None:
        """The license found whole in a text with these shingles; None if none.

        Candidates: the licenses with the largest share of their key shingles in the text. Score: the F1 of
        the license's required shingles found (license coverage) and the text's shingles it covers. The best
        scoring candidate wins unless a passage of it is missing (``max_missing_run`` shingles in a row): a
        variant whose distinctive clause is absent (Pixar's trademark clause, BSD's no-nuclear clause) is
        not the license of the file."""
        counts: Counter[int] = Counter()
        for item in found:
            counts.update(self.keys.get(item, ()))
        ranked = sorted(counts, key=lambda n: counts[n] / self.key_counts[n], reverse=True)[:CANDIDATES]
        scored = []
        for number in ranked:
            license_cover = len(self.required[number] & found) / len(self.required[number])
            if license_cover < self.rules.min_license_coverage:
                continue
            text_cover = len(self.sets[number] & found) / len(found)
            scored.append((2 * license_cover * text_cover / (license_cover + text_cover), number))
        scored.sort(reverse=True)
        for _, number in scored[:CANDIDATES_CHECKED]:
            if self._missing_run(number, found) < self.rules.max_missing_run:
                return number
        return scored[0][1] if scored else None

    def exceptions_in(self, found: set[int], besides: int) -> list[str]:
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
                named.append(self.ids[number])
        return named

    def match(
        self, tokens: list[str], spans: list[tuple[int, int]], text: str, depth: int = 0
    ) -> Match | None:
        """Identify ``tokens``; ``None`` when no license of the list is (nearly) whole in them."""
        size = self.rules.shingle
        hashes = shingles(tokens, size)
        number = self.best(set(hashes))
        if number is None:
            return None
        license_set = self.sets[number]
        covered = bytearray(len(tokens))
        for position, item in enumerate(hashes):
            if item in license_set:
                covered[position : position + size] = b"\x01" * size
        runs = _runs(covered, self.rules.remainder_run_words)
        ids = [self.ids[number]]
        if depth == 0:
            ids.extend(self.exceptions_in(set(hashes), number))
        unaccounted: list[tuple[int, int]] = []
        if sum(end - start for start, end in runs) < self.rules.remainder_words:
            return Match(tuple(ids), ())
        for start, end in _merge(runs, self.rules.remainder_gap_words):
            span = (spans[start][0], spans[end - 1][1])
            segment = text[span[0] : span[1]]
            other = self.match(tokens[start:end], spans[start:end], text, depth + 1) if depth < 64 else None
            if other is not None:
                ids.extend(other.ids)
                unaccounted.extend(other.unaccounted)
                continue
            accounted, named = self._accounted(segment)
            ids.extend(named)
            if not accounted:
                unaccounted.append(span)
        if unaccounted:
            ids.append(UNKNOWN_TERMS)
        return Match(tuple(dict.fromkeys(ids)), tuple(unaccounted))

    def _accounted(self, segment: str) -> tuple[bool, list[str]]:
        """(explained?, licenses it names). A remainder is explained unless it holds a restricting phrase,
        or terms of use (``terms_patterns``: "may not", "only for", ...) that are not a known license's
        notice ("Licensed under the Apache License, Version 2.0 ... you may not use this file except ...",
        which names that license instead). Prose, headings, attribution and pointers explain themselves."""
        if any(pattern.search(segment) for pattern in self.rules.restricted):
            return False, []
        named = (
            []
            if self.rules.notice_ignore.search(segment)
            else [spdx for pattern, spdx in self.rules.notices if pattern.search(segment)]
        )
        if named:
            return True, named
        return not any(pattern.search(segment) for pattern in self.rules.terms), []


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
    """Join runs separated by at most ``gap`` covered words: a second license inside the remainder shares
    common phrases ("the software", "without warranty") with the first, which would cut it into pieces."""
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
        self.index = load_index(rules_dir)
        self.version = f"spdx-match-2:{self.index.source}:{self.index.rules.digest}"

    def read(self, text: str) -> Detection:
        rules = self.index.rules
        tokens, spans = words(text, rules.variants)
        found = self.index.match(tokens, spans, text)
        if found is not None:
            note = " … ".join(" ".join(text[a:b].split()) for a, b in found.unaccounted)
            return Detection(found.ids, self.name, note[:NOTE_CHARS])
        for pattern in rules.restricted:
            hit = pattern.search(text)
            if hit:
                start = max(0, hit.start() - 80)
                return Detection(
                    (RESTRICTED_TERMS,), self.name, " ".join(text[start : hit.end() + 80].split())
                )
        return Detection((), self.name)

    def identify(self, texts: dict[str, str]) -> dict[str, Detection]:
        return {key: self.read(text) for key, text in texts.items()}

    def read_notice(self, text: str) -> Detection:
        """A source file's license-notice comment block: a whole license text in it, a restricting phrase, or
        a license named by a notice ("Licensed under the Apache License, Version 2.0"). In-process and
        fast, since every source file of a repository may carry one."""
        found = self.read(text)
        if found.names:
            return found
        named = tuple(
            dict.fromkeys(spdx for pattern, spdx in self.index.rules.notices if pattern.search(text))
        )
        return Detection(named, f"{self.name}-notice")
