"""Planted PII for benchmarks/pii.py, made without looking at the detector: this module never imports
``stackcurate.pii`` and never reads ``rules/pii.yaml``.

Values come from each secret's published format (alphabet and length: AWS access key ids ``AKIA`` + 16 of
A-Z2-7 and 40-character secret keys, GitHub ``ghp_`` + 36 base62 and ``github_pat_`` 22 + 59, GitLab
``glpat-``, Slack ``xoxb-``, Stripe ``sk_live_``, Google ``AIza`` + 35, SendGrid, npm, Django's
``get_random_secret_key`` alphabet, JWTs, PEM private-key blocks), from real-world password shapes (the most
common leaked passwords, dictionary words with digits, leetspeak, short digit strings, default account
passwords such as ``admin`` or ``postgres``, random strings with symbols), from random globally routable
IPv4 and IPv6 addresses (``ipaddress.is_global``) written in every textual form (plain, compressed, trailing
``::``, bracketed with a port, with a port, CIDR), from mail addresses at real domains (free mail and
companies), and person names from Faker's locales (``faker``, a names source only).

``Plant`` is one planted value: its entity type, its ``kind`` (the value family) and its ``fmt`` (the form
it is written in: .env, INI, .properties, YAML, TOML, JSON, a comment, a string in code, prose, shell
commands, JDBC/ODBC strings, docker-compose ``environment:`` blocks, URL userinfo, author lines ...).
``make_snippet`` writes one such form for a host file's language; ``plant`` inserts it at a line boundary."""

from __future__ import annotations

import base64
import ipaddress
import json
import random
import string
import urllib.parse
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


# --- forms ---------------------------------------------------------------------------------------------

KEY_NAMES = {
    "aws_key_id": ["AWS_ACCESS_KEY_ID", "aws_access_key_id", "accessKeyId"],
    "aws_secret": ["AWS_SECRET_ACCESS_KEY", "aws_secret_access_key", "secretAccessKey", "AWS_SECRET_KEY"],
    "github": ["GITHUB_TOKEN", "GH_TOKEN", "github_token"],
    "github_pat": ["GITHUB_TOKEN", "GH_PAT", "github_token"],
    "gitlab": ["GITLAB_TOKEN", "gitlab_private_token", "CI_PUSH_TOKEN"],
    "slack": ["SLACK_BOT_TOKEN", "slack_token", "SLACK_API_TOKEN"],
    "stripe": ["STRIPE_SECRET_KEY", "stripe_api_key", "STRIPE_KEY"],
    "google": ["GOOGLE_API_KEY", "MAPS_API_KEY", "firebase_api_key"],
    "sendgrid": ["SENDGRID_API_KEY", "sendgrid_key"],
    "npm": ["NPM_TOKEN", "npm_auth_token"],
    "hex": ["API_KEY", "api_secret", "SECRET_KEY", "access_token", "client_secret", "apiKey", "X_API_KEY"],
    "django": ["SECRET_KEY", "DJANGO_SECRET_KEY"],
    "base64": ["JWT_SECRET", "signing_key", "ENCRYPTION_KEY", "SESSION_SECRET", "app_secret"],
    "jwt": ["ACCESS_TOKEN", "id_token", "AUTH_TOKEN", "bearer_token"],
}
PASSWORD_NAMES = words(
    "DB_PASSWORD POSTGRES_PASSWORD MYSQL_ROOT_PASSWORD password passwd db_pass REDIS_PASSWORD "
    "admin_password PASSWORD pwd smtp_password RABBITMQ_DEFAULT_PASS ldap_bind_password"
)
PASSWORD_KINDS = ("common", "word_digits", "leet", "digits", "passphrase", "random")
KEY_KINDS = (*KEY_NAMES, "private_key")
IP_KINDS = ("ipv4", "ipv6", "ipv6_trailing")

