"""The value tests of the PII recognisers (``checks:`` in rules/pii.yaml).

Each check takes ``(text, match)`` and answers False (the match is no PII), True (it stands), an entity type
(``secret_name_value``: ``KEY`` or ``PASSWORD``, decided by the key's name) or ``(start, end)`` (the span,
narrowed: ``email_shape`` drops a ``KEY=`` glued to an address).

    email_shape        an address (RFC 5321/6531), not a URL's user (``https://git@host``), not an scp-style
                       remote (``git@github.com:org/repo``), not code (``x@self.weight``), not at a
                       placeholder domain (``example.com``: ``placeholder_email_domains``)
    ip_public          a globally routable address (``ipaddress``), not one of ``popular_dns``; one that
                       also reads as a version or a slice needs an address context (``address_words``)
                       (switch off with ``keep_public_ips_only=False``)
    secret_name_value  the key names a secret (stackcurate.pii.secrets) and the value fits it
    credential_value   shaped like a key or token (alphabet, length, entropy), not a placeholder
    not_placeholder    not a placeholder (``changeme``, ``${PASSWORD}``, ``$DB_PASS``, ``<token>``, ``xxxx``);
                       never decided by the value being short or common (``admin``, ``1234``)
    not_field_name     not the name of a field or setting (``user_password``, ``self.password``)
    not_metavar        not a help text's metavariable (``--password PASS``, ``-p PASSWORD``)
    not_example        holds no example word (``self_describing_words``), URL-decoded
    not_a_word         not a plain word (prose: "the private key is expected")
    prose_password     a value after "password is" that is not a word of ``prose_stopwords``
    real_host          the URL's host (group ``host``) is no placeholder host (``localhost``, ``host``)
    pem_body           a PEM block's body is base64, not a template (``<key bytes>``) or code
    not_path           not a file path (``./data/test.csv``, ``/var/run/secrets/...``)
    not_password_hash_call
                       not a call of a password hash or key derivation (``scrypt('password', 'salt')``:
                       ``password_hash_calls``), whose first argument is the password itself
    not_keyword_argument
                       not a call's keyword argument set from a variable (``f(user=u, password=pw)``)
    not_hex_bytes      not a line of hex bytes (a MAC address, ``01:00:5e:00:00:01``) read as a .pgpass entry
"""

from __future__ import annotations

import ipaddress
import itertools
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from stackcurate.pii.secrets import CODE, DOTTED_CODE, UUID, is_words, name_words

if TYPE_CHECKING:
    from stackcurate.pii.rules_model import PiiRules

