"""PII recognisers for source code, run by presidio-analyzer's ``AnalyzerEngine`` offline.

Presidio's own recognisers are built for prose: on code its URL and driver-licence recognisers fire on
nearly every file and its IP recogniser matches the ``::`` of a slice. This module gives presidio one
``CodeRecognizer`` per entry of ``rules/pii.yaml`` instead -- a regular expression whose group ``value``
is the span, trigger substrings (a file without any of them is not scanned: the fast path) and value tests
(stackcurate.pii.checks) -- plus one ``VendorTokenRecognizer`` for ``rules/pii_tokens.yaml``, and builds
the engine with the no-op NLP engine (no model is loaded or downloaded). Where the triggers and the
vendor-token prefixes occur is found once per file, for all recognisers together (``TriggerScan``: one
Aho-Corasick pass over the file's lower-cased copy), not once per recogniser. ``NAME`` is found by context
rules and a first-name gazetteer (stackcurate.pii.names), no NLP model.

Attribution is deterministic: each recogniser has a rank (the vendor tokens first, then the order of
rules/pii.yaml) and a score that falls with it, so where two recognisers find the same span presidio keeps
the same one every run (its de-duplication goes through a ``set``, whose order changes from process to
process), and ``stackcurate.pii.redact.resolve_overlaps`` breaks every other tie by rank.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from functools import lru_cache
from typing import Any

from stackcurate.errors import FatalError
from stackcurate.pii.checks import CHECKS, Validators
from stackcurate.pii.names import person_spans
from stackcurate.pii.presidio_import import presidio
from stackcurate.pii.rules_model import VENDOR_TOKEN, PiiRules
from stackcurate.pii.secrets import SecretNames, ValueTests
from stackcurate.pii.tokens import find_tokens, load_tokens, token_prefixes
from stackcurate.rules import load_yaml, rules_path

ENTITIES = ("EMAIL", "IP_ADDRESS", "KEY", "PASSWORD", "NAME")
#: a recogniser of entity SECRET finds KEY or PASSWORD, as the key's name says
SECRET_ENTITIES = ("KEY", "PASSWORD")
MACRO = re.compile(r"<<([A-Z_]+)>>")


def _lower_set(data: dict[str, Any], key: str) -> frozenset[str]:
    return frozenset(str(word).lower() for word in data.get(key, []) or [])


def expand_macros(pattern: str, macros: dict[str, str], path: Any) -> str:
    """``pattern`` with every ``<<NAME>>`` replaced by ``macros[NAME]`` (macros may use macros)."""
    for _ in range(10):
        if "<<" not in pattern:
            return pattern
        missing = [name for name in MACRO.findall(pattern) if name not in macros]
        if missing:
            raise FatalError(f"{path}: unknown macro <<{missing[0]}>>")
        pattern = MACRO.sub(lambda m: macros[m.group(1)], pattern)
    raise FatalError(f"{path}: macros nest too deep")


@lru_cache(maxsize=8)
def load_pii_rules(rules_dir: str | None = None) -> PiiRules:
    path = rules_path("pii.yaml", rules_dir)
    data = load_yaml(path)
    recognizers = data.get("recognizers")
    if not isinstance(recognizers, list) or not recognizers:
        raise FatalError(f"{path}: 'recognizers' must be a non-empty list")
    macros = {str(k): str(v) for k, v in (data.get("macros") or {}).items()}
    macros["PERSON"] = str(data.get("person_name_pattern", ""))
    compiled = []
    for entry in recognizers:
        if not isinstance(entry, dict) or not {"name", "entity", "pattern", "triggers"} <= set(entry):
            raise FatalError(f"{path}: every recognizer needs name, entity, pattern and triggers: {entry!r}")
        entry = {**entry, "pattern": expand_macros(str(entry["pattern"]), macros, path)}
        if entry["entity"] not in (*ENTITIES, "SECRET"):
            raise FatalError(f"{path}: recognizer {entry['name']}: unknown entity {entry['entity']!r}")
        unknown = sorted(set(entry.get("checks", [])) - set(CHECKS))
        if unknown:
            raise FatalError(f"{path}: recognizer {entry['name']}: unknown checks {unknown}")
        try:
            regex = re.compile(entry["pattern"])
        except re.error as error:
            raise FatalError(f"{path}: recognizer {entry['name']}: bad pattern: {error}") from None
        if entry.get("person") not in (None, "list", "single", "gazetteer", "gazetteer_list"):
            raise FatalError(
                f"{path}: recognizer {entry['name']}: "
                "person must be list, single, gazetteer or gazetteer_list"
            )
        needs = entry.get("needs", [])
        if not isinstance(needs, list) or not all(isinstance(w, str) and w for w in needs):
            raise FatalError(f"{path}: recognizer {entry['name']}: needs must be a list of non-empty words")
        if "value" not in regex.groupindex:
            raise FatalError(f"{path}: recognizer {entry['name']}: the pattern needs a group named 'value'")
        if entry["entity"] == "SECRET" and "name" not in regex.groupindex:
            raise FatalError(f"{path}: recognizer {entry['name']}: a SECRET pattern needs a group 'name'")
        compiled.append(entry)
    replacements = data.get("ip_replacements", {}) or {}
    return PiiRules(
        recognizers=tuple(compiled),
        placeholders=_lower_set(data, "placeholders"),
        placeholder_prefixes=tuple(str(p).lower() for p in data.get("placeholder_prefixes", [])),
        placeholder_words=tuple(str(w).lower() for w in data.get("placeholder_words", [])),
        placeholder_email_domains=_lower_set(data, "placeholder_email_domains"),
        email_code_domains=_lower_set(data, "email_code_domains"),
        email_role_locals=_lower_set(data, "email_role_locals"),
        email_placeholder_locals=_lower_set(data, "email_placeholder_locals"),
        email_placeholder_words=_lower_set(data, "email_placeholder_words"),
        email_placeholder_labels=_lower_set(data, "email_placeholder_labels"),
        file_extensions=_lower_set(data, "file_extensions"),
        placeholder_names=_lower_set(data, "placeholder_names"),
        popular_dns=frozenset(str(ip) for ip in data.get("popular_dns", [])),
        version_words=_lower_set(data, "version_words"),
        address_words=_lower_set(data, "address_words"),
        name_stopwords=_lower_set(data, "name_stopwords"),
        ambiguous_first_names=_lower_set(data, "ambiguous_first_names"),
        placeholder_hosts=_lower_set(data, "placeholder_hosts"),
        org_words=_lower_set(data, "org_words"),
        company_suffixes=_lower_set(data, "company_suffixes"),
        technical_terms=_lower_set(data, "technical_terms"),
        technical_nouns=_lower_set(data, "technical_nouns"),
        field_words=_lower_set(data, "field_words"),
        self_describing_words=tuple(sorted(_lower_set(data, "self_describing_words"))),
        code_objects=_lower_set(data, "code_objects"),
        password_hash_calls=tuple(sorted(_lower_set(data, "password_hash_calls"))),
        prose_stopwords=_lower_set(data, "prose_stopwords"),
        secret_names=SecretNames.from_rules(data.get("secret_names") or {}),
        value_tests=ValueTests.from_rules(data.get("value_tests") or {}),
        ip_replacements={
            "ipv4": tuple(replacements.get("ipv4", ["10.0.0.1"])),
            "ipv6": tuple(replacements.get("ipv6", ["fd00::1"])),
        },
    )


def first_per_line(text: str, haystack: str, triggers: Iterable[str]) -> list[int]:
    """Where each of ``triggers`` first occurs in ``haystack`` on each line of ``text`` that holds it."""
    positions = []
    for trigger in triggers:
        position = haystack.find(trigger)
        while position >= 0:
            positions.append(position)
            end = text.find("\n", position)
            if end < 0:
                break
            # the next line: past this one's newline and past the trigger's start, so a trigger that is
            # empty or starts with a newline cannot find the same place again (an endless loop)
            position = haystack.find(trigger, max(end, position) + 1)
    return positions


class TriggerScan:
    """Every place where a trigger word occurs in a text, found in one pass for all recognisers.

    ``exact`` words are looked for as written, ``folded`` ones (lower case) in the text's lower-cased copy.
    Both are found by one Aho-Corasick automaton (pyahocorasick, C) run over the lower-cased copy -- an
    exact word under its lower-case form, kept where the text holds it as written -- so a file is read
    once whatever the number of recognisers and words, instead of once per recogniser and word. A word of
    one character (a plain ``in`` is as fast), holding a newline, or exact and not ASCII is not in the
    automaton: ``indexed`` says which are, and the recognisers look for the others themselves.
    """

    def __init__(self, exact: Iterable[str], folded: Iterable[str]):
        # lower-case form -> (is it a folded word, the exact words of that form)
        forms: dict[str, tuple[bool, tuple[str, ...]]] = {}
        for word in sorted({w for w in folded if self.indexed(w, folded=True)}):
            forms[word] = (True, ())
        for word in sorted({w for w in exact if self.indexed(w, folded=False)}):
            is_folded, words = forms.get(word.lower(), (False, ()))
            forms[word.lower()] = (is_folded, (*words, word))
        self.automaton: Any = None
        if forms:
            import ahocorasick

            self.automaton = ahocorasick.Automaton()
            for form, (is_folded, words) in forms.items():
                self.automaton.add_word(form, (form, len(form) - 1, is_folded, words))
            self.automaton.make_automaton()

    @staticmethod
    def indexed(word: str, folded: bool) -> bool:
        """Whether the scan finds ``word``, an exact or a ``folded`` one."""
        return len(word) > 1 and "\n" not in word and (folded or word.isascii())

    def positions(self, text: str, nlp_artifacts: Any, folded: bool) -> dict[str, list[int]]:
        """``{word: start of each occurrence}`` of the indexed ``folded`` words in the lower-cased text, or
        of the exact ones in ``text``; computed once per text when the scanner's artifacts carry a cache."""
        cache: dict[Any, Any] | None = getattr(nlp_artifacts, "stackcurate_cache", None)
        found: tuple[dict[str, list[int]], dict[str, list[int]]] | None = (
            cache.get("trigger-scan") if cache is not None else None
        )
        if found is None:
            found = self._scan(text, _lowered(text, nlp_artifacts))
            if cache is not None:
                cache["trigger-scan"] = found
        return found[1] if folded else found[0]

    def _scan(self, text: str, lowered: str) -> tuple[dict[str, list[int]], dict[str, list[int]]]:
        exact: dict[str, list[int]] = {}
        folded: dict[str, list[int]] = {}
        if self.automaton is None:
            return exact, folded
        for end, (form, last, is_folded, words) in self.automaton.iter(lowered):
            start = end - last
            if is_folded:
                folded.setdefault(form, []).append(start)
            for word in words:
                if text.startswith(word, start):
                    exact.setdefault(word, []).append(start)
        return exact, folded


