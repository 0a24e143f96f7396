"""PII detection on real code: false positives on untouched files, recall and precision on planted PII, and
scan throughput (``stackcurate.pii``: ``PiiScanner.scan`` with the recognizers of rules/pii.yaml).

    python benchmarks/pii.py [--files 3000] [--seed 0] [--per-file 1-3] [--rules-dir DIR]
                             [--examples 15] [--misses 10] [--quick]

Corpus: source files (*.py, *.js, *.ts, *.go, *.java, *.c, *.h, *.cpp, *.rb, *.rs, *.sh, *.yaml, *.yml,
*.json, *.toml, *.cfg, *.ini; UTF-8, non-empty, under 200 KB) under this interpreter's site-packages: real
code nobody on this project wrote. Sorted by path, shuffled with ``--seed``, the first ``--files`` N of them
(``--quick``: 300 files). MB is the UTF-8 size, 10^6 bytes.

1. Untouched files: every file scanned as it is. Emails found there are mostly genuine author and
   maintainer addresses (real PII the stage is right to redact): they are counted on their own line, not as
   false positives. Every other detection (IP_ADDRESS, KEY, PASSWORD) on an untouched file counts as a false
   positive; printed per MB (target <= 1 per MB), per recognizer, with up to ``--examples`` examples.
2. Planted PII: a copy of each file with ``--per-file`` items (a count, or a range ``A-B`` drawn per file)
   inserted as whole lines at random line boundaries, in the file's language style (a comment, an
   assignment, a call, a config or env-file line), the type chosen round-robin over EMAIL, IP_ADDRESS, KEY,
   PASSWORD (and, within a type, round-robin over its formats), every value fresh from a seeded
   ``random.Random``: realistic email addresses (never a placeholder domain of rules/pii.yaml), globally
   routable IPv4 / IPv6 addresses (none of pii.yaml's popular_dns, none that look like versions), AWS, GitHub
   (classic and fine-grained), Slack, Google, Stripe keys, JWTs, PEM private-key blocks, high-entropy strings
   assigned to key-like names, and realistic passwords in assignments, keyword arguments, config / env-file
   lines and connection URLs. Some templates are the language's own ways of holding a secret that a
   recognizer may not know (C ``#define NAME "..."``, TypeScript / Rust typed constants, Java
   ``props.setProperty("password", ...)``, unquoted cfg / ini values; in code files a third of the env-file
   lines are commented-out examples, ``# export DB_PASSWORD=...``): the table of templates with misses shows
   what each costs. Each planted value's character span in the new text is recorded. A planted item
   is found when a detection of the same type has exactly its span (looser: any detection overlapping it).
   Precision per type: found items / the detections of that type in the planted copy that were not already
   in the untouched file (by type and text). Formats (template and language) with misses, and up to
   ``--misses`` missed items per type, are listed. Targets: recall >= 0.97 for EMAIL, IP_ADDRESS and KEY,
   >= 0.9 for PASSWORD.
3. Throughput, one process, one core: ``PiiScanner.scan`` over the untouched corpus after one warm-up call
   (which builds the presidio engine; timed and printed on its own), then scan + ``redact``, then the scan of
   the planted copies. Target >= 2 MB/s per core.
"""

from __future__ import annotations

import argparse
import base64
import ipaddress
import itertools
import json
import os
import random
import re
import string
import sysconfig
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from common import candidate_files

from stackcurate.pii.recognizers import PiiRules, load_pii_rules
from stackcurate.pii.redact import PiiScanner, Span, redact


def wordlist(text: str) -> tuple[str, ...]:
    return tuple(text.split())


EXTENSIONS = wordlist("py js ts go java c h cpp rb rs sh yaml yml json toml cfg ini")
MAX_BYTES = 200_000
QUICK_FILES = 300
TYPES = ("EMAIL", "IP_ADDRESS", "KEY", "PASSWORD")
FALSE_POSITIVE_TYPES = ("IP_ADDRESS", "KEY", "PASSWORD")
TARGET_RECALL = {"EMAIL": 0.97, "IP_ADDRESS": 0.97, "KEY": 0.97, "PASSWORD": 0.9}
TARGET_FP_PER_MB = 1.0
TARGET_MB_S = 2.0

HASH_COMMENT = {"py", "rb", "sh", "yaml", "yml", "toml", "cfg", "ini"}
SLASH_COMMENT = {"js", "ts", "go", "java", "c", "h", "cpp", "rs"}
CODE = HASH_COMMENT - {"yaml", "yml", "toml", "cfg", "ini", "sh"} | SLASH_COMMENT
CAMEL = {"js", "ts", "go", "java"}
SINGLE_QUOTES = {"py", "rb", "js", "ts", "sh", "yaml", "yml"}
BASE62 = string.ascii_letters + string.digits
BASE64URL = BASE62 + "-_"


# --- corpus ------------------------------------------------------------------------------------------------


@dataclass
class SourceFile:
    path: str  # relative to site-packages
    ext: str
    text: str
    size: int  # UTF-8 bytes


def collect_corpus(root: Path, files: int, seed: int) -> tuple[list[SourceFile], int, int]:
    """The first ``files`` readable source files of the shuffled candidates under ``root``; the number of
    candidates (by extension and size), and how many were skipped on the way (not UTF-8, unreadable)."""
    candidates = candidate_files(root, EXTENSIONS, MAX_BYTES)
    random.Random(seed).shuffle(candidates)
    corpus: list[SourceFile] = []
    skipped = 0
    for full in candidates:
        if len(corpus) >= files:
            break
        try:
            text = Path(full).read_bytes().decode("utf-8")
        except (OSError, UnicodeDecodeError):
            skipped += 1
            continue
        if not text.strip():
            skipped += 1
            continue
        corpus.append(
            SourceFile(os.path.relpath(full, root), full.rsplit(".", 1)[-1], text, len(text.encode()))
        )
    return corpus, len(candidates), skipped


# --- planted values ----------------------------------------------------------------------------------------

