"""Planted PII for benchmarks/pii.py, made without looking at the detector (with benchmarks/pii_values.py
and benchmarks/pii_forms.py; none imports ``stackcurate.pii`` or reads ``rules/pii.yaml``).

``make_snippet`` writes one form (.env, INI, .properties, YAML, TOML, JSON, a comment, a string in code,
prose, shell commands, JDBC/ODBC strings, docker-compose ``environment:`` blocks, URL userinfo; author,
copyright, ``@author``, trailer, changelog, ``Name <email>`` and maintainer lines for names) for a host
file's language; ``plant`` inserts it at a line boundary of a real file and gives each value's offsets."""

from __future__ import annotations

import random

from pii_forms import (
    CODE_LANGS,
    COMMENT,
    FORMATS,
    HOSTS,
    IP_KINDS,
    KEY_KINDS,
    PASSWORD_KINDS,
    TYPE_FORMATS,
    USERS,
    Context,
    assignment,
    jdbc_snippet,
    prose_snippet,
    put,
    shell_snippet,
    string_line,
    url_snippet,
    yaml_quote,
)
from pii_values import TYPES, Builder, Plant, Values, load_names

__all__ = ["FORMATS", "IP_KINDS", "KEY_KINDS", "PASSWORD_KINDS", "TYPES", "TYPE_FORMATS", "Context", "Plant"]
__all__ += ["COMMENT", "Values", "host_lang", "load_names", "make_snippet", "plant"]


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
