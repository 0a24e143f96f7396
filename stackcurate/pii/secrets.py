"""Secret-named keys: which names hold a secret, and whether a value is shaped like one.

A key's name (``db.password``, ``var shopifyToken``, ``$dbPass``, ``X_API_KEY``, ``<password>``) is split
into lower-case words at ``_ . - $ @ :`` and CamelCase. The last *secret word* decides:

- a password word (``password``, ``passwd``, ``pwd``, ``storepass``, ``1password``) -> ``PASSWORD``, the
  value tested as a password (any string but a placeholder, a field name, code or a message);
- a strong word (``secret``, ``credentials``) -> ``KEY``, the value tested as a password too;
- a token word (``token``, ``apikey``, ``auth``, ``key`` after a qualifier such as ``api_``/``aws_``)
  -> ``KEY``, the value must be shaped like a credential (alphabet, length, entropy; ``credential_value``).

A word after the last secret word that says the variable holds something else (``DEFAULT_TOKEN_URL``,
``password_hash``, ``token_type``) or a first word that makes it a function, a flag or a counter
(``get_password``, ``is_token``, ``max_tokens``) means no secret. The word lists are
``rules/pii.yaml``'s ``secret_names``.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass
from typing import Any

from stackcurate.errors import FatalError

#: a credential's alphabet (no whitespace, no quotes, no brackets)
CREDENTIAL = re.compile(r"[A-Za-z0-9+/=_\-.~:!@#$%^*?&|]+")
SEPARATORS = re.compile(r"[^0-9A-Za-zÀ-ÿ]+")
VOWEL = re.compile(r"[aeiouy]")
WORD_PART = re.compile(r"[^\W\d_]{2,16}")
NUMBERED = re.compile(r"[a-z]{3,10}\d{1,6}")
SNAKE = re.compile(r"[a-z0-9]+(?:_[a-z0-9]+)+")
CONSONANTS = re.compile(r"[^\W\daeiouy_]{4}")
CAMEL = re.compile(r"([a-z0-9])([A-Z])|([A-Z])([A-Z][a-z])")
#: words joined by - _ . with no digit (``X-Xet-Access-Token``, ``Content_Security_Policy``): a name
WORDS_JOINED = re.compile(r"[A-Za-z]+(?:[-_.:/][A-Za-z]+)*")
#: CamelCase names made of words of 3+ letters (``MLKEM768X25519PublicKey`` has ``Public``, ``Key``)
CAMEL_CASE = re.compile(r"(?:[A-Z0-9]*[A-Z][a-z]{2,}[0-9]*)+|[a-z]{3,}(?:[A-Z][a-z]{2,}[0-9]*)+")
#: an identifier path or call (``settings.db_password``, ``get_token()``, ``os.environ['X']``)
CODE = re.compile(r"^[A-Za-z_][\w.]*(?:\(.*\)?|\[.*\]?)?$")
HEX = re.compile(r"[0-9a-fA-F]+")
UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
#: a word of a name anywhere in it makes it public: `public_key`, `PublicOKPKey`, `publishable_key`
PUBLIC = frozenset({"public", "pub", "publishable"})
#: identifiers joined by dots (``rfc4357.Gost28147_89_EncryptedKey``, ``Ed25519.BlindKeySignatures``)
DOTTED_CODE = re.compile(r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+")


def name_words(name: str) -> list[str]:
    """The lower-case words of a key name (``dbPassword_hash`` -> db, password, hash)."""
    spaced = CAMEL.sub(lambda m: f"{m.group(1) or m.group(3)} {m.group(2) or m.group(4)}", name)
    return [word for word in SEPARATORS.split(spaced.lower()) if word]


def is_words(value: str) -> bool:
    """Words and small numbers (split at separators and CamelCase): a name, not a credential
    (``section_2_title``, ``kKeysPerBlock_``, ``_CookieKey``, ``MLKEM1024PublicKey``). At least 70% of its
    letters must stand in words: runs of 2-16 letters with a vowel and no four consonants in a row, alone
    or as 3+ letters before a number (``x25519``'s one letter does not count, ``rfc4357``'s do). Random
    characters make short or unpronounceable runs between digits and case changes (``q8Zr2Lw9Xk4``: q,
    zr, lw, xk; ``xkcqkyx6``) and fail."""
    parts = name_words(value)
    letters = in_words = 0
    for part in parts:
        if part.isdigit() and len(part) > 4:
            return False
        count = sum(c.isalpha() for c in part)
        letters += count
        word = part.rstrip("0123456789") if NUMBERED.fullmatch(part) else part
        if WORD_PART.fullmatch(word) and VOWEL.search(word) and not CONSONANTS.search(word):
            in_words += count
    return letters > 0 and in_words >= 0.7 * letters


def word_like(part: str) -> bool:
    """A word of 3+ letters: a vowel, no four consonants in a row (``from``; not ``ztwupvy``)."""
    return len(part) >= 3 and part.isalpha() and bool(VOWEL.search(part)) and not CONSONANTS.search(part)


def shannon_entropy(value: str) -> float:
    """Shannon entropy of ``value`` in bits per character."""
    counts = Counter(value)
    total = len(value)
    return -sum(n / total * math.log2(n / total) for n in counts.values())


def _words(data: dict[str, Any], key: str) -> frozenset[str]:
    value = data.get(key, [])
    if not isinstance(value, list):
        raise FatalError(f"rules/pii.yaml: secret_names.{key} must be a list")
    return frozenset(str(word).lower() for word in value)


@dataclass(frozen=True)
class SecretNames:
    """``secret_names`` of rules/pii.yaml: classifies key names."""

    password_words: frozenset[str]
    password_stems: tuple[str, ...]
    not_password_words: frozenset[str]
    strong_words: frozenset[str]
    strong_stems: tuple[str, ...]
    not_strong_words: frozenset[str]
    token_words: frozenset[str]
    token_stems: tuple[str, ...]
    not_token_words: frozenset[str]
    key_words: frozenset[str]
    key_compounds: tuple[str, ...]
    strong_key_qualifiers: frozenset[str]
    key_not_qualifiers: frozenset[str]
    not_secret_suffixes: frozenset[str]
    not_secret_prefixes: frozenset[str]
    not_secret_qualifiers: frozenset[str]
    pass_qualifiers: frozenset[str]

    @classmethod
    def from_rules(cls, data: dict[str, Any]) -> SecretNames:
        return cls(
            password_words=_words(data, "password_words"),
            password_stems=tuple(sorted(_words(data, "password_stems"))),
            not_password_words=_words(data, "not_password_words"),
            strong_words=_words(data, "strong_words"),
            strong_stems=tuple(sorted(_words(data, "strong_stems"))),
            not_strong_words=_words(data, "not_strong_words"),
            token_words=_words(data, "token_words"),
            token_stems=tuple(sorted(_words(data, "token_stems"))),
            not_token_words=_words(data, "not_token_words"),
            key_words=_words(data, "key_words"),
            key_compounds=tuple(sorted(_words(data, "key_compounds"))),
            strong_key_qualifiers=_words(data, "strong_key_qualifiers"),
            key_not_qualifiers=_words(data, "key_not_qualifiers"),
            not_secret_suffixes=_words(data, "not_secret_suffixes"),
            not_secret_prefixes=_words(data, "not_secret_prefixes"),
            not_secret_qualifiers=_words(data, "not_secret_qualifiers"),
            pass_qualifiers=_words(data, "pass_qualifiers"),
        )

    def word_kind(self, words: list[str], i: int, upper: bool = False) -> str | None:
        """``password``, ``strong``, ``token``, ``key`` or None for word ``i`` of a name (``upper``: the
        name is written in capitals, as an environment variable: `PASS` is a password, `Pass` no)."""
        word = words[i]
        before = words[i - 1] if i > 0 else ""
        if word in self.password_words:
            # `pass` alone is a compiler's, a loop's or a test's (`first_pass`, `-debug-pass`, `PASS`): a
            # password only after a qualifier (`db_pass`, `SMTP_PASS`)
            if word == "pass" and before not in self.pass_qualifiers:
                return None
            return "password"
        if word not in self.not_password_words and (
            any(stem in word for stem in self.password_stems)
            or (word.endswith("pass") and word[:-4] in self.pass_qualifiers)
        ):
            return "password"
        if word in self.strong_words:
            return "strong"
        if word not in self.not_strong_words and any(stem in word for stem in self.strong_stems):
            return "strong"
        if word in self.token_words:
            return "token"
        if word not in self.not_token_words and any(stem in word for stem in self.token_stems):
            return "token"
        if word in self.key_words:
            # `key` needs a qualifier before it: api_key, secretKey, aws-key; not sort_key, cache_key
            if before and before not in self.key_not_qualifiers and not before.isdigit():
                return "strong" if before in self.strong_key_qualifiers else "key"
            return None
        if word.endswith("key") and word[:-3] in self.key_compounds:
            return "strong" if word[:-3] in self.strong_key_qualifiers else "key"
        return None

    def classify(self, name: str) -> str | None:
        """``password``, ``strong``, ``token``, ``key`` (what the name says its value is) or None."""
        if "." in name.strip("."):
            # an attribute path names what its last part names (`creds._scopes` is no secret), with the part
            # before when the last is one word (`app.api.key`: api key)
            parts = name.strip(".").split(".")
            name = "_".join(parts[-2:]) if len(name_words(parts[-1])) == 1 else parts[-1]
        words = name_words(name)
        if not words or any(word in self.not_secret_qualifiers for word in words if word in PUBLIC):
            return None
        last = None
        for i in range(len(words)):
            kind = self.word_kind(words, i, name.isupper())
            if kind is not None:
                last = (i, kind)
        if last is None:
            return None
        index, kind = last
        if kind in ("token", "key") and any(self.word_kind(words, i) == "strong" for i in range(index)):
            kind = "strong"  # aws_secret_access_key, secret_token: a secret whatever its shape
        if any(word in self.not_secret_suffixes for word in words[index + 1 :]):
            return None
        if index > 0 and words[0] in self.not_secret_prefixes:
            return None
        if index > 0 and words[index - 1] in self.not_secret_qualifiers:
            return None  # csrf_token, page_token, request_token: no secret
        return kind


@dataclass(frozen=True)
class ValueTests:
    """``value_tests`` of rules/pii.yaml."""

    password_min_length: int
    password_max_length: int
    key_min_length: int
    key_min_entropy: float
    key_min_entropy_short: float
    message_words: frozenset[str]

    @classmethod
    def from_rules(cls, data: dict[str, Any]) -> ValueTests:
        return cls(
            password_min_length=int(data.get("password_min_length", 4)),
            password_max_length=int(data.get("password_max_length", 256)),
            key_min_length=int(data.get("key_min_length", 10)),
            key_min_entropy=float(data.get("key_min_entropy", 3.0)),
            key_min_entropy_short=float(data.get("key_min_entropy_short", 2.9)),
            message_words=frozenset(str(w).lower() for w in data.get("message_words", [])),
        )

    def is_message(self, value: str) -> bool:
        """A sentence, not a passphrase: spaces and a word of ``message_words`` ("Enter your password")."""
        if not re.search(r"\s", value.strip()):
            return False
        words = re.findall(r"[^\W\d_]+|%s|\{\d?\}|[?:]", value.lower())
        return any(word in self.message_words for word in words) or value.rstrip()[-1:] in ":?!."

    def credential(self, value: str) -> bool:
        """Shaped like a key or token: a credential's alphabet, long enough, random enough, and not a name
        (``user_id``, ``X-Api-Key``, ``RSAPublicKeyNumbers``) nor a number, a URL or a path."""
        if len(value) < self.key_min_length or not CREDENTIAL.fullmatch(value):
            return False
        if "://" in value or value.startswith(("/", "./", "../", "~/")):
            return False
        if re.fullmatch(r"0[xX][0-9a-fA-F]+|0[bB][01]+", value):
            return False  # a number literal: 0xBB67AE85
        parts = value.split("_")
        if SNAKE.fullmatch(value) and max(map(len, parts)) <= 12 and any(word_like(part) for part in parts):
            return False  # an identifier: fp32_from_fp16
        if value.isdigit():  # a number, unless as long and random as a numeric secret (16+ digits)
            return len(value) >= 16 and shannon_entropy(value) >= self.key_min_entropy
        if WORDS_JOINED.fullmatch(value) or CAMEL_CASE.fullmatch(value) or is_words(value):
            return False
        if DOTTED_CODE.fullmatch(value) and is_words(value.rsplit(".", 1)[1]):
            return False  # an attribute path: rfc4357.Gost28147_89_EncryptedKey, Ed25519.BlindKeySignatures
        has_digit = any(c.isdigit() for c in value)
        has_lower = any(c.islower() for c in value)
        has_upper = any(c.isupper() for c in value)
        if not ((has_digit and (has_lower or has_upper)) or (has_lower and has_upper)):
            return False
        threshold = self.key_min_entropy if len(value) >= 20 else self.key_min_entropy_short
        return shannon_entropy(value) >= threshold