FIRST = wordlist(
    "james mary robert patricia john jennifer michael linda david elizabeth william susan richard jessica "
    "joseph sarah thomas karen chris nancy daniel lisa matthew betty anthony sandra mark ashley steven "
    "kimberly paul emily andrew donna joshua michelle kevin carol brian amanda george melissa timothy "
    "deborah ronald stephanie jason rebecca ryan sharon jacob laura gary cynthia nicholas amy eric kathleen "
    "lukas sofia mateo yuki hiroshi wei fang priya arjun olga dmitri ingrid lars chiara marco aisha omar"
)
LAST = wordlist(
    "smith johnson williams brown jones garcia miller davis rodriguez martinez hernandez lopez gonzalez "
    "wilson anderson thomas taylor moore jackson martin lee perez thompson white harris sanchez clark "
    "ramirez lewis robinson walker young allen king wright scott torres nguyen hill flores green adams "
    "nelson baker hall rivera campbell mitchell carter roberts mueller schmidt schneider fischer weber "
    "rossi russo ferrari tanaka suzuki watanabe kowalski nowak novak horvat petrov ivanova larsen berg"
)
FREE_MAIL = wordlist(
    "gmail.com yahoo.com outlook.com hotmail.com protonmail.com icloud.com gmx.de web.de fastmail.fm "
    "yandex.ru posteo.de hey.com zoho.com aol.com live.co.uk"
)
COMPANY_WORDS = wordlist(
    "blue harbor nimbus quartz vertex orbit lumen cobalt aurora cedar delta ember falcon granite helix "
    "indigo juniper kestrel lattice meridian nova onyx pixel quantum ridge summit tidal umbra vela willow "
    "zephyr atlas beacon cipher drift echo flux grove halcyon ion jade kite loom mosaic north"
)
TLDS = wordlist("com io dev ai co net org de co.uk tech app cloud fr nl se")
PASSWORD_WORDS = wordlist(
    "sunset dragon monkey summer winter autumn coffee tiger falcon river ocean silver shadow rocket "
    "galaxy thunder maple harbor violet copper marble cobra panther meadow"
)
PORTS = (8080, 443, 5432, 6379, 22, 8443, 9000, 3000, 27017, 5672, 9200, 8000)
SCHEMES = (("postgres", 5432), ("postgresql", 5432), ("mysql", 3306), ("mongodb", 27017), ("amqp", 5672))


def company_domain(rng: random.Random, rules: PiiRules) -> str:
    while True:
        a, b = rng.sample(COMPANY_WORDS, 2)
        name = rng.choice((a + b, f"{a}-{b}", a + "labs", a + "hq", f"{a}{rng.randint(2, 99)}"))
        domain = f"{name}.{rng.choice(TLDS)}"
        parts = domain.split(".")
        if not any(".".join(parts[i:]) in rules.placeholder_email_domains for i in range(len(parts))):
            return domain


def email(rng: random.Random, rules: PiiRules) -> str:
    first, last = rng.choice(FIRST), rng.choice(LAST)
    local = rng.choice(
        (
            f"{first}.{last}",
            f"{first}{last}",
            f"{first[0]}.{last}",
            f"{first}_{last}",
            f"{first}{rng.randint(1, 999)}",
            f"{first[0]}{last}{rng.randint(1, 99)}",
            f"{first}+{rng.choice(('github', 'pypi', 'dev', 'lists'))}",
            f"{last}.{first[0]}",
        )
    )
    domain = rng.choice(FREE_MAIL) if rng.random() < 0.5 else company_domain(rng, rules)
    return f"{local}@{domain}"


def ipv4(rng: random.Random, rules: PiiRules) -> str:
    while True:
        address = ipaddress.IPv4Address(rng.getrandbits(32))
        numbers = [int(part) for part in str(address).split(".")]
        if not address.is_global or address.is_multicast or str(address) in rules.popular_dns:
            continue
        if all(n < 10 for n in numbers) or (numbers[0] <= 2 and numbers[1] < 10):
            continue
        return str(address)


def ipv6(rng: random.Random, rules: PiiRules) -> str:
    while True:
        groups = [rng.randint(0x2000, 0x3FFF)] + [rng.getrandbits(16) for _ in range(7)]
        if rng.random() < 0.5:  # a run of zero groups, written with ::, never at the end (a prefix)
            start = rng.randint(2, 5)
            for i in range(start, min(start + rng.randint(1, 3), 7)):
                groups[i] = 0
        if groups[7] == 0:
            continue
        address = ipaddress.IPv6Address(":".join(f"{g:x}" for g in groups))
        if not address.is_global or address.is_multicast or str(address) in rules.popular_dns:
            continue
        if 0 in groups:
            return address.compressed
        return ":".join(f"{g:04x}" if rng.random() < 0.5 else f"{g:x}" for g in groups)


def chars(rng: random.Random, alphabet: str, n: int) -> str:
    return "".join(rng.choice(alphabet) for _ in range(n))


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def jwt(rng: random.Random) -> str:
    header = {"alg": rng.choice(("HS256", "RS256", "ES256")), "typ": "JWT"}
    payload = {
        "sub": str(rng.randint(10**6, 10**9)),
        "name": f"{rng.choice(FIRST).title()} {rng.choice(LAST).title()}",
        "iat": rng.randint(1_500_000_000, 1_750_000_000),
    }
    if rng.random() < 0.5:
        payload["exp"] = payload["iat"] + 3600
    parts = (json.dumps(header, separators=(",", ":")), json.dumps(payload, separators=(",", ":")))
    signature = rng.randbytes(rng.choice((32, 64)))
    return ".".join([*(b64url(p.encode()) for p in parts), b64url(signature)])


def pem_lines(rng: random.Random) -> list[str]:
    body = base64.b64encode(
        b"\x30\x82\x04\xa4\x02\x01\x00\x02\x82\x01\x01\x00" + rng.randbytes(rng.randint(200, 900))
    )
    text = body.decode()
    return [
        "-----BEGIN RSA PRIVATE KEY-----",
        *(text[i : i + 64] for i in range(0, len(text), 64)),
        "-----END RSA PRIVATE KEY-----",
    ]


def is_placeholder(value: str, rules: PiiRules) -> bool:
    lowered = value.lower()
    return (
        lowered in rules.placeholders
        or len(set(lowered)) == 1
        or any(word in lowered for word in rules.placeholder_words)
        or lowered.startswith(rules.placeholder_prefixes)
    )


def password(rng: random.Random, rules: PiiRules, symbols: str = "!#%&*") -> str:
    """8-16 characters, letters of both cases, digits and at least one symbol (never the first character)."""
    while True:
        if rng.random() < 0.4:  # a word, digits, a symbol: Sunset2024!, Tiger#88river
            word = rng.choice(PASSWORD_WORDS).title()
            digits = str(rng.randint(1, 9999))
            symbol = rng.choice(symbols)
            value = rng.choice((word + digits + symbol, word + symbol + digits, word + digits + symbol + "x"))
            value = value[:16]
        else:
            n = rng.randint(8, 16)
            body = [
                rng.choice(string.ascii_lowercase),
                rng.choice(string.ascii_uppercase),
                rng.choice(string.digits),
            ]
            body += [rng.choice(BASE62) for _ in range(n - 4)]
            rng.shuffle(body)
            at = rng.randint(1, len(body))
            body.insert(at, rng.choice(symbols))
            if rng.random() < 0.3:
                body.insert(rng.randint(1, len(body)), rng.choice(symbols))
            value = "".join(body)[:16]
        if 8 <= len(value) <= 16 and not is_placeholder(value, rules):
            return value


