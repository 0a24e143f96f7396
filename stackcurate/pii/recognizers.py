"""PII recognizers for source code, run by presidio-analyzer's ``AnalyzerEngine`` offline.

Presidio's own recognizers are built for prose: on code its URL and driver-licence recognizers fire on
nearly every file and its IP recognizer matches the ``::`` of a slice. This module gives presidio one
``CodeRecognizer`` per entry of ``rules/pii.yaml`` instead -- a regular expression whose group ``value``
is the span, trigger substrings (a file without any of them is not scanned: the fast path) and
validators -- and builds the engine with the no-op NLP engine (no model is loaded or downloaded).
``NAME`` (``names=True``; on in pipelines/starcoder.yaml) is found by the rules' context recognizers and a
first-name gazetteer (stackcurate.pii.names), no NLP model.

Validators (``checks:`` in the rules):
    email_domain     the domain is not a placeholder (example.com, localhost, ...)
    ip_public        a valid, globally routable unicast address (``ipaddress``'s ``is_global``: not
                     private, shared, loopback, link-local, documentation, reserved), not a network prefix
                     (``2002::``), not a popular DNS resolver or a well-known example address (switch off
                     with ``keep_public_ips_only=False``)
    not_version      not preceded on its line by a version word (``version = "1.2.3.4"``)
    high_entropy     Shannon entropy >= ``min_entropy`` bits per character, with digits or mixed case
    not_placeholder  not a placeholder value (``changeme``, ``${PASSWORD}``, ``$DB_PASS``, ``<token>``,
                     ``xxxx``); never decided by the value being short or common (``admin``, ``1234``)
    not_field_name   not the name of a field or setting (``user_password``, ``current-password``,
                     ``self.password``, ``get_password()``): words from ``field_words``
    prose_password   a value after a prose cue ("the password is X") is not a word of ``prose_stopwords``
                     ("the password is required") and has 4 characters or more
    strong_secret    letters and digits (a key in prose: "use token X")
    real_host        the URL's host (group ``host``) is no placeholder host (``host``, ``localhost``,
                     ``example.com``: ``placeholder_hosts``)
    not_code         not a call (``Tokenizer(Unigram(vocab))``, ``f.read().splitlines()``)
    not_identifier   not a bare identifier, attribute path or name (``settings.db_password``,
                     ``s3.secret-access-key``, ``PublicKey``)
    not_path         not a file path (``./data/test.csv``, ``/var/run/secrets/...``)
"""

from __future__ import annotations

import ipaddress
import math
import os
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from stackcurate.errors import FatalError
from stackcurate.pii.names import name_span
from stackcurate.rules import load_yaml, rules_path

ENTITIES = ("EMAIL", "IP_ADDRESS", "KEY", "PASSWORD", "NAME")
IDENTIFIER = re.compile(r"[A-Za-z_][\w]*(?:\.[A-Za-z_][\w]*)*(?:\(\))?")
#: lower-case names joined by _ . - (``s3.secret-access-key``, ``client_postargs``)
NAME_LIKE = re.compile(r"[a-z][a-z0-9]*(?:[_.-][a-z][a-z0-9]*)+")
#: CamelCase names made of words of 3+ letters (``MLKEM768X25519PublicKey`` has ``Public``, ``Key``)
CAMEL_CASE = re.compile(r"(?:[A-Z0-9]*[A-Z][a-z]{2,}[0-9]*)+|[a-z]{3,}(?:[A-Z][a-z]{2,}[0-9]*)+")
#: words joined by - _ . with no digit (``X-Xet-Access-Token``, ``Content_Security_Policy``): a name
WORDS_JOINED = re.compile(r"[A-Za-z]+(?:[-_.][A-Za-z]+)+")
FILE_SUFFIX = re.compile(r"\.[A-Za-z][A-Za-z0-9]{0,4}$")
#: a call or a parenthesised expression in code: a name, an opening parenthesis, a parenthesis last
#: (``f.read()``, ``Foo(bar)``, ``Sequence(``); a random key with a parenthesis inside is no call
CODE_CALL = re.compile(r"^[A-Za-z_][\w.]*\((?:.*[()])?$|^\(.*\)$|[A-Za-z_]\w*\([^()]*\)[\W]*$")
#: a reference to the environment, not a value: $DB_PASSWORD, $(cat secret), ${X}
ENV_REFERENCE = re.compile(r"\$(?:[A-Za-z_]\w*|\(.*\)|\{.*\})")