IDENTIFIER = re.compile(r"[A-Za-z_][\w]*(?:\.[A-Za-z_][\w]*)*(?:\(\))?")
FILE_SUFFIX = re.compile(r"\.[A-Za-z][A-Za-z0-9]{0,4}$")
#: a reference to the environment or a template, not a value: $DB_PASSWORD, $(cat secret), ${X}, {{ x }}
REFERENCE = re.compile(r"\$(?:[A-Za-z_]\w*|\(.*\)|\{.*\})|\{\{.*\}\}|%\(?\w+\)?[sd]?%?|@\w+@")
MASK = re.compile(r"(?i)x{4,}|\*{3,}|•{3,}|_{4,}|\.{3,}|#{4,}|0{8,}")
METAVAR = re.compile(r"[A-Z][A-Z_\-]*|<[^<>]*>|\{[^{}]*\}|\[[^\[\]]*\]")
FORMAT = re.compile(r"%[-+ #0]*\d*[sdrf]\b|\{\d*\}|\{[A-Za-z_]{2,}(?:\.\w+)*\}")
#: an identifier, an attribute path or a hyphenated name: `ErrorReason`, `s3.secret-access-key`
NAME_LIKE_CODE = re.compile(r"[A-Za-z_][\w.\-]*")
HEX_ONLY = re.compile(r"[0-9a-fA-F]+")
#: a version or a version range (`1.2.1`, `^4.17.21`, `~2.0`, `>=1.0.0-rc.1`): a manifest's dependency entry
#: under a package named like a secret (`"pbkdf2-password": "1.2.1"`), never a password
VERSION = re.compile(r"(?:[~^v]|[<>]=?|=)?\d+(?:\.\d+){1,3}(?:[-+][\w.]+)?")
#: the function a call's match stands after (the pattern's first character is the name's last)
CALLEE = re.compile(r"[A-Za-z_$][\w$]*$")
BASE64 = re.compile(r"[A-Za-z0-9+/=_\-]+")
#: the targets before the secret's name in a tuple assignment (`user, password = ...`), the name's first
#: character included
TUPLE_TARGETS = re.compile(r"(?:[A-Za-z_][\w.]*[ \t]*,[ \t]*)+\w")
#: hex bytes joined by colons: a MAC address, a fingerprint, a dump
HEX_BYTES = re.compile(r"[0-9A-Fa-f]{2}(?::[0-9A-Fa-f]{2}){3,}")
#: a short run of one letter: a placeholder domain label (`ddd`, `zzz`; a longer run, `aaaa...a`, is a
#: length limit put to the test, an address a validator must take)
REPEATED_LETTER = re.compile(r"([a-z])\1{2,3}")
#: an address and a slash right before a value: the value is a mask (`ADDR/::ffff:ffff:ffff:ffff`)
MASKED_ADDRESS = re.compile(r"([0-9a-f:.]*[0-9a-f:])/$")
#: colon-joined hex groups (or `::`) right before an IPv4 value: an IPv6 form the IPv6 pattern did not
#: take as a whole, so no address
V6_GROUPS_BEFORE = re.compile(r"(?:(?:[0-9a-f]{1,4}:){2,}|::)$")
#: the headers whose `<...@...>` values are message ids, not mailboxes (RFC 5322 3.6.4), and a folded
#: line that goes on with more of them
MESSAGE_ID_HEADER = re.compile(
    r"(?i)\b(?:references|message-id|in-reply-to|content-id|resent-message-id)[\"'\]]*[ \t]*[:=]"
)
MESSAGE_IDS_LINE = re.compile(r"[ \t]+(?:<[^<>\s]+>[ \t]*)+")
#: what may stand before a key whose value is unquoted: nothing (a config line), a comment marker, a
#: list item, `export`; or the end of a string, a query or a statement (`"X_TOKEN=...`, `?pw=...`)
STATEMENT_STARTS = frozenset(
    {
        "#",
        "//",
        "--",
        "-",
        "*",
        ";",
        "export",
        "set",
        "setenv",
        "ENV",
        "ARG",
        "$",
        ">",
        "!",
        "--set",
        "-e",
        "--env",
    }
    | {"--build-arg", "-D", "-o", "--opt", "--conf", "-c"}
)
STATEMENT_ENDS = ('"', "'", "`", "&", "?", ";", "\\n", "{", ",", "(", "[", "/:")
KEY_PREFIX = re.compile(r"[A-Za-z_][\w.\-]*=")
#: a name of letters joined by _ . - or CamelCase, no digit (``user_password``, ``PasswordInput``)
NAME_LIKE = re.compile(r"[A-Za-z][A-Za-z_.\-]*")


def plain_word(value: str) -> bool:
    """A word as prose writes it: letters only, lower case or capitalised (``expected``, ``Treat``)."""
    return value.isalpha() and (value.islower() or value.istitle())


#: what introduces an example right before an address: `Example: x@y.com`, `e.g. "x@y.com"`
EXAMPLE_BEFORE = re.compile(
    r"""(?i)(?:\be\.g\.|\bexample|\bfor instance|\bsuch as)[ \t]*[:,]?[ \t]*["'`(<\[]*$"""
)
#: what follows a version bound, never an address: `1.19.0.0 or above`, `2.5.0.1 and later`, `4.0.0.0+`
VERSION_AFTER = re.compile(r"\+|,? (?:or|and) (?:above|later|newer|higher|up|greater)\b", re.IGNORECASE)