COMMENT = {
    "py": "# ",
    "sh": "# ",
    "yaml": "# ",
    "toml": "# ",
    "ini": "; ",
    "c": "// ",
    "js": "// ",
    "go": "// ",
    "java": "// ",
    "rs": "// ",
    "rb": "# ",
    "md": "",
    "properties": "# ",
    "env": "# ",
}
CODE_LANGS = ("py", "c", "js", "sh", "go", "java", "rs", "rb")
# each form's host languages (md: inside a fenced block of a real Markdown file)
FORMATS: dict[str, tuple[str, ...]] = {
    "env": ("sh", "env"),
    "ini": ("ini",),
    "properties": ("properties",),
    "yaml": ("yaml",),
    "toml": ("toml",),
    "json": ("json",),
    "comment": ("py", "c", "js", "sh", "yaml", "go", "java", "rs", "rb"),
    "string": CODE_LANGS,
    "prose": ("py", "c", "js", "sh", "md", "go", "java"),
    "shell": ("sh", "py", "md"),
    "jdbc": ("properties", "java", "py"),
    "odbc": ("py", "c", "js", "java"),
    "compose": ("yaml",),
    "url": ("py", "js", "env", "yaml", "go"),
    # names
    "author": ("py", "c", "js", "sh", "go", "java", "rs", "rb"),
    "dunder_author": ("py",),
    "copyright": ("py", "c", "js", "sh", "go", "java", "rs", "md"),
    "javadoc": ("java", "c", "js"),
    "signed_off": ("md", "py", "c"),
    "co_authored": ("md", "py"),
    "changelog": ("md",),
    "name_email": ("py", "c", "md", "js"),
    "maintainer": ("toml", "json", "yaml", "sh"),
}
TYPE_FORMATS = {
    "KEY": (
        "env",
        "ini",
        "properties",
        "yaml",
        "toml",
        "json",
        "comment",
        "string",
        "prose",
        "shell",
        "compose",
    ),
    "PASSWORD": (
        "env",
        "ini",
        "properties",
        "yaml",
        "toml",
        "json",
        "comment",
        "string",
        "prose",
        "shell",
        "jdbc",
        "odbc",
        "compose",
        "url",
    ),
    "EMAIL": ("prose", "string", "yaml", "json", "toml", "ini", "comment", "name_email"),
    "IP_ADDRESS": ("env", "ini", "yaml", "json", "string", "comment", "prose", "shell", "url"),
    "NAME": (
        "author",
        "dunder_author",
        "copyright",
        "javadoc",
        "signed_off",
        "co_authored",
        "changelog",
        "name_email",
        "maintainer",
        "prose",
    ),
}
ENV_UNSAFE = set("#$!&*?;'\"` ()<>|\\")
YAML_UNSAFE_FIRST = set("!&*@%`'\"{[|>#?-,:")


def shell_quote(value: str) -> tuple[str, str]:
    """(before, after): single quotes when the shell would read the value otherwise."""
    return ("'", "'") if ENV_UNSAFE & set(value) else ("", "")


def yaml_quote(value: str) -> tuple[str, str]:
    if value[0] in YAML_UNSAFE_FIRST or ": " in value or " #" in value:
        return ("'", "'")
    return ("", "")


def string_line(lang: str, name: str, quote: str = '"') -> tuple[str, str]:
    """(text before the value, text after) of a string constant ``name`` in ``lang``."""
    if lang == "py":
        return f"{name} = {quote}", quote
    if lang == "js":
        return f"const {name} = {quote}", f"{quote};"
    if lang == "c":
        return f'static const char *{name.lower()} = "', '";'
    if lang == "go":
        return f'{name[0].lower() + name[1:]} := "', '"'
    if lang == "java":
        return f'private static final String {name.upper()} = "', '";'
    if lang == "rs":
        return f'const {name.upper()}: &str = "', '";'
    if lang == "rb":
        return f"{name.upper()} = '", "'"
    if lang == "sh":
        return f'{name.upper()}="', '"'
    if lang == "yaml":
        return f'{name.lower()}: "', '"'
    return f"{name} = {quote}", quote


