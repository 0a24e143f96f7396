"""The forms of the planted PII of benchmarks/pii.py (never imports ``stackcurate.pii`` nor reads
``rules/pii.yaml``): the key and password names people use, each form's host languages, quoting as each
format needs it (shell, YAML, URL encoding), config assignments, prose cues, shell commands, JDBC strings
and URLs. The textual forms of an address: plain, compressed, trailing ``::``, bracketed with a port, with a
port, CIDR."""

from __future__ import annotations

import ipaddress
import random
import urllib.parse
from dataclasses import dataclass

from pii_values import HOSTS, USERS, Builder, Values, words

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
