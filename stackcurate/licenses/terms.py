"""Fail closed: every sentence of a text that no recognised license accounts for is read for terms of use.

After the matcher has marked the words that recognised license texts cover, each sentence that still has
uncovered words is read in three ways (``terms`` in rules/licenses.yaml; all patterns are written against
the sentence's normalised words: lower case, single spaces, no punctuation):

1. as a **notice** that names licenses ("Licensed under the MIT license", ``names.py``): those licenses join
   the text's expression;
2. with the **accounted** phrasings blanked out: a warranty or liability disclaimer, the attribution duty
   every permissive license has ("the above copyright notice ... shall be included"), a grant's own
   "without fee", a clause that refers back to a named license ("except in compliance with the
   License"), the name-use clause ("the name ... may not be used to endorse ... without permission");
3. for the **kinds of terms** left: a restriction, a field of use, a payment, an approval, a source-disclosure
   duty, a condition, a termination. A kind that matches at least one uncovered word makes the sentence
   *unaccounted*: the text is then ``... AND LicenseRef-unknown-terms`` whatever the sentence's length.

In text that is mostly source code, only the comment blocks that carry license evidence are read: the
comments of a program ("the caller must free the buffer") are not terms of its license.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from stackcurate.licenses.names import LicenseNames, Notice
from stackcurate.licenses.text import Words, ends_with_colon, joined, paragraphs, starts_item, word_range

#: a line of program code (not a comment, not prose)
_CODE_LINE = re.compile(
    r"""[;{}]\s*$|^\s*(\#\s*(include|define|if|ifdef|ifndef|endif|else|pragma|undef|import)\b|import\s|from\s\S+\simport|
    def\s|class\s|function\b|var\s|const\s|let\s|public\s|private\s|protected\s|static\s|return\b|package\s|
    using\s|namespace\s|struct\s|typedef\s|[A-Za-z_][\w.]*\s*=[^=]|[A-Za-z_][\w.]*\(.*\)\s*$|@\w+)""",
    re.VERBOSE,
)
_COMMENT_LINE = re.compile(
    r"^\s*(\*|/\*|//|#(?!\s*(include|define|if|ifdef|ifndef|elif|else|endif|pragma|undef|error|line)\b)|--|;|%|!|<!--|\.\\\"|dnl\b|rem\b)"
)
_COMMENT_CLOSE = re.compile(r"\*/|-->|\"\"\"|\'\'\'")
#: words that carry license evidence in a comment block of source code
_LICENSE_VOCABULARY = re.compile(r"licen[cs]|copyright|permission|warrant|redistribut|public domain|terms")


@dataclass(frozen=True)
class TermRules:
    """``terms`` in rules/licenses.yaml."""

    kinds: tuple[tuple[str, re.Pattern[str]], ...]
    accounted: tuple[re.Pattern[str], ...]
    everywhere: tuple[tuple[str, re.Pattern[str]], ...]
    document_words: int
    document_share: float
    paragraph_words: int
    rider_sentences: int

    @classmethod
    def from_rules(cls, data: dict[str, Any]) -> TermRules:
        kinds = tuple(
            (str(kind), re.compile(str(pattern)))
            for kind, patterns in data["kinds"].items()
            for pattern in patterns
        )
        accounted = tuple(re.compile(str(p)) for p in data["accounted"])
        everywhere = tuple(("field_of_use_or_payment", re.compile(str(p))) for p in data["everywhere"])
        return cls(
            kinds,
            accounted,
            everywhere,
            int(data["document_words"]),
            float(data["document_share"]),
            int(data["paragraph_words"]),
            int(data["rider_sentences"]),
        )


@dataclass(frozen=True)
class Accounting:
    """What the uncovered sentences of a text hold: notices in text order (with the word index where each
    starts), and the sentences read as unknown terms (word ranges, with the kinds found)."""

    notices: tuple[tuple[int, Notice], ...]
    unaccounted: tuple[tuple[int, int, tuple[str, ...]], ...]


def code_lines(text: str) -> list[tuple[int, int]] | None:
    """Character ranges of the code lines of ``text``; None when the text is not mostly code."""
    ranges: list[tuple[int, int]] = []
    position = 0
    lines = 0
    for line in text.splitlines(keepends=True):
        stripped = line.strip()
        if stripped:
            lines += 1
            if not _COMMENT_LINE.match(line) and _CODE_LINE.search(stripped):
                ranges.append((position, position + len(line)))
        position += len(line)
    return ranges if len(ranges) >= 3 and len(ranges) >= 0.2 * lines else None


def _readable(words: Words, evidence: bytearray, rules: TermRules, source: bool = False) -> bytearray:
    """1 for every word whose sentence may hold terms of the text's license (``evidence``: words of license
    texts or notices found).

    - A license file (most of its words are license or notice, or few words are left over): all of it.
    - A document that holds a license (a man page, a FAQ, a build file: more than ``document_words``
      uncovered words and most of the text), or source code: the sentences with license evidence, the rest of
      their paragraph when it is short (``paragraph_words``), and the ``rider_sentences`` after each, where a
      rider would stand -- up to a comment's end or a line of code (the comments and documentation of a
      program, "the caller must free the buffer", are not terms of its license).
    - No license evidence at all: all of it (in source code, the paragraphs with license vocabulary).

    ``source``: the text is a source file's notice (its header comment or docstring), read as source code
    even without a line of code: a module docstring's description of the code ("should only be used if the
    application is behind a proxy") is no term of the license its last lines name.
    """
    size = len(words.tokens)
    code = source or code_lines(words.text) is not None or _closed_comment(words.text)
    left = size - sum(evidence)
    if not any(evidence):
        if not code:
            return bytearray(b"\x01" * size)
        evidence = bytearray(size)
        for start, end in paragraphs(words):
            if _LICENSE_VOCABULARY.search(" ".join(words.tokens[start:end])):
                evidence[start:end] = b"\x01" * (end - start)
    elif not code and (left <= rules.document_words or left <= rules.document_share * size):
        return bytearray(b"\x01" * size)
    readable = bytearray(size)
    for start, end in paragraphs(words):
        if any(evidence[start:end]) and end - start <= rules.paragraph_words:
            readable[start:end] = b"\x01" * (end - start)
    sentences = words.sentences
    for number, (start, end) in enumerate(sentences):
        if not any(evidence[start:end]):
            continue
        readable[start:end] = b"\x01" * (end - start)
        for a, b in sentences[number + 1 : number + 1 + rules.rider_sentences]:
            gap = words.text[words.spans[a - 1][1] : words.spans[a][0]]
            body = words.text[words.spans[a][0] : words.spans[b - 1][1]]
            if _COMMENT_CLOSE.search(gap) or any(
                _CODE_LINE.search(line.strip()) and not _COMMENT_LINE.match(line)
                for line in body.splitlines()
            ):
                break
            readable[a:b] = b"\x01" * (b - a)
    return readable


def _license_runs(covered: bytearray, minimum: int = 8) -> bytearray:
    """The covered words that stand in runs of ``minimum`` or more: license text, not a common phrase that
    happens to be a license's ("the use of this software")."""
    runs = bytearray(len(covered))
    start = None
    for position, flag in enumerate([*covered, 0]):
        if flag and start is None:
            start = position
        elif not flag and start is not None:
            if position - start >= minimum:
                runs[start:position] = b"\x01" * (position - start)
            start = None
    return runs


