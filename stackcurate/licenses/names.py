"""License *names* in notices: "Licensed under the Apache License, Version 2.0", "MIT/GPL2 Licensed",
"either version 2 of the GNU General Public License, or (at your option) any later version", "License: BSD-3".

A name is recognised against every SPDX list id and full name (``spdx_data``), the rules' ``aliases``, and
license *families* whose version is written apart from the name (``names.families`` in rules/licenses.yaml).
Both sides are reduced to a canonical word form (``canonical``): filler words dropped ("the", "license",
"version"), ``v2``/``GPLv2`` split, trailing ``.0`` of a version dropped, so "Apache License, Version 2.0",
"Apache-2.0" and "apache 2" are one name.

A name counts only where a sentence gives it as the text's license: after a notice cue ("licensed under",
"distributed under the terms of", "License:", ``names.cues``), just before "licensed"/"license", or as
(nearly) the whole of a short text. A mention elsewhere ("unlike the GPL", "GPL-compatible") is not a notice.
Names joined by "or", "/" or under an alternative cue ("either", "dual licensed", "at your option") are a
choice (``OR``); otherwise every named license applies (``AND``).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from stackcurate.licenses.spdx_data import load_spdx_texts
from stackcurate.licenses.text import Words, joined, word_range

_SPLIT = re.compile(r"([a-z]+?)v?(\d+)")
#: between two names: "MIT or GPL", "MIT/GPL2" (not "version 2 or later")
_CHOICE_GAP = re.compile(r"\bor\b(?!\s+(\(?at\s+your\s+option\)?\s+)?(any\s+)?later)|^\W*[/|]\W*$")
#: words after which a name is a notice: "MIT licensed", "the BSD license"
_LICENSE_WORDS = frozenset({"license", "licensed", "licenses", "licensing"})


@dataclass(frozen=True)
class Family:
    """A license family whose version may stand apart from its name (rules: ``names.families``)."""

    template: str  # "GPL-{v}"
    suffixes: bool  # -only / -or-later forms exist
    unversioned: str  # the id a notice with no version means (the GPL: any version, GPL-1.0-or-later)
    versions: bool = True  # False: the name never takes a version ("BSD license")


@dataclass(frozen=True)
class Notice:
    """What one sentence declares: license ids (with spans of the words naming them), how they combine,
    and whether the sentence offers them as an alternative to what came before ("Alternatively, ...")."""

    ids: tuple[str, ...]
    choice: bool
    alternative: bool
    words: tuple[tuple[int, int], ...]

    @property
    def expression(self) -> str:
        ids = list(dict.fromkeys(self.ids))
        if len(ids) == 1:
            return ids[0]
        operator = " OR " if self.choice else " AND "
        return operator.join(f"({i})" if " " in i else i for i in ids)


class LicenseNames:
    """The name table and the notice reader; built once per process and rules (``load_names``)."""

    def __init__(self, rules: dict[str, Any], aliases: dict[str, str]):
        self.filler = frozenset(str(w) for w in rules["filler"])
        self.variants = {str(k): str(v).split() for k, v in (rules.get("variants") or {}).items()}
        self.cues = tuple(re.compile(str(p)) for p in rules["cues"])
        self.choice = re.compile(str(rules["choice"]))
        self.alternative = re.compile(str(rules["alternative"]))
        self.later = re.compile(str(rules["later"]))
        self.ignore = re.compile(str(rules["ignore"]))
        self.public_domain = re.compile(str(rules["public_domain"]))
        self.short_words = int(rules["short_words"])
        self.families: dict[tuple[str, ...], Family] = {}
        prefixes = []
        for family in rules["families"]:
            entry = Family(
                str(family["id"]),
                bool(family.get("suffixes")),
                str(family["unversioned"]),
                bool(family.get("versions", True)),
            )
            if entry.versions:
                prefixes.append(entry.template.split("{", 1)[0])
            for name in family["names"]:
                self.families[tuple(self.canonical(str(name).split())[0])] = entry
        data = load_spdx_texts()
        self.ids = frozenset(data["licenses"]) | frozenset(i for v in data["same_text"].values() for i in v)
        table: dict[tuple[str, ...], str] = {}
        entries = [(i, i) for i in self.ids] + [(n, i) for i, n in data.get("names", {}).items()]
        entries += [(k, v) for k, v in aliases.items()]
        # ids of families are read by the family rule (their version may stand apart), so not from the table;
        # on a collision the shorter id wins (deterministic), and an alias always wins over the list
        for text, spdx in sorted(
            entries, key=lambda e: (e[1] not in aliases.values(), len(e[1]), e[1], e[0])
        ):
            spdx = self._current(spdx)
            if any(spdx.startswith(p) for p in prefixes) and spdx not in aliases.values():
                continue
            key = tuple(self.canonical(re.findall(r"[a-z0-9]+", text.lower()))[0])
            if key and key not in self.families:
                table.setdefault(key, spdx)
        self.table = table
        self.unversioned = {f.unversioned: f for f in self.families.values()}
        #: the longest name that starts with each word: most words start none, and are passed over at once
        self.starts: dict[str, int] = {}
        for key in [*table, *self.families]:
            self.starts[key[0]] = max(self.starts.get(key[0], 0), len(key))

    def absorb_unversioned(self, parts: list[str]) -> list[str]:
        """Drop a family's unversioned id when a versioned id of the same family is named too: "See the GNU
        General Public License for more details" after "either version 2 ..." is the same license."""
        for family in dict.fromkeys(self.families.values()):
            prefix = re.compile(rf"(?<![\w.+-]){re.escape(family.template.split('{', 1)[0])}")
            if family.unversioned in parts and any(
                p != family.unversioned and prefix.search(p) for p in parts
            ):
                parts = [p for p in parts if p != family.unversioned]
        return parts

    def _named_with_version(self, spdx: str, named: set[str]) -> bool:
        """Whether ``named`` holds another id of the family whose unversioned id is ``spdx``."""
        family = self.unversioned[spdx]
        if not family.versions:
            return False
        prefix = re.compile(rf"(?<![\w.+-]){re.escape(family.template.split('{', 1)[0])}")
        return any(other != spdx and prefix.match(other) for other in named)

    def _current(self, spdx: str) -> str:
        """A deprecated id -> the current one: ``GPL-2.0+`` -> ``GPL-2.0-or-later``, ``GPL-2.0`` ->
        ``-only``."""
        if spdx.endswith("+") and f"{spdx[:-1]}-or-later" in self.ids:
            return f"{spdx[:-1]}-or-later"
        if f"{spdx}-only" in self.ids:
            return f"{spdx}-only"
        return spdx

    def canonical(self, tokens: Sequence[str], plus: Sequence[bool] = ()) -> tuple[list[str], list[int]]:
        """Canonical words of ``tokens`` and, for each, the index of the token it came from. ``plus[i]``: a
        ``+`` follows token i in the text (``GPLv2+``), read as "or later"."""
        out: list[str] = []
        source: list[int] = []
        for number, token in enumerate(tokens):
            parts = self.variants.get(token) or [token]
            split = _SPLIT.fullmatch(parts[0]) if len(parts) == 1 else None
            if split and split.group(1) not in self.filler:
                parts = [split.group(1), split.group(2)]
            elif split:
                parts = [split.group(2)]  # "v2" -> "2"
            for part in parts:
                if part in self.filler:
                    continue
                if part == "0" and out and out[-1].isdigit() and source and source[-1] >= number - 1:
                    continue  # "2.0" -> "2": a version's trailing zero (never a lone "0": CC0 -> "cc 0")
                out.append(part)
                source.append(number)
            if number < len(plus) and plus[number]:
                out.extend(["or", "later"])
                source.extend([number, number])
        return out, source

    def _version(self, words: list[str], start: int) -> tuple[str | None, bool, bool, int]:
        """(version, or-later, only, words used) of a family name's version in ``words[start:]``: the first
        number within a few words ("GPL as published by the FSF; either version 2 of the License")."""
        for offset in range(min(12, len(words) - start)):
            word = words[start + offset]
            if offset and not word.isdigit() and ((word,) in self.table or (word,) in self.families):
                break  # another license's name: the number that follows is its version
            if word.isdigit() and len(word) <= 2:
                version = [word]
                if start + offset + 1 < len(words) and words[start + offset + 1].isdigit():
                    version.append(words[start + offset + 1])
                rest = " ".join(words[start + offset + len(version) : start + offset + len(version) + 8])
                later = bool(self.later.match(rest))
                only = rest.startswith("only")
                text = ".".join(version) if len(version) > 1 else f"{version[0]}.0"
                return text, later, only, offset + len(version)
        return None, False, False, 0

    def _version_before(self, words: list[str], position: int) -> tuple[str | None, bool]:
        """A version written before the family name: "under version 2 or later of the GNU General Public
        License" (canonical: "2 or later of gnu general public")."""
        if position < 2 or words[position - 1] != "of":
            return None, False
        before = words[max(0, position - 6) : position - 1]
        numbers = [n for n, w in enumerate(before) if w.isdigit() and len(w) <= 2]
        if not numbers:
            return None, False
        first = numbers[0]
        version = [before[first]]
        if first + 1 < len(before) and before[first + 1].isdigit():
            version.append(before[first + 1])
        rest = " ".join(before[first + len(version) :])
        text = ".".join(version) if len(version) > 1 else f"{version[0]}.0"
        return text, bool(self.later.match(rest))

    def _folder(self, words: Words, last: int, after: str) -> bool:
        """Whether a name ending at word ``last`` is a folder of a path: a ``/`` joins it to a word that
        starts no license name ("see doc/licenses/BSD.txt", "json/LICENSE"), so it names a folder, not a
        license ("MIT/GPL2" joins two names: a choice)."""
        stop = words.spans[last][1]
        if words.text[stop : stop + 1] != "/" or not after:
            return False
        following = self.canonical([after])[0]
        return not following or following[0] not in self.starts

    def _family_id(self, family: Family, version: str | None, later: bool) -> str:
        if version is None:
            return family.unversioned
        base = family.template.format(v=version)
        if family.suffixes:
            suffixed = f"{base}-or-later" if later else f"{base}-only"
            return suffixed if suffixed in self.ids else family.unversioned
        return base if base in self.ids else family.unversioned

    def find(self, words: list[str]) -> list[tuple[int, int, str]]:
        """(first, end, id) of every license name in canonical ``words``, longest first, left to right."""
        found: list[tuple[int, int, str]] = []
        position = 0
        while position < len(words):
            best: tuple[int, str | Family] | None = None
            longest = self.starts.get(words[position], 0)
            for length in range(min(longest, len(words) - position), 0, -1):
                key = tuple(words[position : position + length])
                hit: str | Family | None = self.families.get(key) or self.table.get(key)
                if hit is not None:
                    best = (length, hit)
                    break
            if best is None:
                position += 1
                continue
            length, hit = best
            if isinstance(hit, str) and hit in self.unversioned:
                hit = self.unversioned[hit]  # "GNU General Public License (GPL)": its version may follow
            if isinstance(hit, Family) and not hit.versions:
                found.append((position, position + length, hit.unversioned))
            elif isinstance(hit, Family):
                version, later, _, used = self._version(words, position + length)
                if version is None:
                    version, later = self._version_before(words, position)
                found.append((position, position + length + used, self._family_id(hit, version, later)))
                length += used
            else:
                found.append((position, position + length, hit))
            position += length
        return found

    def read(self, words: Words, start: int, end: int, short: bool) -> Notice | None:
        """The notice of sentence [start, end) of ``words``; ``short``: the whole text is a few words, so a
        name anywhere in it is its license ("MIT. See LICENSE")."""
        text, offsets = joined(words.tokens, start, end)
        if self.ignore.search(text):
            return None
        plus = [words.text[s[1] : s[1] + 1] == "+" for s in words.spans[start:end]]
        canon, source = self.canonical(words.tokens[start:end], plus)
        windows = []
        for cue in self.cues:
            for match in cue.finditer(text):
                windows.append(word_range(offsets, match.end(), match.end() + 1)[0])
        for number in range(start, end - 1):  # "License: X", "Project License: X"
            if (
                words.tokens[number] in _LICENSE_WORDS
                and ":" in words.text[words.spans[number][1] : words.spans[number + 1][0]]
            ):
                windows.append(number + 1 - start)
        accepted: list[tuple[int, int, str]] = []
        # a copyright statement names its holder: "Copyright (c) 2008, Fair Oaks Labs" is no Fair license,
        # even in a text of a few words
        holder = text.startswith("copyright")
        bare: set[tuple[int, int, str]] = set()  # a family's name without a version ("GPL")
        for first, last, spdx in self.find(canon):
            a, b = source[first], source[last - 1] + 1
            after = words.tokens[start + b] if start + b < end else ""
            if self._folder(words, start + b - 1, after):
                continue
            in_window = any(w <= a <= w + 24 for w in windows)
            # a heading or list item ("LGPLv3"), or the subject of its sentence ("LGPLv3 was used for ..."); a
            # family's bare name there is a product's ("Apache Tomcat"), not a license's
            # (a strong name: with a version or of several words; "Intel", "JSON", "Loop" are words too)
            versioned = any(w.isdigit() for w in canon[first:last])
            named = (
                versioned or (last - first >= 2 and spdx not in self.unversioned) or after in _LICENSE_WORDS
            )
            alone = named and (a == 0 or (end - start <= 8 and 2 * (b - a) >= end - start))
            if (short and not holder) or in_window or alone or after in _LICENSE_WORDS:
                accepted.append((start + a, start + b, spdx))
                if spdx in self.unversioned and not versioned:
                    bare.add(accepted[-1])
        public = self.public_domain.search(text)
        if public:
            a, b = word_range(offsets, public.start(), public.end())
            accepted.append((start + a, start + b, "LicenseRef-public-domain"))
        if not accepted:
            return None
        # "the GNU General Public License Version 2 only ("GPL")": a family's bare name beside a versioned
        # name of that family is its short name, not another license
        strong = {x[2] for x in accepted if x not in bare}
        accepted = sorted(x for x in accepted if x not in bare or not self._named_with_version(x[2], strong))
        between = [
            words.text[words.spans[x[1] - 1][1] : words.spans[y[0]][0]].lower()
            for x, y in itertools.pairwise(accepted)
        ]
        choice = bool(self.choice.search(self.later.sub(" ", text))) or any(
            len(gap) <= 40 and bool(_CHOICE_GAP.search(gap)) for gap in between
        )
        return Notice(
            tuple(a[2] for a in accepted),
            choice,
            bool(self.alternative.search(text)),
            tuple((a[0], a[1]) for a in accepted),
        )


_LOADED: dict[str, LicenseNames] = {}


def load_names(rules: dict[str, Any], aliases: dict[str, str], rules_key: str) -> LicenseNames:
    """The name table for these rules, built once per process (``rules_key``: the rules file's digest)."""
    if rules_key not in _LOADED:
        _LOADED[rules_key] = LicenseNames(rules, aliases)
    return _LOADED[rules_key]
