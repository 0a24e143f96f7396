"""Values for the planted PII of benchmarks/pii.py, made without looking at the detector: this module never
imports ``stackcurate.pii`` and never reads ``rules/pii.yaml``.

Values come from each secret's published format (alphabet and length: AWS access key ids ``AKIA`` + 16 of
A-Z2-7 and 40-character secret keys, GitHub ``ghp_`` + 36 base62 and ``github_pat_`` 22 + 59, GitLab
``glpat-``, Slack ``xoxb-``, Stripe ``sk_live_``, Google ``AIza`` + 35, SendGrid, npm, Django's
``get_random_secret_key`` alphabet, JWTs, PEM private-key blocks), from real-world password shapes (the most
common leaked passwords, dictionary words with digits, leetspeak, short digit strings, default account
passwords such as ``admin`` or ``postgres``, random strings with symbols), from random globally routable
IPv4 and IPv6 addresses (``ipaddress.is_global``), from mail addresses at real domains (free mail and
companies), and person names from Faker's locales (``faker``, a names source only). ``Plant`` is one planted
value with its offsets; ``Builder`` writes text and remembers where each value lands."""

from __future__ import annotations

import base64
import ipaddress
import json
import random
import string
from dataclasses import dataclass, field


def words(text: str) -> list[str]:
    """A list written as one string of blank-separated words."""
    return text.split()


BASE62 = string.ascii_letters + string.digits
BASE64 = BASE62 + "+/"
BASE64URL = BASE62 + "-_"
BASE32_UPPER = string.ascii_uppercase + "234567"
HEX = "0123456789abcdef"
DJANGO = "abcdefghijklmnopqrstuvwxyz0123456789!@#$%^&*(-_=+)"

# the top of the RockYou / NordPass "most common passwords" lists and default account passwords
COMMON_PASSWORDS = words(
    "123456 password 12345678 qwerty 123456789 12345 1234 111111 1234567 dragon 123123 baseball abc123 "
    "football monkey letmein shadow master 696969 mustang michael superman 1qaz2wsx trustno1 admin root "
    "toor postgres welcome iloveyou sunshine princess qwerty123 passw0rd starwars whatever 654321 "
    "zaq12wsx hunter2 secret123 oracle tiger mysql guest"
)
WORDS = words(
    "summer winter autumn spring coffee tiger falcon river ocean silver shadow rocket galaxy thunder "
    "maple harbor violet copper marble cobra panther meadow kestrel orange banana purple yellow chicken "
    "soccer hockey jordan ranger buster pepper ginger cookie butter flower garden castle wizard pirate "
    "dolphin"
)
LEET = str.maketrans({"a": "@", "o": "0", "e": "3", "i": "1", "s": "$"})
SYMBOLS = "!@#$%^&*?-_.+="
FREE_MAIL = words(
    "gmail.com yahoo.com outlook.com hotmail.com mail.com gmx.net gmx.de web.de protonmail.com icloud.com "
    "yandex.ru qq.com 163.com aol.com fastmail.com zoho.com hotmail.co.uk libero.it orange.fr seznam.cz"
)
COMPANY_MAIL = words(
    "redhat.com mozilla.org ibm.com intel.com microsoft.com google.com apple.com canonical.com suse.de "
    "bosch.com siemens.com sap.com oracle.com cisco.com nvidia.com shopify.com stripe.com cern.ch mit.edu "
    "stanford.edu tum.de ethz.ch cam.ac.uk"
)
HOSTS = words("db.internal prod-db-1 mysql.corp.acme.io 10.0.3.7 pg-main analytics-db")
USERS = words("app sa admin root deploy postgres svc_backend etl reporting jenkins")
PRIVATE_KEY_TYPES = ("RSA ", "EC ", "OPENSSH ", "", "DSA ", "ENCRYPTED ")

TYPES = ("EMAIL", "IP_ADDRESS", "KEY", "PASSWORD", "NAME")


@dataclass(frozen=True)
class Plant:
    """One planted value: ``type`` (EMAIL, IP_ADDRESS, KEY, PASSWORD, NAME), ``kind`` (value family),
    ``fmt`` (the form it is written in), ``start``/``end`` (character offsets in the planted text)."""

    type: str
    kind: str
    fmt: str
    value: str
    start: int = 0
    end: int = 0


@dataclass
class Builder:
    """Text built piece by piece, remembering where each planted value lands."""

    parts: list[str] = field(default_factory=list)
    plants: list[Plant] = field(default_factory=list)
    size: int = 0

    def add(self, text: str) -> Builder:
        self.parts.append(text)
        self.size += len(text)
        return self

    def value(self, type_: str, kind: str, fmt: str, text: str) -> Builder:
        self.plants.append(Plant(type_, kind, fmt, text, self.size, self.size + len(text)))
        return self.add(text)


# --- values ------------------------------------------------------------------------------------------------


def chars(rng: random.Random, alphabet: str, n: int) -> str:
    return "".join(rng.choice(alphabet) for _ in range(n))


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


