"""A license text as the matcher reads it: normalised words with their character spans, and sentences.

Normalisation is licensee's and go-license-detector's: lower case, spelling variants folded ("licence" ->
"license"), copyright statements, ``<placeholders>`` and markup tags blanked (to spaces of the same length,
so that every word's span still points into the original text). Comment markers (``//``, ``#``, ``*``) and
punctuation are not words, so a notice reads the same inside any comment syntax.

Sentences are runs of words between a sentence end (``.``, ``!``, ``?``, ``;`` followed by a capital or a line
break), a blank line (also a blank comment line), a heading or a list item. They are the unit in which the
terms of a text are read (``terms.py``) and quoted to the user.
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from dataclasses import dataclass

WORD = re.compile(r"[a-z0-9]+")
#: ``<year>``, ``<copyright holders>``, ``<name@example.org>``, HTML/XML tags: template fields and markup.
PLACEHOLDER = re.compile(r"<[^<>\n]{0,200}>")
#: markup entities (``&quot;``, ``&#169;``) are not words either
ENTITY = re.compile(r"&(#\d{1,5}|#x[0-9a-f]{1,4}|[a-z]{2,8});", re.IGNORECASE)
#: a copyright statement's line ("Copyright (c) 2020 Alice", " * (c) Bob", "Portions copyright ..."), also
#: inside a comment, but not a line of license prose that starts with the word: "copyright notice and this
#: permission notice appear in all copies" is ISC's condition; "copyright holders" ends many a clause
COPYRIGHT_LINE = re.compile(
    r"^[ \t]*(?:[*#;!%>|]+|//+|--+|/\*+|\.\\\"|dnl\b|rem\b)?[ \t]*"
    r"(copyright\b(?!\s+(notices?|holders?|owners?|law|laws|statements?|protection|information|"
    r"interests?|and\s+(this|the|license|licence|permission|related)\b))|portions\s+copyright|"
    # "(c) 2020 Alice", not a clause lettered (c): "(c) You must retain ..."
    r"(\(c\)|©|&copy;)(?!\s*(you|the|if|any|in|to|a|an|each|this|that|for|with|it|such|all|no|on|when)\b))"
    # up to the line's end, or to a license notice on the same line
    # ("Copyright 2020 Alice, licensed under MIT")
    r"(?:(?!\b(?:licen[cs]ed|released|distributed|available|permission|under\s+the)\b)[^\n])*",
    re.IGNORECASE | re.MULTILINE,
)
#: between two words: a sentence ends ("terms.  You may"), a blank (or blank comment) line, a list item
_END = re.compile(r"[.!?][\"')\]]*\s|;\s")
_BLANK = re.compile(r"\n[ \t]*(?:[*#;!%>|]+|//+|--+|\.\\\")?[ \t]*\r?\n")
#: a roff request (".PP", ".SH") or a markup tag at a line's edge: man pages and XML have no blank lines
_MARKUP_BREAK = re.compile(
    r"\n[ \t]*\.[A-Za-z]{1,3}\b"
    # any tag but HTML's inline and table-cell tags (GitHub's page of a file puts every line in a cell)
    r"|<\s*/?\s*(?!(a|span|b|i|em|strong|code|td|tr|th|tbody|thead|font|small|big|u|tt|sup|sub|abbr|cite|q|kbd|var)\b)"
    r"[A-Za-z][\w:.-]*[^<>\n]{0,200}>",
    re.IGNORECASE,
)
_ITEM = re.compile(r"\n[ \t*#/>-]*(?:\(?[0-9]{1,2}[.)]|\(?[a-h][.)]|[-•])[ \t]")
_COLON_LINE = re.compile(r":[ \t]*\r?\n")


@dataclass(frozen=True)
class Words:
    """The normalised words of a text, their (start, end) spans in it, and sentences as [start, end) word
    ranges."""

    text: str
    tokens: list[str]
    spans: list[tuple[int, int]]
    sentences: list[tuple[int, int]]

    def quote(self, start: int, end: int) -> str:
        """The original text of words [start, end), whitespace collapsed."""
        if start >= end:
            return ""
        return " ".join(self.text[self.spans[start][0] : self.spans[end - 1][1]].split())


def starts_item(words: Words, sentence: tuple[int, int]) -> bool:
    """Whether ``sentence`` begins with a list item's marker ("a) ", "(2) ", "- "): the marker's letter or
    number, when it has one, is the sentence's first word."""
    return sentence[0] > 0 and _item_at(words.text, words.spans, sentence[0])