def merge_lines(text: str, positions: list[int], after: int = 0) -> list[tuple[int, int]]:
    """The lines holding ``positions``, each with the ``after`` lines that follow it, sorted and merged
    (``(start, end)``, end at the line's newline; ranges that touch are one)."""
    size = len(text)
    merged: list[tuple[int, int]] = []
    line_end = -1  # where the line of the last position taken ends: a position up to it is on that line
    for position in sorted(positions):
        if position <= line_end:
            continue
        start = text.rfind("\n", 0, position) + 1
        end = text.find("\n", position)
        stop = line_end = size if end < 0 else end
        for _ in range(after):
            if stop >= size:
                break
            following = text.find("\n", stop + 1)
            stop = size if following < 0 else following
        if merged and start <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(stop, merged[-1][1]))
        else:
            merged.append((start, stop))
    return merged


def lowered_copy(text: str) -> str:
    """``text`` lower-cased, of the same length: a character that lower-cases to two ("İ") is kept as it
    is, so a position in the copy is the same position in ``text``."""
    lowered = text.lower()
    if len(lowered) != len(text):
        lowered = "".join(c.lower() if len(c.lower()) == 1 else c for c in text)
    return lowered


def _lowered(text: str, nlp_artifacts: Any) -> str:
    """The scanner's lower-cased copy of ``text`` (``PiiScanner.scan`` makes it once per file)."""
    lowered = getattr(nlp_artifacts, "stackcurate_lowered", None)
    return lowered_copy(text) if lowered is None else str(lowered)