def words_of(value: str) -> list[str]:
    """The lower-case words of a name: split at non-alphanumerics and CamelCase (``dbPassword_hash`` ->
    db, password, hash)."""
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", value)
    return [word for word in re.split(r"[^a-z0-9]+", spaced.lower()) if word]


@dataclass(frozen=True)
class PiiRules:
    """``rules/pii.yaml``, parsed."""

    recognizers: tuple[dict[str, Any], ...]
    placeholders: frozenset[str]
    placeholder_prefixes: tuple[str, ...]
    placeholder_words: tuple[str, ...]
    placeholder_email_domains: frozenset[str]
    popular_dns: frozenset[str]
    version_words: tuple[str, ...]
    name_stopwords: frozenset[str]
    ambiguous_first_names: frozenset[str]
    placeholder_hosts: frozenset[str]
    org_words: frozenset[str]
    field_words: frozenset[str]
    code_objects: frozenset[str]
    prose_stopwords: frozenset[str]
    min_entropy: float
    ip_replacements: dict[str, tuple[str, ...]]


@lru_cache(maxsize=8)
def load_pii_rules(rules_dir: str | None = None) -> PiiRules:
    path = rules_path("pii.yaml", rules_dir)
    data = load_yaml(path)
    recognizers = data.get("recognizers")
    if not isinstance(recognizers, list) or not recognizers:
        raise FatalError(f"{path}: 'recognizers' must be a non-empty list")
    person = str(data.get("person_name_pattern", ""))
    recognizers = [
        {**entry, "pattern": entry["pattern"].replace("<<PERSON>>", person)}
        if isinstance(entry, dict) and isinstance(entry.get("pattern"), str)
        else entry
        for entry in recognizers
    ]
    for entry in recognizers:
        if not isinstance(entry, dict) or not {"name", "entity", "pattern", "triggers"} <= set(entry):
            raise FatalError(f"{path}: every recognizer needs name, entity, pattern and triggers: {entry!r}")
        if entry["entity"] not in ENTITIES:
            raise FatalError(f"{path}: recognizer {entry['name']}: unknown entity {entry['entity']!r}")
        unknown = sorted(set(entry.get("checks", [])) - set(CHECKS))
        if unknown:
            raise FatalError(f"{path}: recognizer {entry['name']}: unknown checks {unknown}")
        try:
            compiled = re.compile(entry["pattern"])
        except re.error as error:
            raise FatalError(f"{path}: recognizer {entry['name']}: bad pattern: {error}") from None
        if entry.get("person") not in (None, "context", "gazetteer"):
            raise FatalError(f"{path}: recognizer {entry['name']}: person must be context or gazetteer")
        if "value" not in compiled.groupindex:
            raise FatalError(f"{path}: recognizer {entry['name']}: the pattern needs a group named 'value'")
    replacements = data.get("ip_replacements", {}) or {}
    return PiiRules(
        recognizers=tuple(recognizers),
        placeholders=frozenset(str(p).lower() for p in data.get("placeholders", [])),
        placeholder_prefixes=tuple(str(p).lower() for p in data.get("placeholder_prefixes", [])),
        placeholder_words=tuple(str(w).lower() for w in data.get("placeholder_words", [])),
        placeholder_email_domains=frozenset(
            str(d).lower() for d in data.get("placeholder_email_domains", [])
        ),
        popular_dns=frozenset(str(ip) for ip in data.get("popular_dns", [])),
        version_words=tuple(str(w).lower() for w in data.get("version_words", [])),
        name_stopwords=frozenset(str(w).lower() for w in data.get("name_stopwords", [])),
        ambiguous_first_names=frozenset(str(w).lower() for w in data.get("ambiguous_first_names", [])),
        placeholder_hosts=frozenset(str(w).lower() for w in data.get("placeholder_hosts", [])),
        org_words=frozenset(str(w).lower() for w in data.get("org_words", [])),
        field_words=frozenset(str(w).lower() for w in data.get("field_words", [])),
        code_objects=frozenset(str(w).lower() for w in data.get("code_objects", [])),
        prose_stopwords=frozenset(str(w).lower() for w in data.get("prose_stopwords", [])),
        min_entropy=float(data.get("min_entropy", 3.0)),
        ip_replacements={
            "ipv4": tuple(replacements.get("ipv4", ["10.0.0.1"])),
            "ipv6": tuple(replacements.get("ipv6", ["fd00::1"])),
        },
    )