def _closed_comment(text: str) -> bool:
    """Whether a block comment closes before more text: a source file's license header."""
    end = text.find("*/")
    return end >= 0 and bool(text[end + 2 :].strip())


def account(
    words: Words,
    covered: bytearray,
    names: LicenseNames,
    rules: TermRules,
    short_words: int,
    source: bool = False,
) -> Accounting:
    """Read every sentence that has uncovered words (see the module docstring); ``source``: the text is a
    source file's notice (``_readable``)."""
    short = len(words.tokens) <= short_words
    evidence = _license_runs(covered)
    listed = {item: intro for intro, items in choice_lists(words, names, covered).items() for item in items}
    read: dict[int, Notice] = {}
    for number, (start, end) in enumerate(words.sentences):
        if all(covered[start:end]):
            continue
        notice = _uncovered(names.read(words, start, end, short or number in listed), covered)
        if notice is not None:
            read[number] = notice
            for a, b in notice.words:
                evidence[a:b] = b"\x01" * (b - a)
    offered, folded = _offered(read, listed)
    readable = _readable(words, evidence, rules, source)
    notices: list[tuple[int, Notice]] = []
    unaccounted: list[tuple[int, int, tuple[str, ...]]] = []
    for number, (start, end) in enumerate(words.sentences):
        if all(covered[start:end]):
            continue
        notice = read.get(number)
        if not any(readable[start:end]):  # outside the license region only the strongest kinds count
            kinds = _terms(words.tokens, covered, start, end, rules.accounted, rules.everywhere, notice)
            if kinds:
                unaccounted.append((start, end, kinds))
            continue
        if notice is not None and number not in folded:
            notices.append((start, offered.get(number, notice)))
        kinds = _terms(words.tokens, covered, start, end, rules.accounted, rules.kinds, notice)
        if kinds:
            unaccounted.append((start, end, kinds))
    return Accounting(tuple(notices), tuple(unaccounted))