# --- planting ----------------------------------------------------------------------------------------------


@dataclass
class Block:
    """Lines to insert (ending in a newline) with the planted value at ``offset``."""

    text: str
    offset: int
    value: str
    type: str
    kind: str  # the value's format (aws_access_key_id, ipv6, ...)
    form: str  # the template, name and value abstracted, and the language
    recognizer: str  # the recognizer expected to find it


@dataclass
class Plant:
    file: int
    type: str
    kind: str
    form: str
    recognizer: str
    value: str
    start: int
    end: int
    exact: bool = False
    overlap: list[Span] = field(default_factory=list)


def abstract(block: Block, replacements: dict[str, str]) -> Block:
    """``block`` with the random parts of its template label (names, hosts, ports) replaced by words."""
    for old, new in replacements.items():
        block.form = block.form.replace(old, new)
    return block


def name_for(words: tuple[str, ...], ext: str, rng: random.Random, upper: bool | None = None) -> str:
    if upper is None:
        upper = ext in {"sh"} or (ext in {"py", "yaml", "yml", "rb"} and rng.random() < 0.35)
    if upper:
        return "_".join(w.upper() for w in words)
    if ext in CAMEL:
        return words[0] + "".join(w.title() for w in words[1:])
    return "_".join(words)


class Planter:
    """Makes the inserted lines for one language: each method returns a ``Block``."""

    def __init__(self, rng: random.Random, rules: PiiRules):
        self.rng = rng
        self.rules = rules
        self.turn: Counter[str] = Counter()

    def next_of(self, key: str, options: tuple[str, ...]) -> str:
        """Round-robin over ``options`` (one counter per ``key``)."""
        choice = options[self.turn[key] % len(options)]
        self.turn[key] += 1
        return choice

    # -- templates

    @staticmethod
    def block(
        indent: str,
        prefix: str,
        value: str,
        suffix: str,
        kind: str,
        type_: str,
        recognizer: str,
        ext: str,
        name: str = "",
        label_value: str = "…",
    ) -> Block:
        text = f"{indent}{prefix}{value}{suffix}\n"
        shown = prefix.replace(name, "NAME") if name else prefix
        form = f"{shown.lstrip()}{label_value}{suffix.rstrip()} (.{ext})"
        return Block(text, len(indent) + len(prefix), value, type_, kind, form, recognizer)

    def assignment(self, ext: str, words: tuple[str, ...], quoted: bool = True) -> tuple[str, str, str]:
        """(prefix, suffix, name) of a string assignment in the file's language; the value goes between."""
        rng = self.rng
        quote = rng.choice("\"'") if ext in SINGLE_QUOTES and rng.random() < 0.4 else '"'
        if ext in {"py", "rb"}:
            name = name_for(words, ext, rng)
            return f"{name} = {quote}", quote, name
        if ext in {"js", "ts"}:
            name = name_for(words, ext, rng)
            keyword = rng.choice(("const", "let", "var")) if ext == "js" else "const"
            if ext == "ts" and rng.random() < 0.3:
                return f"{keyword} {name}: string = {quote}", f"{quote};", name
            return f"{keyword} {name} = {quote}", f"{quote};", name
        if ext == "go":
            name = name_for(words, ext, rng)
            return (f"{name} := " if rng.random() < 0.6 else f"const {name} = ") + '"', '"', name
        if ext == "java":
            name = name_for(words, ext, rng, upper=True)
            return f'private static final String {name} = "', '";', name
        if ext in {"c", "h", "cpp"}:
            if rng.random() < 0.25:
                name = name_for(words, ext, rng, upper=True)
                return f'#define {name} "', '"', name
            name = name_for(words, ext, rng)
            kind = "static const char *" if ext != "cpp" or rng.random() < 0.5 else "const std::string "
            return f'{kind}{name} = "', '";', name
        if ext == "rs":
            if rng.random() < 0.3:
                name = name_for(words, ext, rng, upper=True)
                return f'const {name}: &str = "', '";', name
            name = name_for(words, ext, rng, upper=False)
            return f'let {name} = "', '";', name
        if ext == "sh":
            name = name_for(words, ext, rng)
            return f"{rng.choice(('', 'export '))}{name}={quote}", quote, name
        if ext in {"yaml", "yml"}:
            name = name_for(words, ext, rng)
            return (f"{name}: {quote}", quote, name) if quoted else (f"{name}: ", "", name)
        if ext == "json":
            name = name_for(words, ext, rng, upper=False)
            return f'"{name}": "', '",', name
        if ext == "toml":
            name = name_for(words, ext, rng, upper=False)
            return f'{name} = "', '"', name
        name = name_for(words, ext, rng, upper=False)  # cfg, ini: configparser values are not quoted
        return (
            (f'{name} = "', '"', name) if quoted and ext not in {"cfg", "ini"} else (f"{name} = ", "", name)
        )

    def comment(self, ext: str) -> str | None:
        if ext in HASH_COMMENT:
            return "#"
        if ext in SLASH_COMMENT:
            return "//"
        return None

    def assigned(
        self,
        ext: str,
        indent: str,
        words: tuple[str, ...],
        value: str,
        type_: str,
        kind: str,
        recognizer: str,
        before: str = "",
        after: str = "",
        quoted: bool = True,
    ) -> Block:
        prefix, suffix, name = self.assignment(ext, words, quoted)
        block = self.block(indent, prefix + before, value, after + suffix, kind, type_, recognizer, ext, name)
        return block

    def commented(
        self,
        ext: str,
        indent: str,
        before: str,
        value: str,
        after: str,
        type_: str,
        kind: str,
        recognizer: str,
    ) -> Block:
        marker = self.comment(ext) or "#"
        return self.block(indent, f"{marker} {before}", value, after, kind, type_, recognizer, ext)

    # -- EMAIL

    def email(self, ext: str, indent: str) -> Block:
        rng, value = self.rng, email(self.rng, self.rules)
        person = f"{rng.choice(FIRST).title()} {rng.choice(LAST).title()}"
        has_comment = self.comment(ext) is not None
        context = self.next_of("EMAIL", ("comment", "string", "mailto"))
        if context == "comment" and has_comment:
            before, after = rng.choice(
                (
                    ("Contact: ", ""),
                    (f"Author: {person} <", ">"),
                    ("Questions? Write to ", "."),
                    ("Maintainer: ", f" ({person})"),
                    (f"Copyright (c) 2021 {person} <", ">"),
                )
            )
            block = self.commented(ext, indent, before, value, after, "EMAIL", "email", "email")
            return abstract(block, {person: "First Last"})
        if context == "mailto":
            if has_comment and rng.random() < 0.5:
                block = self.commented(
                    ext, indent, '<a href="mailto:', value, f'">{person}</a>', "EMAIL", "email", "email"
                )
                return abstract(block, {person: "First Last"})
            words = rng.choice((("contact", "url"), ("support", "link"), ("feedback", "href")))
            after = rng.choice(("", "?subject=Bug%20report"))
            return self.assigned(ext, indent, words, value, "EMAIL", "email", "email", "mailto:", after)
        words = rng.choice((("email",), ("author", "email"), ("contact", "email"), ("maintainer", "email")))
        return self.assigned(ext, indent, words, value, "EMAIL", "email", "email")

    # -- IP_ADDRESS

    def ip(self, ext: str, indent: str) -> Block:
        rng = self.rng
        kind = self.next_of("IP_ADDRESS kind", ("ipv4", "ipv6"))
        value = ipv4(rng, self.rules) if kind == "ipv4" else ipv6(rng, self.rules)
        host = value if kind == "ipv4" else f"[{value}]"  # in URLs and host:port
        port = rng.choice(PORTS)
        context = self.next_of("IP_ADDRESS", ("assign", "comment", "connect", "url"))
        if context == "comment" and self.comment(ext):
            before, after = rng.choice(
                (
                    ("server at ", ""),
                    ("production box: ", " (ssh as deploy)"),
                    ("the old mirror ", f" answers on port {port}"),
                    ("fallback upstream is ", "."),
                )
            )
            return self.commented(ext, indent, before, value, after, "IP_ADDRESS", kind, kind)
        if context == "connect":
            b, v, a = self.connect(ext, value, host, port)
            return self.block(indent, b, v, a, kind, "IP_ADDRESS", kind, ext)
        if context == "url":
            path = rng.choice(("", "api/v1/", "health", "upload", "metrics"))
            scheme = rng.choice(("http", "https"))
            before = f"{scheme}://" + ("" if kind == "ipv4" else "[")
            after = ("" if kind == "ipv4" else "]") + f":{port}/{path}"
            words = rng.choice((("base", "url"), ("endpoint",), ("api", "url"), ("server", "url")))
            block = self.assigned(ext, indent, words, value, "IP_ADDRESS", kind, kind, before, after)
            return abstract(block, {f":{port}/{path}": ":PORT/PATH"})
        words = rng.choice((("host",), ("server", "ip"), ("db", "host"), ("remote", "addr"), ("upstream",)))
        return self.assigned(ext, indent, words, value, "IP_ADDRESS", kind, kind)

    def connect(self, ext: str, value: str, host: str, port: int) -> tuple[str, str, str]:
        """(text before, value, text after) of a connection call in the file's language."""
        v6 = host != value
        if ext == "py":
            return self.rng.choice(
                (('conn = connect("', value, f'", {port})'), ('sock.connect(("', value, f'", {port}))'))
            )
        if ext in {"js", "ts"}:
            return 'const conn = connect("', value, f'", {port});'
        if ext == "go":
            return (
                'conn, err := net.Dial("tcp", "' + ("[" if v6 else ""),
                value,
                ("]" if v6 else "") + f':{port}")',
            )
        if ext == "java":
            return 'Socket socket = new Socket("', value, f'", {port});'
        if ext in {"c", "h", "cpp"}:
            family = "AF_INET6" if v6 else "AF_INET"
            return self.rng.choice(
                (
                    (f'inet_pton({family}, "', value, '", &addr);'),
                    ('fd = connect_to("', value, f'", {port});'),
                )
            )
        if ext == "rs":
            return (
                'let stream = TcpStream::connect("' + ("[" if v6 else ""),
                value,
                ("]" if v6 else "") + f':{port}")?;',
            )
        if ext == "rb":
            return 'socket = TCPSocket.new("', value, f'", {port})'
        if ext == "sh":
            return self.rng.choice((("nc -z ", value, f" {port}"), ("ssh -p 22 deploy@", value, "")))
        if ext == "json":
            return '"server": "' + ("[" if v6 else ""), value, ("]" if v6 else "") + f':{port}",'
        if ext in {"yaml", "yml"}:
            return 'server: "' + ("[" if v6 else ""), value, ("]" if v6 else "") + f':{port}"'
        return "server = " + ("[" if v6 else ""), value, ("]" if v6 else "") + f":{port}"  # toml, cfg, ini

    # -- KEY

    KEY_KINDS = (
        "aws_access_key_id",
        "github_token",
        "github_fine_grained_token",
        "slack_token",
        "google_api_key",
        "stripe_key",
        "jwt",
        "private_key_block",
        "secret_assignment",
    )
    KEY_NAMES: ClassVar[dict[str, tuple[tuple[str, ...], ...]]] = {
        "aws_access_key_id": (("aws", "access", "key", "id"), ("aws", "key"), ("access", "key", "id")),
        "github_token": (("github", "token"), ("gh", "token"), ("token",)),
        "github_fine_grained_token": (("github", "token"), ("gh", "pat"), ("token",)),
        "slack_token": (("slack", "bot", "token"), ("slack", "token")),
        "google_api_key": (("google", "api", "key"), ("maps", "api", "key"), ("api", "key")),
        "stripe_key": (("stripe", "secret", "key"), ("stripe", "api", "key"), ("stripe", "key")),
        "jwt": (("access", "token"), ("jwt",), ("auth", "token"), ("id", "token")),
        "secret_assignment": (
            ("api", "key"),
            ("secret", "token"),
            ("client", "secret"),
            ("access", "key"),
            ("auth", "token"),
            ("secret", "key"),
        ),
    }

    def key_value(self, kind: str) -> str:
        rng = self.rng
        if kind == "aws_access_key_id":
            return "AKIA" + chars(rng, string.ascii_uppercase + string.digits, 16)
        if kind == "github_token":
            return "ghp_" + chars(rng, BASE62, 36)
        if kind == "github_fine_grained_token":
            return "github_pat_" + chars(rng, BASE62, 22) + "_" + chars(rng, BASE62, 59)
        if kind == "slack_token":
            digits = string.digits
            return (
                f"xoxb-{chars(rng, digits, rng.randint(10, 13))}-{chars(rng, digits, rng.randint(10, 13))}-"
                + chars(rng, BASE62, 24)
            )
        if kind == "google_api_key":
            return "AIza" + chars(rng, BASE64URL, 35)
        if kind == "stripe_key":
            return "sk_live_" + chars(rng, BASE62, 24)
        if kind == "jwt":
            return jwt(rng)
        return chars(rng, BASE62, rng.randint(32, 40))

    def key(self, ext: str, indent: str) -> Block:
        rng = self.rng
        kind = self.next_of("KEY", self.KEY_KINDS)
        if kind == "private_key_block":
            return self.pem(ext, indent)
        value = self.key_value(kind)
        words = rng.choice(self.KEY_NAMES[kind])
        if kind == "secret_assignment":  # high entropy, only found next to a key-like name
            if ext in {"yaml", "yml"} and rng.random() < 0.5:
                words = ("SECRET", "TOKEN")
            return self.assigned(ext, indent, words, value, "KEY", kind, kind)
        context = self.next_of(f"KEY {kind}", ("assign", "comment", "header"))
        if context == "comment" and self.comment(ext):
            before, after = rng.choice(
                (("key: ", ""), ("old key ", ", rotated in March"), ("use ", " for the staging account"))
            )
            return self.commented(ext, indent, before, value, after, "KEY", kind, kind)
        if context == "header" and kind in {
            "jwt",
            "github_token",
            "github_fine_grained_token",
            "slack_token",
        }:
            scheme = "Bearer " if kind in {"jwt", "slack_token"} else rng.choice(("token ", "Bearer "))
            words = ("auth", "header")
            return self.assigned(ext, indent, words, value, "KEY", kind, kind, scheme)
        return self.assigned(ext, indent, words, value, "KEY", kind, kind)

    def pem(self, ext: str, indent: str) -> Block:
        """A PEM private-key block: a multi-line string in the file's language, or a commented block."""
        rng, lines = self.rng, pem_lines(self.rng)
        kind = "private_key_block"
        marker = self.comment(ext)
        if marker and rng.random() < 0.3:
            prefix, joiner, suffix, form = f"{marker} ", f"\n{indent}{marker} ", "", f"{marker} -----BEGIN…"
        elif ext == "py":
            prefix, joiner, suffix, form = 'PRIVATE_KEY = """', "\n", '"""', 'NAME = """-----BEGIN…"""'
        elif ext in {"js", "ts", "go"}:
            prefix, joiner, suffix, form = "const privateKey = `", "\n", "`", "const NAME = `-----BEGIN…`"
        elif ext == "java":
            prefix, joiner, suffix, form = (
                f'private static final String PRIVATE_KEY = """\n{indent}',
                "\n",
                '""";',
                'String NAME = """ text block',
            )
        elif ext in {"c", "h", "cpp"}:  # one string literal per line, concatenated
            prefix, joiner, suffix, form = (
                'static const char *private_key =\n    "',
                '\\n"\n    "',
                '\\n";',
                'static const char *NAME = "-----BEGIN…\\n" "…\\n" …',
            )
        elif ext == "rs":
            prefix, joiner, suffix, form = (
                'const PRIVATE_KEY: &str = "',
                "\n",
                '";',
                'const NAME: &str = "-----BEGIN…"',
            )
        elif ext == "rb":
            prefix, joiner, suffix, form = (
                "PRIVATE_KEY = <<~PEM\n" + indent,
                "\n" + indent,
                "\n" + indent + "PEM",
                "heredoc",
            )
        elif ext == "sh":
            prefix, joiner, suffix, form = "cat > key.pem <<'EOF'\n", "\n", "\nEOF", "heredoc"
        elif ext in {"yaml", "yml"}:
            prefix, joiner, suffix, form = f"private_key: |\n{indent}  ", f"\n{indent}  ", "", "NAME: | block"
        elif ext == "json":
            prefix, joiner, suffix, form = '"private_key": "', "\\n", '\\n",', '"NAME": "-----BEGIN…\\n…"'
        elif ext == "toml":
            prefix, joiner, suffix, form = 'private_key = """\n', "\n", '"""', 'NAME = """…"""'
        else:  # cfg, ini: continuation lines
            prefix, joiner, suffix, form = "private_key =\n    ", "\n    ", "", "NAME = continuation lines"
        value = joiner.join(lines)
        text = f"{indent}{prefix}{value}{suffix}\n"
        return Block(text, len(indent) + len(prefix), value, "KEY", kind, f"{form} (.{ext})", kind)

    # -- PASSWORD

    PASSWORD_NAMES = (
        ("password",),
        ("db", "password"),
        ("admin", "password"),
        ("smtp", "password"),
        ("passwd",),
        ("mysql", "pwd"),
    )

    def password(self, ext: str, indent: str) -> Block:
        rng = self.rng
        context = self.next_of("PASSWORD", ("assign", "argument", "env", "url"))
        if context == "url":
            value = password(rng, self.rules, symbols="!*&")
            scheme, port = rng.choice(SCHEMES)
            user = rng.choice(("app", "admin", "deploy", "svc_orders", "readonly", "etl"))
            host = f"{rng.choice(('db', 'pg', 'mq', 'data'))}.{company_domain(rng, self.rules)}"
            database = rng.choice(("app", "orders", "prod", "analytics", "main"))
            words = rng.choice((("database", "url"), ("db", "uri"), ("broker", "url"), ("dsn",)))
            before, after = f"{scheme}://{user}:", f"@{host}:{port}/{database}"
            recognizer = "password_in_url"
            abstracted = {host: "HOST", f"{user}:": "USER:", f"/{database}": "/DB"}
            if ext in {"sh", "cfg", "ini"}:
                prefix = f"{name_for(words, 'sh', rng)}=" if ext == "sh" else f"{'_'.join(words)} = "
                block = self.block(
                    indent,
                    prefix + before,
                    value,
                    after,
                    "password_in_url",
                    "PASSWORD",
                    recognizer,
                    ext,
                    label_value="PASS",
                )
                return abstract(block, abstracted)
            block = self.assigned(
                ext, indent, words, value, "PASSWORD", recognizer, recognizer, before, after
            )
            return abstract(block, abstracted)
        value = password(rng, self.rules)
        if context == "env" and ext == "json":
            context = "argument"  # JSON has no env-file lines (nor comments)
        if context == "env":  # an env-file line: bare, or (in code) a commented example
            name = rng.choice(("PASSWORD", "DB_PASSWORD", "PGPASSWORD", "MYSQL_PASSWORD", "REDIS_PASSWORD"))
            prefix = rng.choice(("", "export ")) + name + "="
            if ext in CODE and rng.random() < 1 / 3:
                block = self.commented(
                    ext, indent, prefix, value, "", "PASSWORD", "env", "password_config_line"
                )
            else:
                block = self.block(indent, prefix, value, "", "env", "PASSWORD", "password_config_line", ext)
            return block
        if context == "argument":
            before, after, recognizer = self.argument(ext, value)
            return self.block(indent, before, value, after, "argument", "PASSWORD", recognizer, ext)
        words = rng.choice(self.PASSWORD_NAMES)
        quoted = ext not in {"cfg", "ini"}
        recognizer = "password_assignment" if quoted else "password_config_line"
        return self.assigned(ext, indent, words, value, "PASSWORD", "assign", recognizer, quoted=quoted)

    def argument(self, ext: str, value: str) -> tuple[str, str, str]:
        """(before, after, recognizer) of a password keyword argument / object field / config entry."""
        rng = self.rng
        q = rng.choice("\"'") if ext in SINGLE_QUOTES else '"'
        pa = "password_assignment"
        if ext == "py":
            return rng.choice(
                (
                    (f"conn = psycopg2.connect(host={q}db{q}, user={q}app{q}, password={q}", f"{q})", pa),
                    (f"{q}password{q}: {q}", f"{q},", pa),
                    (f"client.login(username={q}deploy{q}, password={q}", f"{q})", pa),
                )
            )
        if ext in {"js", "ts"}:
            return rng.choice(
                (
                    (f"const options = {{ user: {q}app{q}, password: {q}", f"{q} }};", pa),
                    (f"password: {q}", f"{q},", pa),
                )
            )
        if ext == "go":
            return 'Password: "', '",', pa
        if ext == "java":
            return rng.choice((('props.setProperty("password", "', '");', pa), ('.password("', '")', pa)))
        if ext in {"c", "h", "cpp"}:
            return '.password = "', '",', pa
        if ext == "rs":
            return 'password: "', '".to_string(),', pa
        if ext == "rb":
            return rng.choice(((f":password => {q}", f"{q},", pa), (f"password: {q}", f"{q},", pa)))
        if ext == "sh":
            return f"export PGPASSWORD={q}", q, pa
        if ext in {"yaml", "yml"}:
            return rng.choice(((f"DB_PASSWORD: {q}", q, pa), ("password: ", "", "password_config_line")))
        if ext == "json":
            return '"password": "', '",', pa
        if ext == "toml":
            return 'password = "', '"', pa
        return "db_password = ", "", "password_config_line"  # cfg, ini

    def make(self, type_: str, ext: str, indent: str) -> Block:
        method: Callable[[str, str], Block] = {
            "EMAIL": self.email,
            "IP_ADDRESS": self.ip,
            "KEY": self.key,
            "PASSWORD": self.password,
        }[type_]
        return method(ext, indent)