def shannon_entropy(value: str) -> float:
    counts = Counter(value)
    total = len(value)
    return -sum(n / total * math.log2(n / total) for n in counts.values())


class Validators:
    """The ``checks`` of rules/pii.yaml; each takes (text, match) and says whether the match stands."""

    def __init__(self, rules: PiiRules, keep_public_ips_only: bool = True):
        self.rules = rules
        self.keep_public_ips_only = keep_public_ips_only

    def email_domain(self, text: str, match: re.Match[str]) -> bool:
        domain = match.group("value").rsplit("@", 1)[1].lower()
        parts = domain.split(".")
        return not any(".".join(parts[i:]) in self.rules.placeholder_email_domains for i in range(len(parts)))

    def ip_public(self, text: str, match: re.Match[str]) -> bool:
        value = match.group("value")
        try:
            address = ipaddress.ip_address(value)
        except ValueError:
            return False
        if not self.keep_public_ips_only:
            return not address.is_unspecified
        if value in self.rules.popular_dns or str(address) in self.rules.popular_dns:
            return False
        # is_global is False for private, shared (100.64/10), loopback, link-local, documentation, reserved
        # and unspecified ranges (is_reserved too: some Python versions call ::/8 global, and `a[1::2]` is
        # 1::2). An address ending in :: (2a01:4f8:c0c:1234::) is a site's prefix, as identifying as a
        # host, when it names at least three groups; `2002::` alone is a protocol's range.
        if value.endswith("::") and value.count(":") < 4:
            return False
        return address.is_global and not address.is_reserved and not address.is_multicast

    def not_version(self, text: str, match: re.Match[str]) -> bool:
        parts = match.group("value").split(".")
        if len(parts) == 4:
            numbers = [int(part) for part in parts]
            if all(n < 10 for n in numbers) or (numbers[0] <= 2 and numbers[1] < 10):
                return False
        start = match.start("value")
        line_start = text.rfind("\n", 0, start) + 1
        before = text[max(line_start, start - 40) : start].lower()
        words = re.findall(r"[a-z_]+", before)
        return not any(word in self.rules.version_words for word in words[-3:])

    def high_entropy(self, text: str, match: re.Match[str]) -> bool:
        value = match.group("value")
        has_digit = any(c.isdigit() for c in value)
        mixed_case = any(c.isupper() for c in value) and any(c.islower() for c in value)
        return (has_digit or mixed_case) and shannon_entropy(value) >= self.rules.min_entropy

    def not_placeholder(self, text: str, match: re.Match[str]) -> bool:
        original = match.group("value")
        value = original.lower()
        # one character repeated is a mask (xxxxxxxx, ********), except digits (111111: a common password)
        repeated = len(set(value)) == 1 and not value.isdigit()
        if value in self.rules.placeholders or repeated or ENV_REFERENCE.fullmatch(original):
            return False
        words = set(words_of(original))
        for word in self.rules.placeholder_words:
            # a placeholder word counts as a whole word (my_fake_token, yourSampleKey), not inside
            # random characters (...zfAke7...) nor as a prefix of a real password (samples2024)
            if word in words or (not word.isalnum() and word in value):
                return False
        return not value.startswith(self.rules.placeholder_prefixes)

    def not_field_name(self, text: str, match: re.Match[str]) -> bool:
        value = match.group("value")
        if value.endswith(("()", ")")) and IDENTIFIER.match(value):
            return False
        if (
            IDENTIFIER.fullmatch(value)
            and "." in value
            and value.split(".", 1)[0].lower() in self.rules.code_objects
        ):
            return False
        return not any(word in self.rules.field_words for word in words_of(value))

    def prose_password(self, text: str, match: re.Match[str]) -> bool:
        value = match.group("value").strip(".,;:)")
        return len(value) >= 4 and value.lower() not in self.rules.prose_stopwords

    def not_code(self, text: str, match: re.Match[str]) -> bool:
        return CODE_CALL.search(match.group("value")) is None

    def real_host(self, text: str, match: re.Match[str]) -> bool:
        host = match.group("host").lower().rstrip(".")
        if host in self.rules.placeholder_hosts:
            return False
        return not host.endswith((".example", ".test", ".invalid", ".localhost"))

    def strong_secret(self, text: str, match: re.Match[str]) -> bool:
        value = match.group("value")
        return any(c.isdigit() for c in value) and any(c.isalpha() for c in value)

    def not_identifier(self, text: str, match: re.Match[str]) -> bool:
        value = match.group("value")
        if IDENTIFIER.fullmatch(value) and ("." in value or "_" in value or value.endswith("()")):
            return False
        if NAME_LIKE.fullmatch(value) or CAMEL_CASE.fullmatch(value) or WORDS_JOINED.fullmatch(value):
            return False
        mixed_case = any(c.isupper() for c in value) and any(c.islower() for c in value)
        return (
            not value.isidentifier() or any(c.isdigit() for c in value) or (mixed_case and len(value) >= 16)
        )

    def not_path(self, text: str, match: re.Match[str]) -> bool:
        value = match.group("value")
        if "+" in value or "=" in value:  # base64 (/xla+viWb...), not a path
            return True
        if value.startswith(("/", "./", "../", "~/")) or "..." in value:
            return False
        return not ("/" in value and FILE_SUFFIX.search(value))