class Values:
    """Seeded value generators; ``names`` is a list of (first, last) from Faker's locales."""

    def __init__(self, rng: random.Random, names: list[tuple[str, str]]):
        self.rng = rng
        self.names = names

    def name(self) -> str:
        first, last = self.rng.choice(self.names)
        return f"{first} {last}"

    def email(self) -> str:
        rng = self.rng
        first, last = (unidecode_ascii(p).lower().replace(" ", "") for p in rng.choice(self.names))
        local = rng.choice(
            (
                f"{first}.{last}",
                f"{first}{last}",
                f"{first[0]}{last}",
                f"{first}_{last}",
                f"{first}{rng.randint(1, 99)}",
                f"{last}.{first[0]}",
                f"{first}+{rng.choice(('git', 'dev'))}",
            )
        )
        domain = rng.choice(FREE_MAIL if rng.random() < 0.6 else COMPANY_MAIL)
        return f"{local}@{domain}"

    def ipv4(self) -> str:
        while True:
            address = ipaddress.IPv4Address(self.rng.getrandbits(32))
            if address.is_global and not address.is_multicast:
                return str(address)

    def ipv6(self, trailing: bool = False) -> str:
        rng = self.rng
        while True:
            groups = [
                rng.choice((0x2001, 0x2400, 0x2600, 0x2A00, 0x2A01, 0x2A02, 0x2C0F)) + rng.randint(0, 0xFF)
            ]
            groups += [rng.getrandbits(16) for _ in range(7)]
            if trailing:  # a /64 or /48 written with a trailing :: (2a01:4f8:c0c:1234::)
                for i in range(rng.choice((3, 4)), 8):
                    groups[i] = 0
            elif rng.random() < 0.5:
                for i in range(4, 4 + rng.randint(1, 3)):
                    groups[i] = 0
            address = ipaddress.IPv6Address(":".join(f"{g:x}" for g in groups))
            if address.is_global:
                return address.compressed if (trailing or 0 in groups) else address.exploded

    def key(self, kind: str) -> str:
        rng = self.rng
        makers = {
            "aws_key_id": lambda: rng.choice(("AKIA", "ASIA")) + chars(rng, BASE32_UPPER, 16),
            "aws_secret": lambda: chars(rng, BASE64, 40),
            "github": lambda: rng.choice(("ghp_", "gho_", "ghs_")) + chars(rng, BASE62, 36),
            "github_pat": lambda: "github_pat_" + chars(rng, BASE62, 22) + "_" + chars(rng, BASE62, 59),
            "gitlab": lambda: "glpat-" + chars(rng, BASE64URL, 20),
            "slack": lambda: (
                f"xoxb-{rng.randint(10**10, 10**12)}-{rng.randint(10**10, 10**12)}-" + chars(rng, BASE62, 24)
            ),
            "stripe": lambda: rng.choice(("sk_live_", "rk_live_")) + chars(rng, BASE62, rng.choice((24, 99))),
            "google": lambda: "AIza" + chars(rng, BASE64URL, 35),
            "sendgrid": lambda: "SG." + chars(rng, BASE64URL, 22) + "." + chars(rng, BASE64URL, 43),
            "npm": lambda: "npm_" + chars(rng, BASE62, 36),
            "hex": lambda: chars(rng, HEX, rng.choice((32, 40, 64))),
            "django": lambda: chars(rng, DJANGO, 50),
            "base64": lambda: base64.b64encode(rng.randbytes(rng.choice((24, 32, 48)))).decode(),
            "jwt": self.jwt,
        }
        return makers[kind]()

    def jwt(self) -> str:
        rng = self.rng
        header = {"alg": rng.choice(("HS256", "RS256")), "typ": "JWT"}
        payload = {"sub": str(rng.randint(10**6, 10**9)), "iat": rng.randint(1_500_000_000, 1_750_000_000)}
        parts = [b64url(json.dumps(p, separators=(",", ":")).encode()) for p in (header, payload)]
        return ".".join([*parts, b64url(rng.randbytes(32))])

    def pem(self) -> list[str]:
        kind = self.rng.choice(PRIVATE_KEY_TYPES)
        body = base64.b64encode(self.rng.randbytes(self.rng.randint(120, 600))).decode()
        return [
            f"-----BEGIN {kind}PRIVATE KEY-----",
            *(body[i : i + 64] for i in range(0, len(body), 64)),
            f"-----END {kind}PRIVATE KEY-----",
        ]

    def password(self, kind: str) -> str:
        rng = self.rng
        if kind == "common":
            return rng.choice(COMMON_PASSWORDS)
        if kind == "word_digits":
            word = rng.choice(WORDS)
            return rng.choice((word, word.title())) + str(rng.randint(0, 2025))
        if kind == "leet":
            word = rng.choice(WORDS).translate(LEET)
            return word[0].upper() + word[1:] + rng.choice(("", "!", "#1", str(rng.randint(1, 99))))
        if kind == "digits":
            return "".join(rng.choice(string.digits) for _ in range(rng.randint(4, 8)))
        if kind == "passphrase":
            return rng.choice("-_.").join(rng.sample(WORDS, rng.randint(2, 4)))
        n = rng.randint(8, 20)  # random: letters, digits and symbols
        return chars(rng, BASE62, n - 2) + rng.choice(SYMBOLS) + chars(rng, BASE62 + SYMBOLS, 1)


def unidecode_ascii(text: str) -> str:
    import unicodedata

    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode() or "x"


def load_names(count: int = 4000, seed: int = 0) -> list[tuple[str, str]]:
    """(first, last) pairs from Faker's locales (Latin-script ones: names in code comments)."""
    try:
        from faker import Faker
    except ImportError:
        raise SystemExit("benchmarks/pii_plants.py needs faker: pip install faker") from None
    locales = [
        "en_US",
        "en_GB",
        "de_DE",
        "fr_FR",
        "es_ES",
        "it_IT",
        "nl_NL",
        "pl_PL",
        "pt_BR",
        "sv_SE",
        "cs_CZ",
        "fi_FI",
        "tr_TR",
        "en_IN",
        "id_ID",
        "vi_VN",
    ]
    fake = Faker(locales)
    fake.seed_instance(seed)
    names = []
    for i in range(count):
        local = fake[locales[i % len(locales)]]
        names.append((local.first_name(), local.last_name()))
    return names
