"""PII recognisers for source code, run by presidio-analyzer's ``AnalyzerEngine`` offline.

Presidio's own recognisers are built for prose: on code its URL and driver-licence recognisers fire on
nearly every file and its IP recogniser matches the ``::`` of a slice. This module gives presidio one
``CodeRecognizer`` per entry of ``rules/pii.yaml`` instead -- a regular expression whose group ``value``
is the span, trigger substrings (a file without any of them is not scanned: the fast path) and value tests
(stackcurate.pii.checks) -- plus one ``VendorTokenRecognizer`` for ``rules/pii_tokens.yaml``, and builds
the engine with the no-op NLP engine (no model is loaded or downloaded). ``NAME`` is found by context rules
and a first-name gazetteer (stackcurate.pii.names), no NLP model.

Attribution is deterministic: each recogniser has a rank (the vendor tokens first, then the order of
rules/pii.yaml) and a score that falls with it, so where two recognisers find the same span presidio keeps
the same one every run (its de-duplication goes through a ``set``, whose order changes from process to
process), and ``stackcurate.pii.redact.resolve_overlaps`` breaks every other tie by rank.
"""

from __future__ import annotations

import os
import re
from functools import lru_cache
from typing import Any

from stackcurate.errors import FatalError
from stackcurate.pii.checks import CHECKS, Validators
from stackcurate.pii.names import person_spans
from stackcurate.pii.rules_model import VENDOR_TOKEN, PiiRules
from stackcurate.pii.secrets import SecretNames, ValueTests
from stackcurate.pii.tokens import find_tokens, load_tokens
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
        prose_stopwords=_lower_set(data, "prose_stopwords"),
        secret_names=SecretNames.from_rules(data.get("secret_names") or {}),
        value_tests=ValueTests.from_rules(data.get("value_tests") or {}),
        ip_replacements={
            "ipv4": tuple(replacements.get("ipv4", ["10.0.0.1"])),
            "ipv6": tuple(replacements.get("ipv6", ["fd00::1"])),
        },
    )


def trigger_lines(
    text: str, haystack: str, triggers: tuple[str, ...], after: int = 0
) -> list[tuple[int, int]]:
    """The ``(start, end)`` character ranges of the lines of ``text`` where a trigger occurs in ``haystack``
    (``text`` or its lower-cased copy, same length), each with the ``after`` lines that follow it, sorted
    and merged."""
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
    return merge_lines(text, positions, after)


def merge_lines(text: str, positions: list[int], after: int = 0) -> list[tuple[int, int]]:
    """The lines holding ``positions``, each with the ``after`` lines that follow it, sorted and merged."""
    lines: list[tuple[int, int]] = []
    for position in positions:
        start = text.rfind("\n", 0, position) + 1
        end = text.find("\n", position)
        stop = len(text) if end < 0 else end
        for _ in range(after):
            if stop >= len(text):
                break
            following = text.find("\n", stop + 1)
            stop = len(text) if following < 0 else following
        lines.append((start, stop))
    lines.sort()
    merged: list[tuple[int, int]] = []
    for start, end in lines:
        if merged and start <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def _lowered(text: str, nlp_artifacts: Any) -> str:
    lowered = getattr(nlp_artifacts, "stackcurate_lowered", None)
    if lowered is None:
        lowered = text.lower()
        if len(lowered) != len(text):  # a few characters lower-case to two ("İ"): keep positions aligned
            lowered = "".join(c.lower() if len(c.lower()) == 1 else c for c in text)
    return str(lowered)


def make_code_recognizer(entry: dict[str, Any], validators: Validators, score: float) -> Any:
    """A presidio ``EntityRecognizer`` for one rules entry."""
    from presidio_analyzer import EntityRecognizer, RecognizerResult

    class CodeRecognizer(EntityRecognizer):
        def __init__(self) -> None:
            self.pattern = re.compile(entry["pattern"])
            self.ignore_case = bool(entry.get("triggers_ignore_case", False))
            self.triggers = tuple(t.lower() if self.ignore_case else t for t in entry["triggers"])
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
            key = (
                self.triggers,
                self.ignore_case,
                self.lines_after if self.line_scope else -1,
                self.trigger_pattern,
            )
            regions = cache.get(key)
            if regions is None:
                haystack = _lowered(text, nlp_artifacts) if self.ignore_case else text
                if not any(trigger in haystack for trigger in self.triggers):
                    regions = []
                elif self.trigger_pattern is not None:
                    # the lines where the pattern matches (a dot is on most lines, a dotted quad on few)
                    found = [m.start() for m in self.trigger_pattern.finditer(text)]
                    if found and not self.line_scope:
                        regions = [(0, len(text))]
                    else:
                        regions = merge_lines(text, found, self.lines_after)
                elif self.line_scope:
                    regions = trigger_lines(text, haystack, self.triggers, self.lines_after)
                else:
                    regions = [(0, len(text))]
                cache[key] = regions
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


def make_token_recognizer(rules_dir: str | None, score: float) -> Any:
    """A presidio ``EntityRecognizer`` for the vendor tokens of ``rules/pii_tokens.yaml``."""
    from presidio_analyzer import EntityRecognizer, RecognizerResult

    tokens, prefix = load_tokens(rules_dir)

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
                for start, end, _ in find_tokens(text, tokens, prefix)
            ]

    return VendorTokenRecognizer(supported_entities=["KEY"], name=VENDOR_TOKEN)


def build_analyzer(
    rules_dir: str | None = None, names: bool = False, keep_public_ips_only: bool = True
) -> Any:
    """presidio ``AnalyzerEngine`` with the code recognisers, offline (``names`` is kept for callers: the
    NAME recognisers are registered always and run when the scanner asks for NAME)."""
    os.environ.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")  # tldextract must not fetch a list
    try:
        from presidio_analyzer import AnalyzerEngine, RecognizerRegistry
        from presidio_analyzer.nlp_engine import NoOpNlpEngine
    except ImportError:
        raise FatalError("the PII stage needs presidio-analyzer: pip install presidio-analyzer") from None
    rules = load_pii_rules(rules_dir)
    validators = Validators(rules, keep_public_ips_only)
    registry = RecognizerRegistry(supported_languages=["en"])
    # scores fall with the rank, so presidio's de-duplication of equal spans keeps the same recogniser
    registry.add_recognizer(make_token_recognizer(rules_dir, score_of(0)))
    for rank, entry in enumerate(rules.recognizers, start=1):
        registry.add_recognizer(make_code_recognizer(entry, validators, score_of(rank)))
    nlp_engine = NoOpNlpEngine(models=[{"lang_code": "en", "model_name": "none"}])
    return AnalyzerEngine(registry=registry, nlp_engine=nlp_engine, supported_languages=["en"])


def score_of(rank: int) -> float:
    """The score of the recogniser of rank ``rank``: 0.9, falling by 0.001 a rank."""
    return round(0.9 - rank / 1000, 6)