@dataclass
class Context:
    """What one snippet needs: values, the planted type and kind, the form and the host language."""

    values: Values
    type: str
    kind: str
    fmt: str
    lang: str

    @property
    def rng(self) -> random.Random:
        return self.values.rng

    def comment(self) -> str:
        return COMMENT.get(self.lang, "# ")

    def value(self) -> str:
        v = self.values
        if self.type == "KEY":
            return v.key(self.kind)
        if self.type == "PASSWORD":
            return v.password(self.kind)
        if self.type == "EMAIL":
            return v.email()
        if self.type == "NAME":
            return v.name()
        family, _, _ = self.kind.partition(":")
        return v.ipv4() if family == "ipv4" else v.ipv6(trailing=family == "ipv6_trailing")

    def name(self) -> str:
        rng = self.rng
        if self.type == "KEY":
            return rng.choice(KEY_NAMES.get(self.kind, ["PRIVATE_KEY"]))
        if self.type == "PASSWORD":
            return rng.choice(PASSWORD_NAMES)
        if self.type == "EMAIL":
            return rng.choice(["EMAIL", "contact_email", "ADMIN_EMAIL", "maintainer_email", "from_addr"])
        return rng.choice(["SERVER_IP", "host", "DB_HOST", "upstream", "bind_address", "API_HOST"])


def put_ip(ctx: Context, b: Builder, forms: tuple[str, ...] = ("plain", "port", "cidr")) -> None:
    """The address in one of its textual forms: plain, with a port (``[v6]:port``), CIDR."""
    rng = ctx.rng
    family = ctx.kind
    value = ctx.value()
    form = rng.choice(forms)
    if family == "ipv6_trailing" and form == "port":
        form = "plain"
    kind = f"{family}:{form}"
    if form == "plain":
        b.value(ctx.type, kind, ctx.fmt, value)
    elif form == "port":
        v6 = ":" in value
        b.add("[" if v6 else "").value(ctx.type, kind, ctx.fmt, value)
        b.add(("]" if v6 else "") + f":{rng.choice((22, 443, 5432, 8080, 9000, 6379))}")
    else:
        prefix = rng.choice((48, 56, 64)) if ":" in value else rng.choice((32, 24))
        if ":" not in value and prefix == 24:
            value = str(ipaddress.ip_network(f"{value}/24", strict=False).network_address)
        b.value(ctx.type, kind, ctx.fmt, value).add(f"/{prefix}")


def put(ctx: Context, b: Builder, quote: str = "") -> None:
    """The planted value (IP addresses in a random form), ``quote`` saying how it is quoted around."""
    if ctx.type == "IP_ADDRESS":
        put_ip(ctx, b)
    else:
        b.value(ctx.type, ctx.kind, ctx.fmt, ctx.value())


def assignment(ctx: Context, b: Builder, style: str) -> None:
    """``name<sep>value`` in an unquoted config style (env, ini, properties, yaml, compose)."""
    name = ctx.name()
    if style == "properties":
        name = name.lower().replace("_", ".")
    elif style in ("ini", "yaml"):
        name = name.lower()
    value = ctx.value() if ctx.type != "IP_ADDRESS" else None
    sep = {"env": "=", "ini": " = ", "properties": "=", "yaml": ": "}[style]
    b.add(name + sep)
    if value is None:
        put_ip(ctx, b)
        return
    if style == "env":
        before, after = shell_quote(value)
    elif style == "yaml":
        before, after = yaml_quote(value)
    else:
        before, after = "", ""
    b.add(before).value(ctx.type, ctx.kind, ctx.fmt, value).add(after)


