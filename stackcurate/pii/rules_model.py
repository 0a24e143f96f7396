"""``rules/pii.yaml`` parsed (``PiiRules``): the one type the checks, the name finder and the recognisers
share, in a module of its own so that none of them imports another for it (``recognizers.load_pii_rules``
builds it)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from stackcurate.pii.secrets import SecretNames, ValueTests

#: the rank-0 recogniser: vendor tokens (``rules/pii_tokens.yaml``)
VENDOR_TOKEN = "vendor_token"


@dataclass(frozen=True)
class PiiRules:
    """``rules/pii.yaml``, parsed."""

    recognizers: tuple[dict[str, Any], ...]
    placeholders: frozenset[str]
    placeholder_prefixes: tuple[str, ...]
    placeholder_words: tuple[str, ...]
    placeholder_email_domains: frozenset[str]
    email_code_domains: frozenset[str]
    email_role_locals: frozenset[str]
    email_placeholder_locals: frozenset[str]
    email_placeholder_words: frozenset[str]
    email_placeholder_labels: frozenset[str]
    file_extensions: frozenset[str]
    placeholder_names: frozenset[str]
    popular_dns: frozenset[str]
    version_words: frozenset[str]
    address_words: frozenset[str]
    name_stopwords: frozenset[str]
    ambiguous_first_names: frozenset[str]
    placeholder_hosts: frozenset[str]
    org_words: frozenset[str]
    company_suffixes: frozenset[str]
    technical_terms: frozenset[str]
    technical_nouns: frozenset[str]
    field_words: frozenset[str]
    self_describing_words: tuple[str, ...]
    code_objects: frozenset[str]
    password_hash_calls: tuple[str, ...]
    prose_stopwords: frozenset[str]
    secret_names: SecretNames
    value_tests: ValueTests
    ip_replacements: dict[str, tuple[str, ...]]

    @property
    def names(self) -> tuple[str, ...]:
        """Every recogniser's name, in rank order."""
        return (VENDOR_TOKEN, *(entry["name"] for entry in self.recognizers))