def make_code_recognizer(
    entry: dict[str, Any], validators: Validators, score: float, scan: TriggerScan | None = None
) -> Any:
    """A presidio ``EntityRecognizer`` for one rules entry (``scan``: the trigger scan it shares with the
    engine's other recognisers; one of its own when not given)."""
    presidio()
    from presidio_analyzer import EntityRecognizer, RecognizerResult

    class CodeRecognizer(EntityRecognizer):
        def __init__(self) -> None:
            self.pattern = re.compile(entry["pattern"])
            self.ignore_case = bool(entry.get("triggers_ignore_case", False))
            self.triggers = tuple(t.lower() if self.ignore_case else t for t in entry["triggers"])
            self.scan = scan or TriggerScan(
                () if self.ignore_case else self.triggers, self.triggers if self.ignore_case else ()
            )
            # `needs`: a region holding none of these words is not searched (case as the triggers)
            self.needs = tuple(w.lower() if self.ignore_case else w for w in entry.get("needs", []))
            # the triggers the scan finds, and those it cannot hold (TriggerScan.indexed), looked for here
            self.indexed = tuple(t for t in self.triggers if TriggerScan.indexed(t, self.ignore_case))
            self.unindexed = tuple(t for t in self.triggers if not TriggerScan.indexed(t, self.ignore_case))
            self.trigger_pattern = (
                re.compile(entry["trigger_pattern"]) if entry.get("trigger_pattern") else None
            )
            self.checks = [CHECKS[name] for name in entry.get("checks", [])]
            # `scope: line`: the pattern spans at most `lines_after` + 1 lines, so only the lines holding a
            # trigger are searched (a few lines of a file instead of all of it)
            self.line_scope = entry.get("scope") == "line"
            self.lines_after = int(entry.get("lines_after", 0))
            # `person`: where the names in the value start and end is decided by stackcurate.pii.names
            self.person = entry.get("person")
            # what decides the regions searched: the recognisers that share it share the regions, per text
            self.regions_key = (
                self.triggers,
                self.ignore_case,
                self.lines_after if self.line_scope else -1,
                entry.get("trigger_pattern"),
            )
            entities = list(SECRET_ENTITIES) if entry["entity"] == "SECRET" else [entry["entity"]]
            self.default_entity = entities[0]
            super().__init__(supported_entities=entities, name=entry["name"])

        def load(self) -> None:
            return None

        def analyze(self, text: str, entities: list[str], nlp_artifacts: Any = None) -> list[Any]:
            # the recognisers of a family share triggers: what they find is computed once per text
            cache: dict[Any, Any] | None = getattr(nlp_artifacts, "stackcurate_cache", None)
            if cache is None:
                cache = {}
            key = self.regions_key
            regions = cache.get(key)
            if regions is None:
                haystack = _lowered(text, nlp_artifacts) if self.ignore_case else text
                occurrences = self.scan.positions(text, nlp_artifacts, self.ignore_case)
                if not any(trigger in occurrences for trigger in self.indexed) and not any(
                    trigger in haystack for trigger in self.unindexed
                ):
                    regions = []
                elif self.trigger_pattern is not None:
                    if not self.line_scope:
                        regions = [(0, len(text))] if self.trigger_pattern.search(text) else []
                    else:
                        # the lines where the pattern matches (a dot is on most lines, a dotted quad on few)
                        found = [m.start() for m in self.trigger_pattern.finditer(text)]
                        regions = merge_lines(text, found, self.lines_after)
                elif self.line_scope:
                    # every occurrence of an indexed trigger, the first on each line of the others: the
                    # same lines either way
                    positions = [p for t in self.indexed for p in occurrences.get(t, ())]
                    positions += first_per_line(text, haystack, self.unindexed)
                    regions = merge_lines(text, positions, self.lines_after)
                else:
                    regions = [(0, len(text))]
                cache[key] = regions
            if regions and self.needs:
                haystack = _lowered(text, nlp_artifacts) if self.ignore_case else text
                regions = [
                    (start, end)
                    for start, end in regions
                    if any(haystack.find(word, start, end) >= 0 for word in self.needs)
                ]
            if not regions:
                return []
            results: list[Any] = []
            for start, end in regions:
                for match in self.pattern.finditer(text, start, end):
                    entity, begin, stop = self.default_entity, match.start("value"), match.end("value")
                    for check in self.checks:
                        verdict = check(validators, text, match)
                        if not verdict:
                            break
                        if isinstance(verdict, str):
                            entity = verdict
                        elif isinstance(verdict, tuple):
                            begin, stop = verdict
                    else:
                        if entity not in entities:
                            continue
                        spans = [(begin, stop)]
                        if self.person:
                            offsets = person_spans(text, begin, stop, self.person, validators.rules)
                            spans = [(begin + a, begin + b) for a, b in offsets]
                        results.extend(
                            RecognizerResult(
                                entity_type=entity,
                                start=a,
                                end=b,
                                score=score,
                                recognition_metadata={"recognizer_name": entry["name"]},
                            )
                            for a, b in spans
                        )
            return results

    return CodeRecognizer()