def make_snippet(ctx: Context) -> Builder:
    """One form of ``ctx.fmt`` holding a value of ``ctx.type``, as lines (no trailing newline)."""
    rng, fmt, lang = ctx.rng, ctx.fmt, ctx.lang
    b = Builder()
    c = ctx.comment()
    if ctx.type == "KEY" and ctx.kind == "private_key":
        return private_key_snippet(ctx)
    if ctx.type == "NAME" or (ctx.type == "EMAIL" and fmt == "name_email"):
        return name_snippet(ctx)
    if fmt in ("env", "ini", "properties", "yaml"):
        if fmt == "ini":
            b.add(f"[{rng.choice(('database', 'default', 'server', 'credentials', 'smtp'))}]\n")
        if fmt == "env" and rng.random() < 0.3:
            b.add("export ")
        assignment(ctx, b, fmt)
    elif fmt == "toml":
        b.add(f'{ctx.name().lower()} = "')
        put(ctx, b)
        b.add('"')
    elif fmt == "json":
        b.add(f'  "{ctx.name()}": "')
        put(ctx, b)
        b.add('",')
    elif fmt == "comment":  # a config line left in a comment
        b.add(c + rng.choice(("", "export ", "TODO remove: ")))
        assignment(ctx, b, rng.choice(("env", "ini")))
    elif fmt == "string":
        if ctx.type == "PASSWORD" and lang == "py" and rng.random() < 0.5:
            b.add(f'conn = connect(host={rng.choice(HOSTS)!r}, user={rng.choice(USERS)!r}, password="')
            put(ctx, b)
            b.add('")')
        else:
            before, after = string_line(lang, ctx.name())
            b.add(before)
            put(ctx, b)
            b.add(after)
    elif fmt == "prose":
        prose_snippet(ctx, b)
    elif fmt == "shell":
        shell_snippet(ctx, b)
    elif fmt == "compose":
        service = rng.choice(("db", "app", "api", "worker"))
        image = rng.choice(("postgres:16", "mysql:8", "redis:7", "myorg/api:latest"))
        b.add(f"  {service}:\n    image: {image}\n")
        b.add("    environment:\n")
        if rng.random() < 0.5:
            b.add(f"      - {ctx.name().upper()}=")
            value = ctx.value()
            b.value(ctx.type, ctx.kind, fmt, value)
        else:
            b.add(f"      {ctx.name().upper()}: ")
            value = ctx.value()
            before, after = yaml_quote(value)
            b.add(before).value(ctx.type, ctx.kind, fmt, value).add(after)
    elif fmt == "jdbc":
        jdbc_snippet(ctx, b)
    elif fmt == "odbc":
        value = ctx.value()
        host, user = rng.choice(HOSTS), rng.choice(USERS)
        before, after = string_line(lang, "connectionString")
        b.add(before)
        if rng.random() < 0.5:
            b.add("Driver={ODBC Driver 18 for SQL Server};")
            b.add(f"Server=tcp:{host},1433;Database=sales;Uid={user};Pwd=")
        else:
            b.add(f"Server={host};Database=sales;User Id={user};Password=")
        b.value(ctx.type, ctx.kind, fmt, value).add(";Encrypt=yes;" + after)
    elif fmt == "url":
        url_snippet(ctx, b)
    else:
        raise ValueError(f"unknown form {fmt!r}")
    return wrap_comment_lines(ctx, b) if fmt in ("prose",) and lang != "md" else b


def wrap_comment_lines(ctx: Context, b: Builder) -> Builder:
    """Prefix the prose with the host language's comment marker."""
    out = Builder()
    out.add(ctx.comment())
    shift = out.size
    out.parts.extend(b.parts)
    out.size += b.size
    out.plants = [Plant(p.type, p.kind, p.fmt, p.value, p.start + shift, p.end + shift) for p in b.plants]
    return out


def prose_snippet(ctx: Context, b: Builder) -> None:
    rng = ctx.rng
    user = rng.choice(USERS)
    cues = {
        "PASSWORD": [
            "the initial console password is {v}",
            "connect as {u} / {v}",
            "login: {u} password: {v}",
            "default credentials are {u}:{v}",
            "use {u} with password {v} for the admin panel",
            "the wifi password is {v}",
            "pass for the {u} account is {v}",
        ],
        "KEY": [
            "the staging API key is {v}",
            "use token {v} for the CI bot",
            "temporary key {v} (rotate after the release)",
            "bearer token: {v}",
        ],
        "EMAIL": ["contact {v} for access", "questions go to {v}", "reported by {v}", "send the logs to {v}"],
        "IP_ADDRESS": [
            "the old server was at {v}",
            "whitelist {v} on the firewall",
            "prod box: {v}",
            "traffic from {v} is the load balancer",
        ],
    }[ctx.type]
    before, _, after = rng.choice(cues).replace("{u}", user).partition("{v}")
    b.add(before)
    put(ctx, b)
    b.add(after)