def _item_at(text: str, spans: list[tuple[int, int]], number: int) -> bool:
    """Whether word ``number`` opens a list item ("\nb) the": the marker's letter is the word itself)."""
    return bool(_ITEM.search(text, spans[number - 1][1], spans[number][1] + 2))


def ends_with_colon(words: Words, sentence: tuple[int, int]) -> bool:
    """Whether ``sentence`` ends with a colon (it introduces what follows: "under either:")."""
    end = sentence[1]
    if end >= len(words.spans):
        return False
    return ":" in words.text[words.spans[end - 1][1] : words.spans[end][0]]


def blank(text: str) -> str:
    """``text`` with copyright lines, placeholders/tags and entities replaced by spaces (same length)."""
    out = COPYRIGHT_LINE.sub(lambda m: " " * len(m.group(0)), text)
    out = PLACEHOLDER.sub(lambda m: " " * len(m.group(0)), out)
    return ENTITY.sub(lambda m: " " * len(m.group(0)), out)


def read_words(text: str, variants: dict[str, str]) -> Words:
    """Words, spans and sentences of ``text`` (see the module docstring)."""
    lowered = blank(text).lower()
    tokens: list[str] = []
    spans: list[tuple[int, int]] = []
    for match in WORD.finditer(lowered):
        tokens.append(variants.get(match.group(0), match.group(0)))
        spans.append(match.span())
    return Words(text, tokens, spans, _sentences(text, spans))


def _sentences(text: str, spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    sentences: list[tuple[int, int]] = []
    start = 0
    marker = False  # the sentence began at a list item: its first word may be the marker ("1. The MIT")
    for number in range(1, len(spans)):
        gap = text[spans[number - 1][1] : spans[number][0]]
        # a list item: its marker's letter or number is the next word ("or\nb) the Apache License")
        item = "\n" in gap and _item_at(text, spans, number)
        if len(gap) > 2000 or item:
            ends = True  # a long stretch of non-words (a table, code punctuation) separates too
        elif not gap.strip():
            ends = False
        else:
            following = text[spans[number][0]]
            ends = bool(
                _BLANK.search(gap)
                or _COLON_LINE.search(gap)
                or _MARKUP_BREAK.search(gap)
                or (_END.search(gap) and (following.isupper() or ("\n" in gap and ";" not in gap)))
            )
        if ends and marker and number - start == 1 and not item and len(gap) <= 3:
            ends = False  # "1. The": the marker and its item are one sentence
        if ends:
            sentences.append((start, number))
            start = number
            marker = bool(item)
    if spans:
        sentences.append((start, len(spans)))
    return sentences


#: the end of a block comment or a docstring: what follows is another comment, or code
_COMMENT_END = re.compile(r"\*/|-->|\"\"\"|\'\'\'")
_ROFF_PARAGRAPH = re.compile(r"\n[ \t]*\.(PP|LP|P|SH|SS|TP|IP|HP|sp|RS|RE)\b|\n[ \t]*#{1,6}[ \t]")
_PARAGRAPH_TAG = re.compile(
    r"<\s*/?\s*(p|div|li|dt|dd|h[1-6]|tr|table|ul|ol|br|pre|section|article|blockquote)\b", re.I
)


def paragraphs(words: Words) -> list[tuple[int, int]]:
    """Word ranges of the paragraphs of a text: split at blank (or blank comment) lines and block tags."""
    found: list[tuple[int, int]] = []
    start = 0
    for number in range(1, len(words.spans)):
        gap = words.text[words.spans[number - 1][1] : words.spans[number][0]]
        if (
            _BLANK.search(gap)
            or _PARAGRAPH_TAG.search(gap)
            or _COMMENT_END.search(gap)
            or _ROFF_PARAGRAPH.search(gap)
        ):
            found.append((start, number))
            start = number
    if words.spans:
        found.append((start, len(words.spans)))
    return found


def joined(tokens: Sequence[str], start: int, end: int) -> tuple[str, list[int]]:
    """Words [start, end) joined by single spaces, and the character offset of each word in that string
    (patterns of ``rules/licenses.yaml`` are written against this form: lower case, no punctuation)."""
    offsets: list[int] = []
    position = 0
    for token in tokens[start:end]:
        offsets.append(position)
        position += len(token) + 1
    return " ".join(tokens[start:end]), offsets


def word_range(offsets: list[int], start: int, end: int) -> tuple[int, int]:
    """Character range [start, end) of a pattern match in a ``joined`` string -> the word range it touches."""
    first = max(bisect_right(offsets, start) - 1, 0)
    return first, max(bisect_left(offsets, end), first + 1)
