"""``rules/licenses.yaml`` -> a ``LicensePolicy``: SPDX normalisation, aliases, bundles and classes.

Expressions are parsed and normalised with ``license-expression`` (the SPDX expression library of the
ScanCode project). A file's class follows the SPDX operators: ``A OR B`` is permissive when either side is,
``A AND B`` only when both are, ``A WITH exception`` is the class of ``A`` when the exception is one of the
SPDX list's exceptions (each only *adds* permissions); anything else after ``WITH`` ("MIT WITH
Commons-Clause") is not permissive.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from license_expression import (
    ExpressionError,
    LicenseSymbol,
    LicenseWithExceptionSymbol,
    Licensing,
    get_spdx_licensing,
)

from stackcurate.errors import FatalError
from stackcurate.rules import load_yaml, rules_path

PERMISSIVE = "permissive"
NO_LICENSE = "no_license"
NON_PERMISSIVE = "non_permissive"
UNKNOWN_TEXT = "LicenseRef-unknown-license-text"


@dataclass(frozen=True)
class Bundle:
    name: str
    all_of: frozenset[str]
    means: str
    ignore: frozenset[str]


@dataclass(frozen=True)
class LicensePolicy:
    """Everything ``rules/licenses.yaml`` says, ready to use."""

    permissive: frozenset[str]
    aliases: dict[str, str]
    bundles: tuple[Bundle, ...]
    license_file_patterns: tuple[re.Pattern[str], ...]
    not_license_files: re.Pattern[str]
    pointer_max_chars: int
    pointer_or: tuple[re.Pattern[str], ...]
    spdx_header_bytes: int
    title_chars: int = 800
    titles: tuple[tuple[re.Pattern[str], str], ...] = ()
    uninformative: frozenset[str] = frozenset({"unknown", "none", "see license file", "see license"})
    #: (exception id pattern, pattern of the license ids it attaches to): see ``attach_exceptions``
    exception_bases: tuple[tuple[re.Pattern[str], re.Pattern[str]], ...] = ()
    #: (name, license ids, file globs): licenses whose subject is one kind of file (``subject_licenses``)
    subject_licenses: tuple[tuple[str, frozenset[str], tuple[str, ...]], ...] = ()

    @property
    def licensing(self) -> Licensing:
        return _licensing()

    def is_license_file(self, path: str) -> bool:
        name = path.rsplit("/", 1)[-1]
        if self.not_license_files.search(name):
            return False
        return any(pattern.match(name) for pattern in self.license_file_patterns)

    def normalize_name(self, name: str) -> str | None:
        """One license name (detector output or free text) -> SPDX expression string, or None if empty."""
        text = " ".join(name.split())
        if not text or text.lower() in self.uninformative:
            return None
        alias = self.aliases.get(text.lower())
        if alias:
            return alias
        return self.normalize_expression(text)

    def normalize_expression(self, text: str) -> str | None:
        """An SPDX-ish expression -> normalised SPDX expression; unknown ids become ``LicenseRef-*`` ids;
        None for a value that names no license (``uninformative``)."""
        if " ".join(text.split()).lower() in self.uninformative:
            return None
        choices = re.split(r"\)\s+OR\s+\(", text.strip()[1:-1]) if text.strip().startswith("(") else []
        if len(choices) > 1 and text.strip().endswith(")"):  # "(MIT License) OR (Apache ...)": classifiers
            return or_all([n for n in (self.normalize_name(c) for c in choices) if n])
        alias = self.aliases.get(" ".join(text.split()).lower())
        if alias:
            return alias
        try:
            parsed = self.licensing.parse(text, validate=False, simple=False)
        except ExpressionError:
            parsed = None
        if parsed is None:
            return f"LicenseRef-{_slug(text)}" if text.strip() else None
        return str(self._map_symbols(parsed).render())

    def _map_symbols(self, expression: Any) -> Any:
        """Apply aliases to the symbols of a parsed expression; ids SPDX does not know become LicenseRef-*."""
        licensing = self.licensing
        unknown = set(licensing.unknown_license_keys(expression, unique=True))
        mapping: dict[str, str] = {}
        for symbol in licensing.license_symbols(expression, unique=True, decompose=True):
            key = str(symbol.key)
            alias = self.aliases.get(key.lower())
            if alias:
                mapping[key] = alias
            elif key in unknown and not key.startswith("LicenseRef-") and key not in spdx_list_ids():
                mapping[key] = f"LicenseRef-{_slug(key)}"
        if not mapping:
            return expression
        rendered = expression.render()
        for key, value in mapping.items():
            replacement = value if " " not in value else f"({value})"
            rendered = re.sub(rf"(?<![\w.+-]){re.escape(key)}(?![\w.+-])", replacement, rendered)
        return licensing.parse(rendered, validate=False)

    def classify(self, expression: str | None) -> str:
        """``permissive`` / ``non_permissive`` for an expression, ``no_license`` for None."""
        if not expression:
            return NO_LICENSE
        try:
            parsed = self.licensing.parse(expression, validate=False)
        except ExpressionError:
            return NON_PERMISSIVE
        return PERMISSIVE if self._permissive(parsed) else NON_PERMISSIVE

    def _permissive(self, node: Any) -> bool:
        if isinstance(node, LicenseWithExceptionSymbol):  # A WITH exception: the class of A
            exception = str(node.exception_symbol.key)
            return str(node.license_symbol.key) in self.permissive and exception in spdx_exception_ids()
        if isinstance(node, LicenseSymbol):
            return str(node.key) in self.permissive
        children = list(getattr(node, "args", ()))
        if not children:
            return False  # anything this code does not understand is not permissive
        operator = str(getattr(node, "operator", "")).strip().upper()
        if operator == "OR":
            return any(self._permissive(child) for child in children)
        if operator == "AND":
            return all(self._permissive(child) for child in children)
        return False

    def choose(self, expression: str | None) -> str | None:
        """The branch a user of a permissive expression with a choice takes: the wholly permissive branch with
        the fewest licenses (then the first in the expression's order), e.g. ``MIT`` for ``MIT OR
        GPL-3.0-only``. None when the expression offers no choice or is not permissive."""
        if not expression or " OR " not in expression:
            return None
        try:
            parsed = self.licensing.parse(expression, validate=False)
        except ExpressionError:
            return None
        branches = self._branches(parsed)
        if not branches:
            return None
        best = min(branches, key=len)
        return " AND ".join(best)

    def _branches(self, node: Any) -> list[list[str]]:
        """Every wholly permissive way to satisfy ``node``: a list of license terms per way."""
        if isinstance(node, (LicenseWithExceptionSymbol, LicenseSymbol)):
            return [[str(node.render())]] if self._permissive(node) else []
        children = list(getattr(node, "args", ()))
        operator = str(getattr(node, "operator", "")).strip().upper()
        if operator == "OR":
            return [way for child in children for way in self._branches(child)]
        if operator == "AND":
            ways: list[list[str]] = [[]]
            for child in children:
                options = self._branches(child)
                if not options:
                    return []
                ways = [[*way, *option] for way in ways for option in options[:1]]
            return ways
        return []

    def attach_exceptions(self, ids: set[str]) -> set[str]:
        """Ids read in one text -> the same with each SPDX exception joined to its license: ``Apache-2.0`` and
        ``LLVM-exception`` -> ``Apache-2.0 WITH LLVM-exception``. An exception attaches to the one license of
        the text that ``exception_bases`` allows for it; with none or several candidates it is left out: an
        exception only adds permissions, so leaving it out never makes a text more permissive than it is. A
        text that is an exception alone keeps the bare id (``_decide_directory`` joins it to its directory's
        license)."""
        exceptions = {i for i in ids if i in spdx_exception_ids()}
        if not exceptions or exceptions == ids:
            return ids
        result = ids - exceptions
        for exception in sorted(exceptions):
            allowed = next((b for e, b in self.exception_bases if e.fullmatch(exception)), None)
            # not to a deprecated id that already holds an exception (GPL-2.0-with-GCC-exception)
            plain = [
                i
                for i in sorted(result)
                if " " not in i and "-with-" not in i and not i.startswith("LicenseRef-")
            ]
            targets = [i for i in plain if allowed is None or allowed.fullmatch(i)]
            if len(targets) == 1:
                result = (result - {targets[0]}) | {f"{targets[0]} WITH {exception}"}
        return result

    def apply_bundles(self, ids: set[str]) -> set[str]:
        """Replace a detector's multi-license reading of one known composite text by that text's license."""
        for bundle in self.bundles:
            if bundle.all_of <= ids:
                return (ids - bundle.ignore - bundle.all_of) | {bundle.means}
        return ids


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9.]+", "-", text.strip()).strip("-")[:64] or "unnamed"


def _combine(expressions: list[str], operator: str) -> str | None:
    unique = sorted(set(e for e in expressions if e))
    if not unique:
        return None
    if len(unique) == 1:
        return unique[0]
    joined = f" {operator} ".join(f"({e})" for e in unique)
    try:
        return str(_licensing().parse(joined).simplify().render())
    except ExpressionError:
        return joined


def and_all(expressions: list[str]) -> str | None:
    """``A AND B AND ...`` of the distinct expressions, duplicates removed (order-independent)."""
    return _combine(expressions, "AND")


def or_all(expressions: list[str]) -> str | None:
    """``A OR B OR ...`` of the distinct expressions (a choice between them)."""
    return _combine(expressions, "OR")


@lru_cache(maxsize=1)
def spdx_list_ids() -> frozenset[str]:
    """Every id of the shipped SPDX license list: known ids even where ``license-expression`` is older."""
    from stackcurate.licenses.spdx_data import load_spdx_texts

    data = load_spdx_texts()
    return frozenset(data["licenses"]) | frozenset(i for ids in data["same_text"].values() for i in ids)


@lru_cache(maxsize=1)
def spdx_exception_ids() -> frozenset[str]:
    """Every exception id of the shipped SPDX exceptions list (``WITH`` operands)."""
    from stackcurate.licenses.spdx_data import load_spdx_exceptions

    data = load_spdx_exceptions()
    return frozenset(data["exceptions"]) | frozenset(data["missing"])


@lru_cache(maxsize=1)
def _licensing() -> Licensing:
    return get_spdx_licensing()


@lru_cache(maxsize=8)
def load_license_policy(rules_dir: str | None = None) -> LicensePolicy:
    path = rules_path("licenses.yaml", rules_dir)
    data = load_yaml(path)
    try:
        permissive = frozenset(str(x) for x in data["permissive"])
        aliases = {str(k).strip().lower(): str(v) for k, v in (data.get("aliases") or {}).items()}
        bundles = tuple(
            Bundle(
                str(b["name"]),
                frozenset(map(str, b["all_of"])),
                str(b["means"]),
                frozenset(map(str, b.get("ignore", []))),
            )
            for b in data.get("bundles") or []
        )
        patterns = tuple(re.compile(p, re.IGNORECASE) for p in data["license_files"])
        pointer = data.get("pointer") or {}
        pointer_or = tuple(re.compile(p, re.IGNORECASE) for p in pointer.get("or_phrases", []))
        return LicensePolicy(
            permissive,
            aliases,
            bundles,
            patterns,
            re.compile(str(data.get("not_license_files", r"(?!)")), re.IGNORECASE),
            int(pointer.get("max_chars", 1500)),
            pointer_or,
            int(data.get("spdx_header_bytes", 4096)),
            int((data.get("titles") or {}).get("chars", 800)),
            tuple(
                (re.compile(pattern, re.IGNORECASE), str(spdx))
                for pattern, spdx in ((data.get("titles") or {}).get("patterns") or {}).items()
            ),
            frozenset(str(x).strip().lower() for x in data.get("uninformative") or ()),
            tuple(
                (re.compile(str(exception)), re.compile(str(bases)))
                for exception, bases in (data.get("exception_bases") or {}).items()
            ),
            tuple(
                (str(name), frozenset(map(str, entry["licenses"])), tuple(map(str, entry["files"])))
                for name, entry in (data.get("subject_licenses") or {}).items()
            ),
        )
    except (KeyError, TypeError, ValueError, re.error) as error:
        raise FatalError(f"{path}: invalid license rules: {error!r}") from None