def shell_snippet(ctx: Context, b: Builder) -> None:
    rng, lang = ctx.rng, ctx.lang
    host, user = rng.choice(HOSTS), rng.choice(USERS)
    prefix = {"py": "# $ ", "md": "", "sh": ""}.get(lang, "# ")
    b.add(prefix)
    if ctx.type == "PASSWORD":
        value = ctx.value()
        before, after = shell_quote(value)
        form = rng.choice(("mysql", "mysql_long", "pgpassword", "curl", "sshpass", "redis"))
        if form == "mysql":
            b.add(f"mysql -h {host} -u {user} -p{before}").value("PASSWORD", ctx.kind, "shell:mysql", value)
            b.add(f"{after} sales < dump.sql")
        elif form == "mysql_long":
            b.add(f"mysqldump --user={user} --password={before}").value(
                "PASSWORD", ctx.kind, "shell:mysql", value
            )
            b.add(f"{after} --host={host} sales > backup.sql")
        elif form == "pgpassword":
            b.add(f"PGPASSWORD={before}").value("PASSWORD", ctx.kind, "shell:pgpassword", value)
            b.add(f"{after} psql -h {host} -U {user} -d sales")
        elif form == "curl":
            b.add(f"curl -u {user}:{before}").value("PASSWORD", ctx.kind, "shell:curl", value)
            b.add(f"{after} https://{host}/api/v1/export")
        elif form == "sshpass":
            b.add("sshpass -p '").value("PASSWORD", ctx.kind, "shell:sshpass", value)
            b.add(f"' ssh {user}@{host}")
        else:
            b.add(f"redis-cli -h {host} -a {before}").value("PASSWORD", ctx.kind, "shell:redis", value)
            b.add(f"{after} ping")
    elif ctx.type == "KEY":
        value = ctx.value()
        if rng.random() < 0.5:
            b.add('curl -H "Authorization: Bearer ').value("KEY", ctx.kind, "shell", value)
            b.add('" https://api.github.com/user/repos')
        else:
            b.add(f"export {rng.choice(KEY_NAMES.get(ctx.kind, ['API_KEY']))}=").value(
                "KEY", ctx.kind, "shell", value
            )
    else:  # IP_ADDRESS
        form = rng.choice(("ssh", "ping", "scp"))
        value = ctx.value()
        kind = f"{ctx.kind}:{form}"
        v6 = ":" in value
        if form == "ssh":
            b.add(f"ssh {user}@" + ("[" if v6 else "")).value("IP_ADDRESS", kind, "shell", value).add(
                "]" if v6 else ""
            )
        elif form == "ping":
            b.add("ping -c 3 " if not v6 else "ping6 -c 3 ").value("IP_ADDRESS", kind, "shell", value)
        else:
            b.add(f"scp build.tar.gz {user}@" + ("[" if v6 else "")).value("IP_ADDRESS", kind, "shell", value)
            b.add(("]" if v6 else "") + ":/srv/app/")


def jdbc_snippet(ctx: Context, b: Builder) -> None:
    rng, lang = ctx.rng, ctx.lang
    host, user = rng.choice(HOSTS), rng.choice(USERS)
    value = ctx.value()
    if lang == "properties":
        b.add("spring.datasource.url=")
        after = ""
    else:
        before, after = string_line(lang, "jdbcUrl")
        b.add(before)
    form = rng.choice(("mysql", "postgresql", "sqlserver", "oracle"))
    if form in ("mysql", "postgresql"):
        encoded = urllib.parse.quote(value, safe="")
        b.add(f"jdbc:{form}://{host}:{3306 if form == 'mysql' else 5432}/sales?user={user}&password=")
        b.value("PASSWORD", ctx.kind, "jdbc", encoded).add("&useSSL=true")
    elif form == "sqlserver":
        b.add(f"jdbc:sqlserver://{host}:1433;databaseName=sales;user={user};password=")
        b.value("PASSWORD", ctx.kind, "jdbc", value).add(";encrypt=true")
    else:
        encoded = urllib.parse.quote(value, safe="")
        b.add(f"jdbc:oracle:thin:{user}/").value("PASSWORD", ctx.kind, "jdbc", encoded).add(
            f"@{host}:1521:ORCL"
        )
    b.add(after)