def indent_at(text: str, position: int) -> str:
    """The indentation of the line starting at ``position`` (of the line before, when that one is blank)."""
    end = text.find("\n", position)
    line = text[position : end if end >= 0 else len(text)]
    if not line.strip() and position > 0:
        start = text.rfind("\n", 0, position - 1) + 1
        line = text[start : position - 1]
    stripped = line[: len(line) - len(line.lstrip(" \t"))]
    return stripped[:16]


def plant_file(
    text: str, ext: str, count: int, planter: Planter, types: Iterator[str], file_index: int
) -> tuple[str, list[Plant]]:
    """``text`` with ``count`` blocks inserted at random line boundaries; the planted items' spans."""
    rng = planter.rng
    boundaries = [0, *(m.end() for m in re.finditer("\n", text))]
    if not text.endswith("\n"):
        boundaries.append(len(text))
    positions = sorted(rng.choice(boundaries) for _ in range(count))
    parts: list[str] = []
    plants: list[Plant] = []
    done = 0
    length = 0
    for position in positions:
        parts.append(text[done:position])
        length += position - done
        done = position
        if position == len(text) and not text.endswith("\n"):
            parts.append("\n")
            length += 1
        block = planter.make(next(types), ext, indent_at(text, position))
        start = length + block.offset
        plants.append(
            Plant(
                file_index,
                block.type,
                block.kind,
                block.form,
                block.recognizer,
                block.value,
                start,
                start + len(block.value),
            )
        )
        parts.append(block.text)
        length += len(block.text)
    parts.append(text[done:])
    planted = "".join(parts)
    for plant in plants:
        assert planted[plant.start : plant.end] == plant.value, (
            plant,
            planted[plant.start - 20 : plant.end + 20],
        )
    return planted, plants