def choice_lists(words: Words, names: LicenseNames, covered: bytearray) -> dict[int, list[int]]:
    """Choices offered as a list: a sentence with a choice word ("either", "at your option", ``names.choice``)
    that ends with a colon, and the list items after it ("a) the GNU General Public License ..., or" / "b)
    the Artistic License"), as ``{intro sentence: [item sentences]}``. An item may run on into one more
    sentence before the next item; the list ends at the first other sentence."""
    sentences = words.sentences
    lists: dict[int, list[int]] = {}
    for number, sentence in enumerate(sentences):
        if all(covered[sentence[0] : sentence[1]]) or not ends_with_colon(words, sentence):
            continue
        if not names.choice.search(joined(words.tokens, *sentence)[0]):
            continue
        items: list[int] = []
        following = number + 1
        while following < len(sentences):
            if starts_item(words, sentences[following]):
                items.append(following)
            else:  # one sentence more of the item before, if the next item follows it
                after = following + 1
                if not items or after >= len(sentences) or not starts_item(words, sentences[after]):
                    break
            following += 1
        if len(items) >= 2:
            lists[number] = items
    return lists


def _offered(read: dict[int, Notice], listed: dict[int, int]) -> tuple[dict[int, Notice], set[int]]:
    """``(notices, folded)``: one notice per choice list, at its first item that names a license, with the
    names of every item as a choice (``OR``); ``folded``, the other items, whose names it holds. A list where
    fewer than two items name a license offers no choice: its items are read one by one."""
    items: dict[int, list[int]] = {}
    for number in sorted(listed):
        if number in read:
            items.setdefault(listed[number], []).append(number)
    offered: dict[int, Notice] = {}
    folded: set[int] = set()
    for numbers in items.values():
        if len(numbers) < 2:
            continue
        notices = [read[n] for n in numbers]
        offered[numbers[0]] = Notice(
            tuple(i for n in notices for i in n.ids),
            True,
            notices[0].alternative,
            tuple(w for n in notices for w in n.words),
        )
        folded.update(numbers[1:])
    return offered, folded


def _uncovered(notice: Notice | None, covered: bytearray) -> Notice | None:
    """The notice without the names a recognised license text already covers (the GPL's own mention of the
    Affero GPL is part of the GPL, not a notice)."""
    if notice is None:
        return None
    keep = [n for n, (a, b) in enumerate(notice.words) if not all(covered[a:b])]
    if len(keep) == len(notice.ids):
        return notice
    if not keep:
        return None
    return Notice(
        tuple(notice.ids[n] for n in keep),
        notice.choice,
        notice.alternative,
        tuple(notice.words[n] for n in keep),
    )


@lru_cache(maxsize=16)
def _any(kinds: tuple[tuple[str, re.Pattern[str]], ...]) -> re.Pattern[str]:
    """One pattern that matches where any of ``kinds`` does (a quick test before the kinds one by one)."""
    return re.compile("|".join(f"(?:{pattern.pattern})" for _, pattern in kinds))


def _terms(
    tokens: Sequence[str],
    covered: bytearray,
    start: int,
    end: int,
    accounted: tuple[re.Pattern[str], ...],
    kinds: tuple[tuple[str, re.Pattern[str]], ...],
    notice: Notice | None,
) -> tuple[str, ...]:
    """The kinds of terms in sentence [start, end) that touch an uncovered word, after the accounted
    phrasings are blanked."""
    text, offsets = joined(tokens, start, end)
    if not _any(kinds).search(text):  # most sentences hold no term at all: one search decides
        return ()
    for pattern in accounted:
        text = pattern.sub(lambda m: " " * len(m.group(0)), text)
    named = {(a - start, b - start) for a, b in (notice.words if notice else ())}
    found: list[str] = []
    for kind, pattern in kinds:
        if kind in found:
            continue
        for match in pattern.finditer(text):
            first, last = word_range(offsets, match.start(), match.end())
            if any((first >= a and last <= b) for a, b in named):
                continue  # the words of a license's name ("Non-Commercial" in CC-BY-NC's) are the notice's
            if not all(covered[start + first : start + last]):
                found.append(kind)
                break
    return tuple(found)