CHECKS: dict[str, Callable[[Validators, str, re.Match[str]], bool]] = {
    "email_domain": Validators.email_domain,
    "ip_public": Validators.ip_public,
    "not_version": Validators.not_version,
    "high_entropy": Validators.high_entropy,
    "not_placeholder": Validators.not_placeholder,
    "not_identifier": Validators.not_identifier,
    "not_path": Validators.not_path,
    "not_field_name": Validators.not_field_name,
    "prose_password": Validators.prose_password,
    "strong_secret": Validators.strong_secret,
    "not_code": Validators.not_code,
    "real_host": Validators.real_host,
}


def trigger_lines(text: str, haystack: str, triggers: tuple[str, ...]) -> list[tuple[int, int]]:
    """The ``(start, end)`` character ranges of the lines of ``text`` where a trigger occurs in ``haystack``
    (``text`` or its lower-cased copy, same length), sorted and merged."""
    lines: list[tuple[int, int]] = []
    for trigger in triggers:
        position = haystack.find(trigger)
        while position >= 0:
            start = text.rfind("\n", 0, position) + 1
            end = text.find("\n", position)
            end = len(text) if end < 0 else end
            lines.append((start, end))
            # the next line: past this one's newline and past the trigger's start, so a trigger that is
            # empty or starts with a newline cannot find the same place again (an endless loop)
            position = haystack.find(trigger, max(end, position) + 1)
    lines.sort()
    merged: list[tuple[int, int]] = []
    for start, end in lines:
        if merged and start <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def make_code_recognizer(entry: dict[str, Any], validators: Validators) -> Any:
    """A presidio ``EntityRecognizer`` for one rules entry."""
    from presidio_analyzer import EntityRecognizer, RecognizerResult

    class CodeRecognizer(EntityRecognizer):
        def __init__(self) -> None:
            self.pattern = re.compile(entry["pattern"])
            self.triggers = tuple(entry["triggers"])
            self.ignore_case = bool(entry.get("triggers_ignore_case", False))
            if self.ignore_case:
                self.triggers = tuple(t.lower() for t in self.triggers)
            self.trigger_pattern = (
                re.compile(entry["trigger_pattern"]) if entry.get("trigger_pattern") else None
            )
            self.checks = [CHECKS[name] for name in entry.get("checks", [])]
            # `scope: line`: the pattern never spans lines, so only the lines holding a trigger are
            # searched (the keyword recognizers: a few lines of a file instead of all of it)
            self.line_scope = entry.get("scope") == "line"
            # `person`: the value starts with a person name; where it ends is decided by
            # stackcurate.pii.names (`gazetteer`: its first word must be a census first name)
            self.person = entry.get("person")
            self.score = float(entry.get("score", 0.9))
            super().__init__(supported_entities=[entry["entity"]], name=entry["name"])

        def load(self) -> None:
            return None

        def triggered(self, text: str, lowered: str) -> bool:
            haystack = lowered if self.ignore_case else text
            if not any(trigger in haystack for trigger in self.triggers):
                return False
            return self.trigger_pattern is None or self.trigger_pattern.search(text) is not None

        def analyze(self, text: str, entities: list[str], nlp_artifacts: Any = None) -> list[Any]:
            lowered = getattr(nlp_artifacts, "stackcurate_lowered", None)
            if lowered is None:
                lowered = text.lower() if self.ignore_case else text
            if not self.triggered(text, lowered):
                return []
            haystack = lowered if self.ignore_case else text
            regions = trigger_lines(text, haystack, self.triggers) if self.line_scope else [(0, len(text))]
            results = []
            for start, end in regions:
                for match in self.pattern.finditer(text, start, end):
                    if not all(check(validators, text, match) for check in self.checks):
                        continue
                    begin, end = match.start("value"), match.end("value")
                    if self.person:
                        rules = validators.rules
                        offsets = name_span(
                            match.group("value"),
                            rules.name_stopwords,
                            rules.org_words,
                            rules.ambiguous_first_names if self.person == "gazetteer" else None,
                        )
                        if offsets is None:
                            continue
                        begin, end = match.start("value") + offsets[0], match.start("value") + offsets[1]
                    results.append(
                        RecognizerResult(
                            entity_type=self.supported_entities[0],
                            start=begin,
                            end=end,
                            score=self.score,
                            recognition_metadata={"recognizer_name": entry["name"]},
                        )
                    )
            return results

    return CodeRecognizer()


def build_analyzer(
    rules_dir: str | None = None, names: bool = False, keep_public_ips_only: bool = True
) -> Any:
    """presidio ``AnalyzerEngine`` with the code recognizers, offline (``names`` is kept for callers: the
    NAME recognizers are registered always and run when the scanner asks for NAME)."""
    os.environ.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")  # tldextract must not fetch a list
    try:
        from presidio_analyzer import AnalyzerEngine, RecognizerRegistry
        from presidio_analyzer.nlp_engine import NoOpNlpEngine
    except ImportError:
        raise FatalError("the PII stage needs presidio-analyzer: pip install presidio-analyzer") from None
    rules = load_pii_rules(rules_dir)
    validators = Validators(rules, keep_public_ips_only)
    registry = RecognizerRegistry(supported_languages=["en"])
    for entry in rules.recognizers:
        registry.add_recognizer(make_code_recognizer(entry, validators))
    # NAME needs no NLP model: its recognizers are context rules plus a gazetteer (stackcurate.pii.names)
    nlp_engine = NoOpNlpEngine(models=[{"lang_code": "en", "model_name": "none"}])
    return AnalyzerEngine(registry=registry, nlp_engine=nlp_engine, supported_languages=["en"])
