"""Find PII spans in a file and replace them: what ``stackcurate pii scan|redact`` and the PII stage run.

Spans are character offsets into the Python string (so multi-byte characters never shift them). Where
spans overlap, the one kept is the more sensitive type (PASSWORD > KEY > EMAIL > IP_ADDRESS > NAME), then
the longer, then the earlier, then the recogniser of lower rank (its place in rules/pii.yaml): a fixed
rule, so the per-recogniser counts of two runs over the same files are equal. Replacements: ``<EMAIL>``,
``<KEY>``, ``<PASSWORD>``, ``<NAME>``; an IP address becomes one of a few synthetic private
addresses of its family, chosen by a hash of the address, so the same address gets the same replacement
within a file and across files.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass
from typing import Any

import xxhash

from stackcurate.pii.recognizers import ENTITIES, build_analyzer, load_pii_rules, lowered_copy

PRIORITY = {"PASSWORD": 0, "KEY": 1, "EMAIL": 2, "IP_ADDRESS": 3, "NAME": 4}
PLACEHOLDERS = {"EMAIL": "<EMAIL>", "KEY": "<KEY>", "PASSWORD": "<PASSWORD>", "NAME": "<NAME>"}


@dataclass(frozen=True)
class Span:
    """One PII finding: entity ``type``, character offsets ``[start, end)``, the ``text`` found, and the
    recognizer that found it."""

    type: str
    start: int
    end: int
    text: str
    recognizer: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def resolve_overlaps(spans: list[Span], ranks: dict[str, int] | None = None) -> list[Span]:
    """Non-overlapping spans, sorted by start; on overlap the more sensitive type, then the longer, then
    the earlier, then the recogniser of lower rank (``ranks``; then its name) wins."""
    order = ranks or {}
    ranked = sorted(
        spans,
        key=lambda s: (
            PRIORITY.get(s.type, 9),
            -(s.end - s.start),
            s.start,
            order.get(s.recognizer, 0),
            s.recognizer,
        ),
    )
    kept: list[Span] = []
    for span in ranked:
        if all(span.end <= other.start or span.start >= other.end for other in kept):
            kept.append(span)
    return sorted(kept, key=lambda s: s.start)


class PiiScanner:
    """Scans texts with the presidio engine of ``stackcurate.pii.recognizers`` (built on first use, so a
    scanner pickles small for the executors)."""

    def __init__(
        self,
        rules_dir: str | None = None,
        names: bool = False,
        keep_public_ips_only: bool = True,
        entities: tuple[str, ...] = ENTITIES,
    ):
        self.rules_dir = rules_dir
        self.names = names
        self.keep_public_ips_only = keep_public_ips_only
        self.entities = tuple(e for e in entities if names or e != "NAME")
        self._engine: Any = None
        self._ranks: dict[str, int] = {}

    @property
    def engine(self) -> Any:
        if self._engine is None:
            self._engine = build_analyzer(self.rules_dir, self.names, self.keep_public_ips_only)
            self._ranks = {name: rank for rank, name in enumerate(load_pii_rules(self.rules_dir).names)}
        return self._engine

    def scan(self, text: str) -> list[Span]:
        engine = self.engine
        artifacts = engine.nlp_engine.process_text(text, "en")
        artifacts.stackcurate_lowered = lowered_copy(text)
        artifacts.stackcurate_cache = {}
        results = engine.analyze(text, language="en", entities=list(self.entities), nlp_artifacts=artifacts)
        spans = []
        for result in results:
            kind = result.entity_type
            metadata = result.recognition_metadata or {}
            name = str(metadata.get("recognizer_name", kind))
            spans.append(Span(kind, result.start, result.end, text[result.start : result.end], name))
        return resolve_overlaps(spans, self._ranks)


def replacement(span: Span, rules_dir: str | None = None) -> str:
    """The text that replaces ``span``."""
    if span.type != "IP_ADDRESS":
        return PLACEHOLDERS[span.type]
    pool = load_pii_rules(rules_dir).ip_replacements["ipv6" if ":" in span.text else "ipv4"]
    return pool[xxhash.xxh64_intdigest(span.text.lower()) % len(pool)]


def redact(text: str, spans: list[Span], rules_dir: str | None = None) -> tuple[str, dict[str, int]]:
    """``(redacted text, counts per type)`` for non-overlapping ``spans`` (as ``PiiScanner.scan`` gives)."""
    parts: list[str] = []
    position = 0
    counts: Counter[str] = Counter()
    for span in spans:
        parts.append(text[position : span.start])
        parts.append(replacement(span, rules_dir))
        position = span.end
        counts[span.type] += 1
    parts.append(text[position:])
    return "".join(parts), {entity: counts.get(entity, 0) for entity in ENTITIES}