# --- report ------------------------------------------------------------------------------------------------


def met(ok: bool) -> str:
    return "met" if ok else "MISSED"


def short(value: str, width: int = 90) -> str:
    shown = repr(value)
    return shown if len(shown) <= width else shown[: width - 5] + "…" + shown[-4:]


def line_of(text: str, start: int, end: int) -> str:
    """The line(s) holding [start, end), at most three lines."""
    first = text.rfind("\n", 0, start) + 1
    last = text.find("\n", end)
    lines = text[first : last if last >= 0 else len(text)].split("\n")
    return "\n".join(lines[:2] + (["…", lines[-1]] if len(lines) > 3 else lines[2:3]))


class Table:
    """Throughput lines: name, files, MB, seconds, files/s, MB/s."""

    def __init__(self) -> None:
        print(f"\n{'':40}{'files':>8}{'MB':>9}{'seconds':>10}{'files/s':>10}{'MB/s':>8}")

    def row(self, name: str, files: int, mb: float, seconds: float, note: str = "") -> float:
        rate = mb / seconds if seconds > 0 else float("inf")
        per_s = files / seconds if seconds > 0 else float("inf")
        print(f"{name:40}{files:>8d}{mb:>9.2f}{seconds:>10.2f}{per_s:>10.0f}{rate:>8.2f}  {note}".rstrip())
        return rate