def make_token_recognizer(rules_dir: str | None, score: float, scan: TriggerScan | None = None) -> Any:
    """A presidio ``EntityRecognizer`` for the vendor tokens of ``rules/pii_tokens.yaml`` (``scan``: one
    whose exact words hold every prefix of the tokens; one of its own when not given)."""
    presidio()
    from presidio_analyzer import EntityRecognizer, RecognizerResult

    tokens = load_tokens(rules_dir)
    prefixes: TriggerScan = scan or TriggerScan(token_prefixes(tokens), ())

    class VendorTokenRecognizer(EntityRecognizer):
        def load(self) -> None:
            return None

        def analyze(self, text: str, entities: list[str], nlp_artifacts: Any = None) -> list[Any]:
            return [
                RecognizerResult(
                    entity_type="KEY",
                    start=start,
                    end=end,
                    score=score,
                    recognition_metadata={"recognizer_name": VENDOR_TOKEN},
                )
                for start, end, _ in find_tokens(text, tokens, prefixes.positions(text, nlp_artifacts, False))
            ]

    return VendorTokenRecognizer(supported_entities=["KEY"], name=VENDOR_TOKEN)


def build_analyzer(
    rules_dir: str | None = None, names: bool = False, keep_public_ips_only: bool = True
) -> Any:
    """presidio ``AnalyzerEngine`` with the code recognisers, offline (``names`` is kept for callers: the
    NAME recognisers are registered always and run when the scanner asks for NAME)."""
    os.environ.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")  # tldextract must not fetch a list
    try:
        presidio()  # without PyTorch, which it would import and not use
        from presidio_analyzer import AnalyzerEngine, RecognizerRegistry
        from presidio_analyzer.nlp_engine import NoOpNlpEngine
    except ImportError:
        raise FatalError("the PII stage needs presidio-analyzer: pip install presidio-analyzer") from None
    rules = load_pii_rules(rules_dir)
    validators = Validators(rules, keep_public_ips_only)
    registry = RecognizerRegistry(supported_languages=["en"])
    # one scan of each file for every recogniser's triggers and every vendor-token prefix
    exact: set[str] = set(token_prefixes(load_tokens(rules_dir)))
    folded: set[str] = set()
    for entry in rules.recognizers:
        if entry.get("triggers_ignore_case"):
            folded.update(str(t).lower() for t in entry["triggers"])
        else:
            exact.update(str(t) for t in entry["triggers"])
    scan = TriggerScan(exact, folded)
    # scores fall with the rank, so presidio's de-duplication of equal spans keeps the same recogniser
    registry.add_recognizer(make_token_recognizer(rules_dir, score_of(0), scan))
    for rank, entry in enumerate(rules.recognizers, start=1):
        registry.add_recognizer(make_code_recognizer(entry, validators, score_of(rank), scan))
    nlp_engine = NoOpNlpEngine(models=[{"lang_code": "en", "model_name": "none"}])
    return AnalyzerEngine(registry=registry, nlp_engine=nlp_engine, supported_languages=["en"])


def score_of(rank: int) -> float:
    """The score of the recogniser of rank ``rank``: 0.9, falling by 0.001 a rank."""
    return round(0.9 - rank / 1000, 6)