def url_snippet(ctx: Context, b: Builder) -> None:
    rng, lang = ctx.rng, ctx.lang
    if lang == "env":
        b.add(rng.choice(("DATABASE_URL=", "REDIS_URL=", "BROKER_URL=")))
        after = ""
    elif lang == "yaml":
        b.add("url: ")
        after = ""
    else:
        before, after = string_line(lang, rng.choice(("DATABASE_URL", "dsn", "brokerUrl")))
        b.add(before)
    if ctx.type == "IP_ADDRESS":
        value = ctx.value()
        v6 = ":" in value
        b.add(rng.choice(("http", "https")) + "://" + ("[" if v6 else ""))
        b.value("IP_ADDRESS", f"{ctx.kind}:url", "url", value)
        b.add(("]" if v6 else "") + f":{rng.choice((80, 8080, 8443))}/health")
    else:
        value = urllib.parse.quote(ctx.value(), safe="")
        scheme, port = rng.choice(
            (
                ("postgresql", 5432),
                ("mysql", 3306),
                ("mongodb", 27017),
                ("redis", 6379),
                ("amqp", 5672),
                ("https", 443),
                ("ftp", 21),
            )
        )
        b.add(f"{scheme}://{rng.choice(USERS)}:").value(ctx.type, ctx.kind, "url", value)
        b.add(f"@{rng.choice(HOSTS)}:{port}/sales")
    b.add(after)


def private_key_snippet(ctx: Context) -> Builder:
    """A PEM block: raw lines (a key file pasted into code or docs), a YAML block scalar, an env value
    with \\n escapes, or a string constant with \\n escapes."""
    rng, lang = ctx.rng, ctx.lang
    lines = ctx.values.pem()
    b = Builder()
    fmt = ctx.fmt
    if fmt in ("yaml", "compose"):
        b.add("private_key: |\n  ").value("KEY", "private_key", fmt, "\n  ".join(lines))
    elif fmt in ("env", "properties", "ini", "toml", "json", "string", "comment"):
        if fmt == "comment":
            b.add(ctx.comment())
        b.add('PRIVATE_KEY="' if fmt != "json" else '  "private_key": "')
        b.value("KEY", "private_key", fmt, "\\n".join(lines)).add('\\n"' + ("," if fmt == "json" else ""))
    elif lang in ("py",):
        b.add('KEY = """').value("KEY", "private_key", fmt, "\n".join(lines)).add('\n"""')
    else:
        b.value("KEY", "private_key", fmt, "\n".join(lines))
    del rng
    return b