def report_untouched(
    corpus: list[SourceFile], found: list[list[Span]], mb: float, examples: int
) -> tuple[int, float]:
    print(f"\n1. untouched files ({len(corpus)} files, {mb:.2f} MB)")
    counts = Counter(span.type for spans in found for span in spans)
    files_with = Counter(t for spans in found for t in {span.type for span in spans})
    print(f"\n  {'type':42}{'detections':>11}{'per MB':>9}{'files':>8}")
    for type_ in TYPES:
        label = "EMAIL (real addresses in the corpus)" if type_ == "EMAIL" else type_
        n = counts.get(type_, 0)
        print(f"  {label:42}{n:>11d}{n / mb:>9.2f}{files_with.get(type_, 0):>8d}")
    emails = [span.text for spans in found for span in spans if span.type == "EMAIL"]
    domains = Counter(text.rsplit("@", 1)[1].lower() for text in emails)
    if domains:
        top = ", ".join(f"{d} {n}" for d, n in domains.most_common(10))
        print(f"  email domains ({len(set(emails))} distinct addresses): {top}")
    fp = [(i, span) for i, spans in enumerate(found) for span in spans if span.type in FALSE_POSITIVE_TYPES]
    per_mb = len(fp) / mb if mb else 0.0
    print(
        f"\n  false positives (IP_ADDRESS + KEY + PASSWORD on untouched files): {len(fp)},"
        f" {per_mb:.2f} per MB, target <= {TARGET_FP_PER_MB:g} per MB: {met(per_mb <= TARGET_FP_PER_MB)}"
    )
    by_recognizer = Counter(span.recognizer for _, span in fp)
    if by_recognizer:
        print("  by recognizer: " + ", ".join(f"{r} {n}" for r, n in by_recognizer.most_common()))
        # one example per distinct (recognizer, text), the most frequent first, round-robin over the
        # recognizers so that each shows some
        groups: dict[tuple[str, str], list[tuple[int, Span]]] = defaultdict(list)
        for i, span in fp:
            groups[(span.recognizer, span.text)].append((i, span))
        queues: dict[str, list[list[tuple[int, Span]]]] = defaultdict(list)
        for (recognizer, _), items in sorted(groups.items(), key=lambda kv: -len(kv[1])):
            queues[recognizer].append(items)
        chosen: list[list[tuple[int, Span]]] = []
        while len(chosen) < examples and any(queues.values()):
            for recognizer, _ in by_recognizer.most_common():
                if queues[recognizer] and len(chosen) < examples:
                    chosen.append(queues[recognizer].pop(0))
        print(f"  examples ({len(chosen)} of {len(groups)} distinct texts; x N: times found, in K files):")
        for items in chosen:
            i, span = items[0]
            files = len({j for j, _ in items})
            print(
                f"    {corpus[i].path}  {span.type}  {span.recognizer}  {short(span.text, 80)}"
                f"  x {len(items)} in {files} file{'s' if files > 1 else ''}"
            )
            print(f"        line: {short(line_of(corpus[i].text, span.start, span.end), 120)}")
    return len(fp), per_mb