def _is_address(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def ascending(value: str) -> float:
    """The share of neighbouring characters that follow each other (``0123456789abcdef``: 14 of 15)."""
    pairs = list(itertools.pairwise(value))
    return sum(1 for a, b in pairs if ord(b) - ord(a) == 1) / len(pairs)


class Validators:
    """The checks, bound to the parsed rules."""

    def __init__(self, rules: PiiRules, keep_public_ips_only: bool = True):
        self.rules = rules
        self.keep_public_ips_only = keep_public_ips_only

    # --- EMAIL ---------------------------------------------------------------------------------------------
    def email_shape(self, text: str, match: re.Match[str]) -> bool | tuple[int, int]:
        value = match.group("value")
        start, end = match.start("value"), match.end("value")
        local, domain = value.rsplit("@", 1)
        if not local.startswith('"'):
            glued = KEY_PREFIX.match(local)
            if glued:  # `CONTACT_EMAIL=a@b.org`: the address starts after the `=`
                local, start = local[glued.end() :], start + glued.end()
                if not local or local.startswith("."):
                    return False
        if not local.startswith('"') and len(local) < 3 and not re.search(r"[^\W_]", local):
            return False  # `#@pytest.mark.slow`: a commented-out decorator, not a local part
        if text[max(0, start - 3) : start] == "://" or re.search(
            r"://[^\s/@]*$", text[max(0, start - 80) : start]
        ):
            return False  # a URL's user
        if text[end : end + 1] == ":" and re.match(r":[\w~/.\-]", text[end : end + 2]):
            return False  # an scp-style remote: git@github.com:org/repo
        if text[end : end + 1] == "/" or text[start - 1 : start] == "\\":
            return False  # a path (`Z@google.golang.org/genproto`) or an escape's tail (`\001Z@...`)
        if local.startswith("/"):
            return False  # a URL's user after its slashes (`http://foo@bar.com`), not a mailbox
        if FORMAT.fullmatch(local):
            return False  # a template: '<%d@dom.ain>' % i
        line_start = text.rfind("\n", 0, start) + 1
        if self._message_id(text, line_start, start, end):
            return False  # References: <0@dom.ain> <1@dom.ain>: message ids, not mailboxes
        if EXAMPLE_BEFORE.search(text, max(line_start, start - 40), start):
            return False  # "For example: jo@mail.org", "e.g. `a@b.io`": an address given as an example
        words = [w for w in re.split(r"[._+\-]", local.lower().strip('"')) if w]
        if (
            local.lower() in self.rules.email_placeholder_locals
            or set(words) & self.rules.email_placeholder_words
        ):
            return False  # user@..., example.com_x@..., real.email@...: an example address
        if words and all(len(w) >= 3 and w.isalpha() and ascending(w) == 1 for w in words):
            return False  # abc.def@..., xyz@...: letters counted off the alphabet, an example
        if any(REPEATED_LETTER.fullmatch(label) for label in domain.lower().split(".")[:-1]):
            return False  # bbb@ddd.com, request@zzz.org: a domain of one letter repeated stands for one
        if local.lower().strip('"') in self.rules.email_role_locals:
            return False  # a no-reply address names no one
        labels = domain.lower().split(".")
        if labels[0] in self.rules.email_code_domains:
            return False
        if len(labels) == 2 and labels[1] in self.rules.file_extensions:
            return False  # a file name: file@1.txt
        if len(labels) >= 2 and labels[-2] in self.rules.email_placeholder_labels:
            return False  # realm@host.com, some_account@somewhere.net: a template domain
        if any(".".join(labels[i:]) in self.rules.placeholder_email_domains for i in range(len(labels))):
            return False
        if domain.endswith("E") and text[end : end + 4] == "<gt>" and len(labels[-1]) > 2:
            end -= 1  # Perl's POD: E<lt>a@b.orgE<gt>, the E opens the escape of the closing bracket
        return (start, end)

    @staticmethod
    def _message_id(text: str, line_start: int, start: int, end: int) -> bool:
        """Whether the address at ``start:end`` is an id in angle brackets under a message-id header, on
        its line or on the line a folded one goes on from."""
        if text[start - 1 : start] != "<" or text[end : end + 1] != ">":
            return False
        if MESSAGE_ID_HEADER.search(text, line_start, start):
            return True
        line_end = text.find("\n", end)
        if not MESSAGE_IDS_LINE.fullmatch(text, line_start, len(text) if line_end < 0 else line_end):
            return False
        previous = text.rfind("\n", 0, max(0, line_start - 1)) + 1
        return MESSAGE_ID_HEADER.search(text, previous, line_start) is not None

    # --- IP_ADDRESS ----------------------------------------------------------------------------------------
    def ip_public(self, text: str, match: re.Match[str]) -> bool:
        value = match.group("value")
        try:
            address = ipaddress.ip_address(value)
        except ValueError:
            return False
        if not self.keep_public_ips_only:
            return not address.is_unspecified
        start, end = match.start("value"), match.end(0)
        before = text[start - 2 : start] if start >= 2 else ""
        if (
            before[-1:] == "["
            and (before[:1].isalnum() or before[:1] in "_)]")
            and text[end : end + 1] == "]"
        ):
            return False  # an index or a slice: x[1::8]
        if value in self.rules.popular_dns or str(address) in self.rules.popular_dns:
            return False
        if not address.is_global or address.is_multicast:
            return False
        line_start = text.rfind("\n", 0, start) + 1
        left = text[max(line_start, start - 40) : start].lower()
        left_words = re.findall(r"[a-z0-9]+", left)[-4:]
        slash = MASKED_ADDRESS.search(left)
        if slash and _is_address(slash.group(1)):
            return False  # a mask after an address and its slash: 2001:db8::/::ffff:ffff:ffff:ffff
        if address.version == 4 and V6_GROUPS_BEFORE.search(left):
            return False  # the tail of a longer colon-joined token that is no address: 7:6:5:4:3:42.42.42.42
        token = re.split(r"[\s\"'`<>()\[\]]", text[max(line_start, start - 300) : start])[-1]
        if "://" in token and "#" in token.split("://", 1)[1]:
            return False  # in a URL's fragment: .../forms.html#h-17.13.4.1, a section's anchor
        if any(word in self.rules.version_words for word in left_words[-3:]):
            return False
        if left.rstrip(" (").endswith(("§", "¶")):
            return False  # a section of a specification: §13.2.5.36
        if self._link_label(text, start, end, value):
            return False  # a Markdown link's label: [11.6.2.2 Future Reserved Words](https://.../#sec-...)
        if address.version == 4:
            # four numbers below 10 read as a version (1.2.3.4), 0-2 then two below 10 as an X.500
            # object identifier (2.5.4.43)
            numbers = [int(part) for part in value.split(".")]
            if numbers[0] >= 10 and all(b - a == 1 for a, b in itertools.pairwise(numbers)):
                return False  # 123.124.125.126: an example counting up
            if (
                max(numbers) < 100
                and text[line_start:start].strip() in ("//", "#", "*", "/*", ";", "--")
                and re.match(r" [A-Za-z]", text[end : end + 2])
            ):
                return False  # a numbered heading opening a comment: `// 21.1.3.3 String.prototype.at`
            # two numbers below 10 first read as a section or a version (4.4.3.17, 2.7.96.68), 0-2 then two
            # below 10 as an X.500 object identifier (2.5.4.43)
            ambiguous = (numbers[0] < 10 and numbers[1] < 10) or (
                numbers[0] <= 2 and numbers[1] < 10 and numbers[2] < 10
            )
        else:
            groups = [g for g in value.split(":") if g]
            # few groups (`1::8`: a slice; `2002::`, `64:ff9b::`: a protocol's range), or decimal digits only
            # (`38:2::255:0:0`: an SGR code, a sense key)
            ambiguous = len(groups) < 3 or all(g.isdigit() for g in re.split(r"[:.]", value) if g)
            if value.endswith("::") and text[end : end + 1] == "/":
                return False  # a network prefix (64:ff9b::/96), not a host
            if all(len(g) == 1 and g.isalpha() for g in groups):
                return False  # a template: 'a::b%zone'
        after = text[end : end + 18]
        prefix = re.match(r"/(\d{1,3}(?:\.\d{1,3}){3}|\d{1,3})\b", after)
        if prefix:
            try:  # a network (3.218.180.0/23, 1.0.0.0/8, 1.2.3.0/255.255.255.0): no host bits set
                if ipaddress.ip_network(f"{value}/{prefix.group(1)}", strict=True).num_addresses > 1:
                    return False
            except ValueError:
                pass
        if re.match(r"-[0-9A-Za-z]", after):
            return False  # a version with a suffix: 3.0.5.130-5a1e7
        if VERSION_AFTER.match(text, end):
            return False  # a version bound: "appliances at 1.19.0.0 or above", "2.5.0.1 and later"
        if not ambiguous:
            return True
        return (
            any(word in self.rules.address_words for word in left_words)
            or left.endswith(("://", "@", "//["))
            or re.match(r"\]?:\d|/\d", after) is not None
        )

    @staticmethod
    def _link_label(text: str, start: int, end: int, value: str) -> bool:
        """Whether ``value`` (at ``start:end``) opens the label of a Markdown link on its line (``[`` right
        before it, ``](`` after it) whose target does not hold it: a section or a version that links to a
        page, not an address (``[1.2.3.4](http://1.2.3.4/)`` still is one)."""
        if text[start - 1 : start] != "[":
            return False
        line_end = text.find("\n", end)
        link = re.match(r"[^\[\]\n]*\]\(([^()\s]*)\)", text[end : len(text) if line_end < 0 else line_end])
        return link is not None and value not in link.group(1)

    # --- KEY and PASSWORD ----------------------------------------------------------------------------------
    def secret_name_value(self, text: str, match: re.Match[str]) -> bool | str:
        kind = self.rules.secret_names.classify(match.group("name"))
        if kind is None:
            return False
        value = match.group("value")
        groups = match.groupdict()
        line_start = text.rfind("\n", 0, match.start(0)) + 1
        tuple_op = groups.get("op") in ("=", ":=")
        if tuple_op and TUPLE_TARGETS.fullmatch(text[line_start : match.start(0) + 1].strip()):
            return False  # `user, password = "wile", "coyote"`: the first value is the user's, not the secret
        quoted = bool(groups.get("q"))
        if not quoted and not self.bare_value(value, text, match):
            return False
        line_start = text.rfind("\n", 0, match.start("name")) + 1
        before = re.findall(
            r"[A-Za-z]+", text[max(line_start, match.start("name") - 30) : match.start("name")]
        )
        if before and before[-1].lower() in self.rules.secret_names.not_secret_qualifiers:
            return False  # "Next page token: ...": a page token, no secret
        if kind in ("token", "key"):
            if kind == "key" and UUID.fullmatch(value):
                return False  # a GUID under a key name is an identifier (WS_KEY, the RFC 6455 GUID)
            return "KEY" if self.key_value(value) else False
        if not self.password_value(value, quoted):
            return False
        if kind == "strong" and (
            plain_word(value) or (NAME_LIKE_CODE.fullmatch(value.lstrip(".")) and is_words(value))
        ):
            # a secret is no word nor a name: `secret = "asdf"`, `credential: ErrorReason`, an event
            # namespace (`DATA_API_KEY = '.data-api'`)
            return False
        return "PASSWORD" if kind == "password" else "KEY"

    def not_keyword_argument(self, text: str, match: re.Match[str]) -> bool:
        """Not a keyword argument set from a variable: in ``login(user=u, password=pw, retry=False)`` the
        value is a name of the calling code (a connection string's value ends at a space, ``&`` or ``;``,
        and does not stand in an argument list)."""
        value = match.group("value")
        if not IDENTIFIER.fullmatch(value):
            return True
        before = text[max(0, match.start(0) - 200) : match.start(0) + 1].rstrip()
        after = text[match.end("value") : match.end("value") + 2].lstrip()
        return not (before.endswith(",") and after[:1] in (",", ")"))

    def not_hex_bytes(self, text: str, match: re.Match[str]) -> bool:
        """Not a line of hex bytes joined by colons: a MAC address (``01:00:5e:00:00:01``) or a dump has the
        shape of a .pgpass entry."""
        return HEX_BYTES.fullmatch(match.group(0).strip()) is None

    def not_password_hash_call(self, text: str, match: re.Match[str]) -> bool:
        """Not a call of a password hash or key derivation (``password_hash_calls``): ``scrypt('password',
        'salt', 64)`` takes the password first and a salt second, so the quoted name is the secret's value
        and what follows it is no secret."""
        callee = CALLEE.search(text, max(0, match.start() - 80), match.start() + 1)
        name = callee.group(0).lower() if callee else ""
        return not any(word in name for word in self.rules.password_hash_calls)

    def bare_value(self, value: str, text: str, match: re.Match[str]) -> bool:
        """An unquoted value is a literal only in a config line (.env, INI, YAML, .properties, a flag);
        in code it is a variable or an expression: a keyword argument or an object entry (`f(password=pw)`,
        `{"token": tok}`), a quoted key (JSON has no bare strings), an expression that goes on
        (`password = pw or default`), a statement (`x = y;`), a call or an attribute path."""
        groups = match.groupdict()
        if ("(" in value or "[" in value) and CODE.fullmatch(value):
            return False  # a call or an index: get_password(), response['Credentials'], dict[str, str]
        if groups.get("op") in ("==", "===", "!=", "!=="):
            return False  # a comparison with a bare word compares two variables
        if "===" in value or "!==" in value:
            return False  # it goes on as a comparison: `credentials=e.crossOrigin==="..."` in a string
        if "." in groups.get("name", "").strip(".") and IDENTIFIER.fullmatch(value) and is_words(value):
            return False  # self._cred = cred: an attribute set from a variable
        if DOTTED_CODE.fullmatch(value) and is_words(value.rsplit(".", 1)[1]):
            return False  # an attribute path: self.password, settings.DB_PASSWORD
        if DOTTED_CODE.fullmatch(value) and any(part.startswith("_") for part in value.split(".")[1:]):
            return False  # a private attribute's path: urllib.parse._splitpasswd
        if value.lower() in self.rules.code_objects or value in ("True", "False", "None", "nil", "null"):
            return False
        if re.fullmatch(r"[A-Z][A-Z0-9_]*", value) and not any(c.isdigit() for c in value):
            return False  # a constant: PWORD = PUSHORT
        if "op" not in groups:
            # a flag: `--password=x`, or `--password x` unless x is a word ("--password requires ...")
            return text[match.end("name") : match.end("name") + 1] == "=" or not plain_word(value)
        line_start = text.rfind("\n", 0, match.start(0)) + 1
        lead = text[line_start : match.start(0)].strip()
        if lead and not (set(lead.split()) <= STATEMENT_STARTS or lead.endswith(STATEMENT_ENDS)):
            return False  # the key stands inside a sentence: "may include credentials: treat"
        if groups.get("op") == ":" and text[match.end("op") : match.end("op") + 1] not in (" ", "\t"):
            # `k:v` with no space inside a URI, an ARN, a scope: `arn:aws:secretsmanager:...`, `[secret:key@]`
            if text[match.start("name") - 1 : match.start("name")] in (":", "[") or re.search(
                r"[:@/]", value
            ):
                return False
            if not self.rules.value_tests.credential(value):
                return False  # "passwd:gecos": a field list, unless the value is shaped like a key
        if groups.get("kq") and groups.get("op") in (":", "=>"):
            return False  # {"token": tok}: JSON would quote a string
        before = text[max(0, match.start(0) - 40) : match.start(0)].rstrip()
        if before.endswith(("(", ",", "{")) and not before.endswith("\\n"):
            return False
        name = groups.get("name") or ""
        if (
            groups.get("op") == "="
            and re.fullmatch(r"\$?[A-Z][A-Z0-9_]*", name)
            and text[match.end("op") - 2 : match.end("op") + 1].count(" ") == 0
        ):
            return True  # a shell's environment: `PGPASSWORD=x psql ...`, `export API_TOKEN=x`
        line_end = text.find("\n", match.end("value"))
        rest = text[match.end(0) : len(text) if line_end < 0 else line_end].strip()
        if rest.endswith(";") and not rest.startswith(("#", "//")):
            return False  # a statement of C, Java, JavaScript: a bare word there is a variable
        return not rest or rest.startswith(
            ("#", "//", ";", "--", "*/", "-->", ",", "\\n", '"', "'", ")", "]", "}", "`")
        )

    def password_value(self, value: str, quoted: bool) -> bool:
        """A password (or a secret): any string but a placeholder, a field name, a path, a URL, a format
        string or (quoted, with spaces) a message."""
        tests = self.rules.value_tests
        if not tests.password_min_length <= len(value) <= tests.password_max_length:
            return False
        if not self.placeholder_free(value) or not self.field_free(value) or FORMAT.search(value):
            return False
        lowered = value.lower()
        if lowered in self.rules.field_words or VERSION.fullmatch(value):
            return False
        # a value that names itself (`mynewpassword`, `...EXAMPLEKEY`) is an example
        if any(word in lowered for word in self.rules.self_describing_words):
            return False
        if (
            "://" in value
            or value.startswith(("/", "./", "../", "~/", "\\\\"))
            or re.match(r"[A-Za-z]:\\", value)
        ):
            return False
        if quoted:
            return not tests.is_message(value)
        return not (CODE.fullmatch(value) and "_" in value and is_words(value))

    def credential_value(self, text: str, match: re.Match[str]) -> bool:
        return self.key_value(match.group("value"))

    def key_value(self, value: str) -> bool:
        """Shaped like a credential, not a placeholder, and no example written into it
        (``AKIAIOSFODNN7EXAMPLE``, ``wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY``)."""
        lowered = value.lower()
        if any(word in lowered for word in self.rules.placeholder_words if len(word) >= 5):
            return False
        return self.rules.value_tests.credential(value) and self.placeholder_free(value)

    def placeholder_free(self, value: str) -> bool:
        value = unquote(value) if "%" in value else value  # a URL's userinfo: `P%40SSWORD` is `P@SSWORD`
        lowered = value.lower()
        rules = self.rules
        if lowered in rules.placeholders or (
            len(set(lowered)) == 1 and (len(lowered) >= 8 or not lowered.isdigit())
        ):
            return False
        if lowered.rstrip("0123456789") in rules.placeholders:
            return False  # pass2, password1, test123: a placeholder numbered
        if 8 <= len(value) <= 32 and HEX_ONLY.fullmatch(value) and ascending(value) >= 0.8:
            return False  # 0123456789abcdef, 0123456789012345: an AES test vector counting up, not a key
        if value.replace(" ", "").isalpha() and any(
            word in lowered for word in ("password", "passwd", "secret")
        ):
            return False  # mynewpassword, "a secret" (a URL's `a%20secret`): a value that names itself
        if (
            REFERENCE.fullmatch(value)
            or MASK.search(value)
            or re.fullmatch(r"<.*>|\[.*\]|\{.*\}|\(.*\)", value)
        ):
            return False
        words = set(name_words(value))
        for word in rules.placeholder_words:
            # a placeholder word counts as a whole word (my_fake_token, yourSampleKey), not inside random
            # characters (...zfAke7...) nor as a prefix of a real password (samples2024)
            if word in words or (not word.isalnum() and word in lowered):
                return False
        return not lowered.startswith(rules.placeholder_prefixes)

    def field_free(self, value: str) -> bool:
        """Not the name of a field or setting: an attribute path on a code object (``self.password``), a
        call, or a name of several words one of which is a field word (``user_password``,
        ``current-password``, ``PasswordInput``)."""
        if value.endswith(("()", ")")) and IDENTIFIER.match(value):
            return False
        if (
            IDENTIFIER.fullmatch(value)
            and "." in value
            and value.split(".", 1)[0].lower() in self.rules.code_objects
        ):
            return False
        words = name_words(value)
        return not (
            len(words) > 1
            and any(word in self.rules.field_words for word in words)
            and NAME_LIKE.fullmatch(value) is not None
        )

    def pem_body(self, text: str, match: re.Match[str]) -> bool:
        """A PEM block's body is base64 (headers such as ``Proc-Type:`` aside), as a file or a string
        literal holds it (``"\\n"`` escapes, quotes and ``+`` of concatenations dropped); not a template
        (``<key bytes>``) nor the code between two marker strings."""
        body = re.sub(r"\\n|\\r|[\s\"'+]", "\n", match.group("value"))
        lines = [line for line in body.split("\n") if line and ":" not in line]
        data = "".join(lines)
        return len(data) >= 16 and BASE64.fullmatch(data) is not None and self.placeholder_free(data)

    def not_placeholder(self, text: str, match: re.Match[str]) -> bool:
        return self.placeholder_free(match.group("value"))

    def not_example(self, text: str, match: re.Match[str]) -> bool:
        lowered = unquote(match.group("value")).lower()
        return not any(word in lowered for word in self.rules.self_describing_words)

    def not_field_name(self, text: str, match: re.Match[str]) -> bool:
        value = match.group("value")
        return self.field_free(value) and value.lower() not in self.rules.field_words

    def not_a_word(self, text: str, match: re.Match[str]) -> bool:
        """Prose is words: a secret there has a digit, a symbol or mixed case (`Tr0ub4dor&3`), never a
        plain word ("the private key is expected", "a secret is made accessible")."""
        return not plain_word(match.group("value").rstrip(".,;:"))

    def not_metavar(self, text: str, match: re.Match[str]) -> bool:
        value = match.group("value")
        return METAVAR.fullmatch(value) is None and not value.startswith("-")

    def prose_password(self, text: str, match: re.Match[str]) -> bool:
        value = match.group("value").strip(".,;:)")
        return len(value) >= 4 and value.lower() not in self.rules.prose_stopwords

    def real_host(self, text: str, match: re.Match[str]) -> bool:
        host = match.group("host").lower().rstrip(".")
        if host in self.rules.placeholder_hosts:
            return False
        return not host.endswith((".example", ".test", ".invalid", ".localhost"))

    def not_path(self, text: str, match: re.Match[str]) -> bool:
        value = match.group("value")
        if "+" in value or "=" in value:  # base64 (/xla+viWb...), not a path
            return True
        if value.startswith(("/", "./", "../", "~/")) or "..." in value:
            return False
        return not ("/" in value and FILE_SUFFIX.search(value))


CheckResult = bool | str | tuple[int, int]
CHECKS: dict[str, Callable[[Validators, str, re.Match[str]], Any]] = {
    "email_shape": Validators.email_shape,
    "ip_public": Validators.ip_public,
    "secret_name_value": Validators.secret_name_value,
    "credential_value": Validators.credential_value,
    "not_placeholder": Validators.not_placeholder,
    "not_a_word": Validators.not_a_word,
    "not_example": Validators.not_example,
    "pem_body": Validators.pem_body,
    "not_field_name": Validators.not_field_name,
    "not_metavar": Validators.not_metavar,
    "prose_password": Validators.prose_password,
    "real_host": Validators.real_host,
    "not_path": Validators.not_path,
    "not_password_hash_call": Validators.not_password_hash_call,
    "not_keyword_argument": Validators.not_keyword_argument,
    "not_hex_bytes": Validators.not_hex_bytes,
}