def name_snippet(ctx: Context) -> Builder:
    """Person names where code keeps them (NAME planted; mail addresses in them planted as EMAIL)."""
    rng, lang, fmt = ctx.rng, ctx.lang, ctx.fmt
    v = ctx.values
    b = Builder()
    c = ctx.comment()
    year = rng.randint(1998, 2025)

    def name() -> None:
        b.value("NAME", "person", fmt, v.name())

    def mail() -> None:
        b.value("EMAIL", "name_email", fmt, v.email())

    if fmt == "author":
        b.add(c + rng.choice(("Author: ", "Authors: ", "Written by ", "Maintainer: ", "@author: ")))
        name()
        if rng.random() < 0.4:
            b.add(" <")
            mail()
            b.add(">")
    elif fmt == "dunder_author":
        b.add(rng.choice(('__author__ = "', '__maintainer__ = "', '__credits__ = ["')))
        name()
        b.add('"' if not b.parts[0].startswith("__credits") else '"]')
    elif fmt == "copyright":
        b.add(c + rng.choice(("Copyright (c) ", "Copyright ", "(C) ", "Copyright © ")) + f"{year} ")
        if rng.random() < 0.3:
            b.add(f"- {year + 1} ")
        name()
        if rng.random() < 0.3:
            b.add(" <")
            mail()
            b.add(">")
        elif rng.random() < 0.3:
            b.add(rng.choice((". All rights reserved.", " and contributors")))
    elif fmt == "javadoc":
        b.add("/**\n * Reads the settings.\n *\n * @author ")
        name()
        b.add("\n */")
    elif fmt in ("signed_off", "co_authored"):
        prefix = "" if lang == "md" else c
        b.add(prefix + ("Signed-off-by: " if fmt == "signed_off" else "Co-authored-by: "))
        name()
        b.add(" <")
        mail()
        b.add(">")
    elif fmt == "changelog":
        if rng.random() < 0.5:
            b.add(f"* Fri Mar 01 {year} ")
            name()
            b.add(" <")
            mail()
            b.add(f"> - 1.{rng.randint(0, 9)}-1\n- rebuilt for the new toolchain")
        else:
            b.add("  * Fix the build on arm64.\n\n -- ")
            name()
            b.add(" <")
            mail()
            b.add(f">  Mon, 04 Mar {year} 10:12:00 +0100")
    elif fmt == "name_email":
        b.add(c + rng.choice(("", "  ", "Contact: ", "Reviewed by ")))
        name()
        b.add(" <")
        mail()
        b.add(">")
    elif fmt == "maintainer":
        if lang == "toml":
            b.add('authors = [{ name = "')
            name()
            b.add('", email = "')
            mail()
            b.add('" }]')
        elif lang == "json":
            b.add('  "author": "')
            name()
            b.add('",')
        elif lang == "yaml":
            b.add("maintainer: ")
            name()
        else:
            b.add("# Maintainer: ")
            name()
    else:  # prose
        before, _, after = rng.choice(
            (
                "thanks to {n} for the patch",
                "ported from the C version by {n}",
                "originally written by {n}",
                "ask {n} before changing this",
                "{n} found this bug in 2019",
                "per discussion with {n}, keep it",
                "workaround suggested by {n}",
            )
        ).partition("{n}")
        b.add(c + before)
        name()
        b.add(after)
    return b


def host_lang(ext: str) -> str:
    """The language of a host file by extension."""
    return {"h": "c", "cpp": "c", "cc": "c", "yml": "yaml", "cfg": "ini", "txt": "md"}.get(ext, ext)


def fence(lang: str) -> str:
    return {"sh": "bash", "env": "bash", "py": "python", "js": "javascript", "properties": "properties"}.get(
        lang, lang
    )


def plant(
    text: str, snippet: Builder, lang: str, rng: random.Random, in_markdown: bool
) -> tuple[str, list[Plant]]:
    """``text`` with ``snippet`` inserted as whole lines at a random line boundary (indented like the
    next line; inside a fenced block when the host is Markdown for another language); the plants' offsets
    in the new text."""
    lines = text.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    at = rng.randint(0, len(lines))
    head = "".join(lines[:at])
    indent = ""
    if at < len(lines) and not in_markdown and lang in CODE_LANGS:
        following = lines[at]
        indent = following[: len(following) - len(following.lstrip(" \t"))]
    body = "".join(snippet.parts)
    if in_markdown:
        opening, closing = f"\n```{fence(lang)}\n", "\n```\n\n"
    else:
        opening, closing = indent, "\n"
    if indent:  # every line of the snippet at the host's indentation
        body = body.replace("\n", "\n" + indent)
    new_text = head + opening + body + closing + "".join(lines[at:])
    base = len(head) + len(opening)
    plants = []
    for p in snippet.plants:
        start = base + offset_after_indent(snippet, p.start, indent)
        end = start + (len(p.value) if not indent else len(p.value.replace("\n", "\n" + indent)))
        plants.append(Plant(p.type, p.kind, p.fmt, new_text[start:end], start, end))
    return new_text, plants


def offset_after_indent(snippet: Builder, offset: int, indent: str) -> int:
    """Where ``offset`` of the snippet lands once each of its newlines is followed by ``indent``."""
    before = "".join(snippet.parts)[:offset]
    return offset + before.count("\n") * len(indent)