def report_planted(
    corpus: list[SourceFile],
    planted_texts: list[str],
    plants: list[Plant],
    found: list[list[Span]],
    before: list[list[Span]],
    misses: int,
) -> dict[str, float]:
    # pre-existing detections by (type, text); new detections per type
    new: Counter[str] = Counter()
    extra: dict[str, list[tuple[int, Span]]] = defaultdict(list)
    plant_spans = {(p.file, p.type, p.start, p.end) for p in plants}
    for i, spans in enumerate(found):
        existing = {(s.type, s.text) for s in before[i]}
        for span in spans:
            if (span.type, span.text) not in existing:
                new[span.type] += 1
                if (i, span.type, span.start, span.end) not in plant_spans:
                    extra[span.type].append((i, span))
    for plant in plants:
        spans = found[plant.file]
        plant.exact = any(
            s.type == plant.type and s.start == plant.start and s.end == plant.end for s in spans
        )
        plant.overlap = [s for s in spans if s.start < plant.end and s.end > plant.start]

    print(
        f"\n  {'type':12}{'planted':>9}{'found':>8}{'recall':>8}{'target':>9}{'':8}{'overlap':>9}"
        f"{'new det.':>10}{'precision':>11}"
    )
    recalls: dict[str, float] = {}
    for type_ in TYPES:
        mine = [p for p in plants if p.type == type_]
        exact = sum(p.exact for p in mine)
        overlap = sum(bool(p.overlap) for p in mine)
        recall = exact / len(mine) if mine else 0.0
        precision = exact / new[type_] if new[type_] else 0.0
        recalls[type_] = recall
        target = TARGET_RECALL[type_]
        print(
            f"  {type_:12}{len(mine):>9d}{exact:>8d}{recall:>8.3f}{'>= ' + format(target, 'g'):>9}"
            f"{met(recall >= target):>8}{overlap / len(mine) if mine else 0.0:>9.3f}{new[type_]:>10d}"
            f"{precision:>11.3f}"
        )
    total = sum(p.exact for p in plants)
    all_new = sum(new[t] for t in TYPES)
    print(
        f"  {'all':12}{len(plants):>9d}{total:>8d}{total / len(plants):>8.3f}{'':17}"
        f"{sum(bool(p.overlap) for p in plants) / len(plants):>9.3f}{all_new:>10d}"
        f"{total / all_new if all_new else 0.0:>11.3f}"
    )
    print("  found: a detection of the same type with exactly the planted span; overlap: any detection, any")
    print(
        "  type, overlapping it; new det.: detections in the planted copies that the untouched file has not"
    )

    # per format
    kinds: dict[tuple[str, str], list[Plant]] = defaultdict(list)
    forms: dict[tuple[str, str, str], list[Plant]] = defaultdict(list)
    for plant in plants:
        kinds[(plant.type, plant.kind)].append(plant)
        forms[(plant.type, plant.kind, plant.form)].append(plant)
    print(f"\n  {'type':12}{'value format':28}{'planted':>9}{'found':>8}{'recall':>8}")
    for (type_, kind), mine in sorted(kinds.items()):
        exact = sum(p.exact for p in mine)
        print(f"  {type_:12}{kind:28}{len(mine):>9d}{exact:>8d}{exact / len(mine):>8.3f}")
    missed_forms = [(key, mine) for key, mine in forms.items() if not all(p.exact for p in mine)]
    missed_forms.sort(key=lambda kv: (TYPES.index(kv[0][0]), -sum(not p.exact for p in kv[1])))
    print(
        f"\n  templates with misses ({len(missed_forms)} of {len(forms)}; the value shown as … or PASS, the"
        " name as NAME):"
    )
    print(f"  {'type':12}{'format':28}{'planted':>8}{'missed':>8}  template")
    for (type_, kind, form), mine in missed_forms:
        n_missed = sum(not p.exact for p in mine)
        print(f"  {type_:12}{kind:28}{len(mine):>8d}{n_missed:>8d}  {form}")

    # the missed items
    for type_ in TYPES:
        missed = [p for p in plants if p.type == type_ and not p.exact]
        if not missed:
            continue
        print(f"\n  missed {type_} ({min(misses, len(missed))} of {len(missed)}):")
        for plant in missed[:misses]:
            text = planted_texts[plant.file]
            print(
                f"    {corpus[plant.file].path}  expected {plant.recognizer}  value {short(plant.value, 70)}"
            )
            print(f"        line: {short(line_of(text, plant.start, plant.end), 140)}")
            for span in plant.overlap:
                print(
                    f"        overlapped by {span.type} ({span.recognizer}) {short(span.text, 80)}"
                    f" at [{span.start - plant.start:+d}, {span.end - plant.end:+d}] of the planted span"
                )

    # new detections that are not planted items (what costs precision)
    for type_ in TYPES:
        items = extra.get(type_, [])
        if items:
            print(
                f"\n  new {type_} detections that are not a planted item"
                f" ({min(5, len(items))} of {len(items)}):"
            )
            for i, span in items[:5]:
                print(f"    {corpus[i].path}  {span.recognizer}  {short(span.text, 80)}")
                print(f"        line: {short(line_of(planted_texts[i], span.start, span.end), 140)}")
    return recalls


# --- main --------------------------------------------------------------------------------------------------


def parse_range(value: str) -> tuple[int, int]:
    low, _, high = value.partition("-")
    lo, hi = int(low), int(high or low)
    if not 1 <= lo <= hi:
        raise argparse.ArgumentTypeError(f"--per-file wants N or A-B with 1 <= A <= B, not {value!r}")
    return lo, hi


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--files", type=int, default=3000, help="files in the corpus")
    parser.add_argument("--seed", type=int, default=0, help="shuffle and planting seed")
    parser.add_argument(
        "--per-file", type=parse_range, default=(1, 3), help="items planted per file: N or A-B"
    )
    parser.add_argument("--rules-dir", default=None, help="a folder with a pii.yaml to use instead")
    parser.add_argument("--examples", type=int, default=15, help="false-positive examples shown")
    parser.add_argument("--misses", type=int, default=10, help="missed planted items shown per type")
    parser.add_argument("--quick", action="store_true", help=f"--files {QUICK_FILES}")
    args = parser.parse_args()
    if args.quick:
        args.files = QUICK_FILES
    return args


def main() -> None:
    args = parse_args()
    started = time.perf_counter()
    root = Path(sysconfig.get_paths()["purelib"])
    corpus, candidates, skipped = collect_corpus(root, args.files, args.seed)
    if not corpus:
        raise SystemExit(f"no source files under {root}")
    texts = [f.text for f in corpus]
    mb = sum(f.size for f in corpus) / 1e6
    by_ext = Counter(f.ext for f in corpus)
    ext_mb = Counter()
    for f in corpus:
        ext_mb[f.ext] += f.size / 1e6
    rules = load_pii_rules(args.rules_dir)
    print(
        f"corpus      {root}: {len(corpus)} of {candidates} candidate files ({skipped} skipped: not UTF-8"
        " or blank),"
    )
    print(f"            {mb:.2f} MB (UTF-8), shuffle seed {args.seed}")
    print("            " + ", ".join(f".{e} {n} ({ext_mb[e]:.2f} MB)" for e, n in by_ext.most_common()))
    print(
        f"scanner     PiiScanner(rules_dir={args.rules_dir!r}, names=False, keep_public_ips_only=True):"
        f" {len(rules.recognizers)} recognizers"
    )
    print(f"machine     {os.cpu_count()} CPUs; everything timed in this one process (one core)")

    scanner = PiiScanner(args.rules_dir)
    build_started = time.perf_counter()
    scanner.scan("warm-up: builds the presidio engine, alice@gmail.com")
    build_seconds = time.perf_counter() - build_started

    # 1. untouched files (timed: the throughput of section 3)
    scan_started = time.perf_counter()
    before = [scanner.scan(text) for text in texts]
    scan_seconds = time.perf_counter() - scan_started
    fp_count, fp_per_mb = report_untouched(corpus, before, mb, args.examples)

    # 2. planted copies
    rng = random.Random(args.seed)
    planter = Planter(rng, rules)
    counts = [rng.randint(*args.per_file) for _ in corpus]
    cycle = itertools.cycle(TYPES)
    planted_texts: list[str] = []
    plants: list[Plant] = []
    for i, (f, count) in enumerate(zip(corpus, counts, strict=True)):
        text, mine = plant_file(f.text, f.ext, count, planter, cycle, i)
        planted_texts.append(text)
        plants.extend(mine)
    planted_mb = sum(len(t.encode()) for t in planted_texts) / 1e6
    lo, hi = args.per_file
    print(
        f"\n2. planted PII: {len(plants)} items in {len(corpus)} files ({lo}-{hi} per file,"
        f" seed {args.seed}), {planted_mb:.2f} MB"
    )
    planted_started = time.perf_counter()
    after = [scanner.scan(text) for text in planted_texts]
    planted_seconds = time.perf_counter() - planted_started
    recalls = report_planted(corpus, planted_texts, plants, after, before, args.misses)

    # 3. throughput
    redact_started = time.perf_counter()
    for text in texts:
        redact(text, scanner.scan(text), args.rules_dir)
    redact_seconds = time.perf_counter() - redact_started
    print(f"\n3. throughput, one process, one core; engine build (the warm-up call): {build_seconds:.2f} s")
    table = Table()
    rate = mb / scan_seconds if scan_seconds > 0 else float("inf")
    note = f"target >= {TARGET_MB_S:g} MB/s per core: {met(rate >= TARGET_MB_S)}"
    table.row("scan, untouched files", len(corpus), mb, scan_seconds, note)
    table.row("scan + redact, untouched files", len(corpus), mb, redact_seconds)
    table.row("scan, planted copies", len(corpus), planted_mb, planted_seconds)

    print("\nsummary")
    for type_ in TYPES:
        target = TARGET_RECALL[type_]
        print(
            f"  recall {type_:12}{recalls[type_]:>7.3f}   target >= {target:g}:"
            f" {met(recalls[type_] >= target)}"
        )
    print(
        f"  false positives   {fp_per_mb:>7.2f}   per MB ({fp_count} on {mb:.2f} MB), target <= "
        f"{TARGET_FP_PER_MB:g}: {met(fp_per_mb <= TARGET_FP_PER_MB)}"
    )
    print(
        f"  scan              {rate:>7.2f}   MB/s per core, target >= {TARGET_MB_S:g}:"
        f" {met(rate >= TARGET_MB_S)}"
    )
    print(f"\nbenchmark wall time {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
