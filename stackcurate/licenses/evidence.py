"""Where license evidence comes from: license files, ``SPDX-License-Identifier`` headers, package manifests.

Manifests read (their ``license`` field, as the ecosystem spells it): ``package.json``,
``composer.json``, ``Cargo.toml``, ``pyproject.toml`` (``project.license`` text/expression, ``License ::``
classifiers), ``setup.cfg`` (``metadata.license``, classifiers), ``setup.py`` (a literal ``license=``
argument, classifiers), ``PKG-INFO``/``METADATA`` (``License-Expression``, else a one-line ``License``, else
the ``License ::`` classifiers), ``*.gemspec`` (``license``/``licenses``), ``pom.xml``
(``<licenses>...<name>``). A source file's first comment block, when it reads like a license notice, is read
by the engines like a license text and decides that file (``license_header``).
A ``PKG-INFO``/``METADATA`` inside ``*.egg-info``/``*.dist-info`` speaks for the folder above it.
A README that mentions a license is not evidence: prose such as "unlike the GPL" or "see LICENSE" would be
misread too often.
"""

from __future__ import annotations

import configparser
import json
import re
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass

SPDX_HEADER = re.compile(r"SPDX-License-Identifier:\s*([^\n\r*]+?)\s*(?:\*/|-->|#}|\*\)|$)", re.MULTILINE)
MANIFESTS = (
    "package.json",
    "composer.json",
    "Cargo.toml",
    "pyproject.toml",
    "setup.cfg",
    "setup.py",
    "pom.xml",
    "PKG-INFO",
    "METADATA",
)
CLASSIFIER = re.compile(r"""License\s+::\s+([^"'\n]+?)\s*(?:["']|$)""", re.MULTILINE)
#: classifier levels that name no license
CLASSIFIER_GROUPS = ("OSI Approved", "DFSG approved", "Freely Distributable", "Freeware")
SETUP_PY_LICENSE = re.compile(r"""\blicense\s*=\s*(["'])([^"'\n]{1,100})\1""")


def manifest_directory(path: str) -> str:
    """The folder a manifest speaks for: its own, or the one above a ``*.egg-info``/``*.dist-info``."""
    directory = path.rsplit("/", 1)[0] if "/" in path else ""
    if directory.rsplit("/", 1)[-1].endswith((".egg-info", ".dist-info")):
        return directory.rsplit("/", 1)[0] if "/" in directory else ""
    return directory


def classifier_licenses(text: str) -> list[str]:
    """The license names of ``License :: ...`` trove classifiers ("License :: OSI Approved :: MIT License"
    -> "MIT License"); several classifiers are a choice the package offers, hence one OR expression."""
    names = []
    for match in CLASSIFIER.finditer(text):
        name = match.group(1).split("::")[-1].strip()
        if name and name not in CLASSIFIER_GROUPS and name not in names:
            names.append(name)
    return [" OR ".join(f"({n})" if " " in n else n for n in names)] if len(names) > 1 else names


def _metadata_licenses(text: str) -> list[str]:
    headers = text.split("\n\n", 1)[0]
    expression = re.search(r"^License-Expression:\s*(.+)$", headers, flags=re.MULTILINE)
    if expression:
        return [expression.group(1).strip()]
    field = re.search(r"^License:\s*(.+)$", headers, flags=re.MULTILINE)
    following = headers[field.end() :].lstrip("\n") if field else ""
    if field and len(field.group(1).strip()) < 100 and not following.startswith((" ", "\t")):
        return [field.group(1).strip()]  # a one-line name, not a whole license text folded into the field
    return classifier_licenses(headers)


def spdx_header(text: str, head_bytes: int) -> str | None:
    """The expression of the first ``SPDX-License-Identifier:`` line in the head of a file, if any."""
    head = text[:head_bytes]
    if "SPDX-License-Identifier" not in head:  # a plain substring test first: this runs on every file
        return None
    match = SPDX_HEADER.search(head)
    if not match:
        return None
    value = match.group(1).strip().strip("\"'`;,")
    return value or None


def is_manifest(path: str) -> bool:
    name = path.rsplit("/", 1)[-1]
    return name in MANIFESTS or name.endswith(".gemspec")


def _json_licenses(data: object) -> Iterator[str]:
    if not isinstance(data, dict):
        return
    value = data.get("license")
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict) and isinstance(value.get("type"), str):
        yield value["type"]
    elif isinstance(value, list):
        yield " OR ".join(v for v in value if isinstance(v, str))  # composer: a list means a choice
    for item in data.get("licenses", []) if isinstance(data.get("licenses"), list) else []:
        if isinstance(item, dict) and isinstance(item.get("type"), str):
            yield item["type"]
        elif isinstance(item, str):
            yield item


def manifest_licenses(path: str, text: str) -> list[str]:
    """License strings a manifest declares (raw, to be normalised); [] when none or unreadable."""
    name = path.rsplit("/", 1)[-1]
    try:
        if name in ("package.json", "composer.json"):
            return [v for v in _json_licenses(json.loads(text)) if v.strip()]
        if name in ("PKG-INFO", "METADATA"):
            return [v for v in _metadata_licenses(text) if v.strip()]
        if name == "setup.py":
            literal = SETUP_PY_LICENSE.search(text)
            return [literal.group(2).strip()] if literal else classifier_licenses(text)
        if name in ("Cargo.toml", "pyproject.toml"):
            data = tomllib.loads(text)
            section = data.get("package") if name == "Cargo.toml" else data.get("project")
            value = section.get("license") if isinstance(section, dict) else None
            if value is None and isinstance(section, dict) and isinstance(section.get("classifiers"), list):
                return classifier_licenses("\n".join(str(c) for c in section["classifiers"]))
            if isinstance(value, dict):
                value = (
                    value.get("text")
                    if isinstance(value.get("text"), str) and len(value["text"]) < 100
                    else None
                )
            return [value] if isinstance(value, str) and value.strip() else []
        if name == "setup.cfg":
            parser = configparser.ConfigParser(interpolation=None)
            parser.read_string(text)
            value = parser.get("metadata", "license", fallback="").strip()
            if not value:
                return classifier_licenses(parser.get("metadata", "classifiers", fallback=""))
            return [value] if "\n" not in value and len(value) < 100 else []
        if name.endswith(".gemspec"):
            found = re.findall(r"\.licen[cs]es?\s*=\s*\[?([^\]\n]+)\]?", text)
            values = [v.strip(" '\"") for group in found for v in group.split(",")]
            return [" OR ".join(values)] if len(values) > 1 else values
        if name == "pom.xml":
            block = re.search(r"<licenses>(.*?)</licenses>", text, flags=re.DOTALL)
            names = re.findall(r"<name>\s*([^<]+?)\s*</name>", block.group(1)) if block else []
            return [" AND ".join(names)] if len(names) > 1 else names
    except (ValueError, tomllib.TOMLDecodeError, configparser.Error, AttributeError):
        return []
    return []


COMMENT_OPENERS = frozenset("#/-;%!*\"'R")
LINE_COMMENT = re.compile(r"^\s*(#|//|--|;|%|!|\*|REM\b)")
#: a comment block is license evidence only when it reads like a license notice, not any mention
NOTICE_HINT = re.compile(
    r"licen[cs]ed\s+under|under\s+the\s+terms\s+of|permission\s+is\s+hereby\s+granted|redistribution\s+and\s+use"
    r"|free\s+software|public\s+domain|licen[cs]e:\s*\S",
    re.IGNORECASE,
)


def license_header(text: str, head_bytes: int) -> str | None:
    """The first comment block of a source file (after a shebang or encoding line) when it reads like a
    license notice; None otherwise. Handles ``#``/``//``/``--``/``;`` line comments, ``/* ... */`` blocks and
    a Python module docstring. Runs on every file, so a file that does not open with a comment is rejected
    on its first characters."""
    head = text[:head_bytes].lstrip()
    while head.startswith("#!") or (head.startswith("#") and "coding" in head[:40].split("\n", 1)[0]):
        head = head[head.find("\n") + 1 :].lstrip() if "\n" in head else ""
    if not head or head[0] not in COMMENT_OPENERS:
        return None
    block: list[str] = []
    if head.startswith(('"""', "'''")):
        end = head.find(head[:3], 3)
        block = [head[3 : end if end >= 0 else len(head)]]
    elif head.startswith("/*"):
        end = head.find("*/")
        block = [head[2 : end if end >= 0 else len(head)]]
    else:
        for line in head.splitlines():
            if not LINE_COMMENT.match(line):
                break
            block.append(LINE_COMMENT.sub("", line, count=1))
    notice = "\n".join(block).strip()
    return notice if notice and NOTICE_HINT.search(notice) else None


@dataclass(frozen=True)
class Stanza:
    """A bundled component's stanza in a license file: ``Name:``, ``Files:`` (globs, relative to the license
    file's folder) and ``License:`` (an SPDX expression; empty: what its texts read as), then its texts, up
    to the next stanza."""

    name: str
    files: tuple[str, ...]
    license: str
    body: str
    #: the stanza runs to the end of the file (no rule line closes it): text after the component's license
    #: may be the folder's own (``LicenseDetector._add_stanzas``)
    open_end: bool = False


STANZA_FIELD = re.compile(r"^(Name|Files|License|Description|Availability|Copyright):[ \t]*(.*?)\s*$")
#: how far below ``Name:`` the ``Files:`` and ``License:`` lines may be
STANZA_FIELD_LINES = 6


def _safe_glob(glob: str) -> bool:
    """A stanza glob names part of the tree: relative, no ``..``, and not everything (``*``, ``**/*``)."""
    parts = glob.split("/")
    return (
        bool(glob)
        and not glob.startswith(("/", "\\"))
        and ".." not in parts
        and bool(re.sub(r"[*?/\[\]!.]", "", glob))
    )


_PATH = r"(?:[\w.*-]+/)+[\w.*-]+|[\w*-]+\.[\w*]+"
#: "The files at a/b.idx and a/b.pack are licensed under GNU GPL ...": a paragraph that scopes a license to
#: named files (gitdb's LICENSE); it ends at a blank line
PATH_NOTICE = re.compile(
    rf"(?:^|\n)[ \t]*The\s+files?\s+(?:at\s+|in\s+)?((?:{_PATH})(?:\s*(?:,|\band\b)\s*(?:{_PATH}))*)\s+"
    r"(?:is|are)\s+licen[cs]ed\s+under\s+(?:the\s+)?([^.\n]{2,120})(?:(?!\n[ \t]*\n).)*",
    re.IGNORECASE | re.DOTALL,
)

_FILE = r"(?:[\w.-]+/)*[\w-]+\.[A-Za-z]\w{0,5}"
#: the start of a license's name (a family or its owner): what a sentence "<file> is <license>" must say
_LICENSE_NAME = (
    r"(?:GNU\b|[AL]?GPL|MPL|EPL|CDDL|EUPL|Apache\b|MIT\b|BSD\b|ISC\b|Artistic\b|Mozilla\b|Eclipse\b"
    r"|Creative\s+Commons\b|CC[- ]BY|CC0\b|Zlib\b|Boost\b|PSF\b|Python\s+Software\s+Foundation\b)"
)
#: "test.py, the test-runner script, is GPL and copyright Shuttleworth Foundation.": a named file said to be
#: under a license (lxml's LICENSES.txt); the license's name runs to "and copyright", a comma or the end of
#: the sentence, and the paragraph to a blank line
FILE_IS_NOTICE = re.compile(
    rf"(?:^|\n)[ \t]*((?:{_FILE})(?:\s*(?:,|\band\b)\s*(?:{_FILE}))*)(?:,[^,\n]{{1,60}},)?\s+(?:is|are)\s+"
    rf"(?:licen[cs]ed\s+under\s+)?(?:the\s+)?({_LICENSE_NAME}(?:[^.,;\n]|\.(?=\d)){{0,60}}?)"
    r"(?:\s+licen[cs](?:ed?|ing))?(?=\s+and\s+copyright|\s*(?:[,;\n]|\.(?!\d))|\s*$)(?:(?!\n[ \t]*\n).)*",
    re.DOTALL,
)


def path_notices(text: str) -> tuple[str, list[Stanza]]:
    """Paragraphs that license named files (``PATH_NOTICE``, ``FILE_IS_NOTICE``) -> stanzas for those
    files, cut from the text. A text that is nothing but ``FILE_IS_NOTICE`` sentences ("jquery.js is MIT
    licensed.", a README's License section) is the project's own statement, not a scope: left whole."""
    stanzas: list[Stanza] = []
    sentences = list(FILE_IS_NOTICE.finditer(text))
    rest = text
    for found in sentences:
        rest = rest.replace(found.group(0), "\n", 1)
    if not re.search(r"\w", rest):
        sentences = []
    for found in sorted([*PATH_NOTICE.finditer(text), *sentences], key=lambda m: m.start()):
        globs = tuple(g for g in re.split(r"\s*(?:,|\band\b)\s*|\s+", found.group(1)) if g)
        if not globs or not all(_safe_glob(g) for g in globs):
            return text, []
        stanzas.append(
            Stanza(
                f"files named in {found.group(2).strip()[:40]!r}",
                globs,
                found.group(2).strip(),
                found.group(0),
            )
        )
    for stanza in stanzas:
        text = text.replace(stanza.body, "\n", 1)
    return text, stanzas


#: a rule line ("-----", "=====", "*****") that can separate the sections of a license file
RULE_LINE = re.compile(r"^[ \t]*([-=*_#~])\1{4,}[ \t]*$")
#: the head of a section that licenses the files it lists ("Following applies to:" then one path a line, as
#: gRPC's LICENSE scopes a BSD and an MPL-2.0 text to a few files)
APPLIES_TO = re.compile(
    r"^[ \t]*(?:the\s+)?(?:following|this|these|below)\s+(?:licen[cs]e\s+|terms?\s+)?(?:applies|apply)\s+to"
    r"(?:\s+the\s+following\s+files)?[ \t]*:[ \t]*(\S+)?[ \t]*$",
    re.IGNORECASE,
)
_LISTED = re.compile(r"^[ \t]*(?:[-*+][ \t]+)?(\S+)[ \t]*$")


def _separator(lines: list[str]) -> str | None:
    """The rule line just before the first "applies to" head (blank lines between), if any."""
    for number, line in enumerate(lines):
        if APPLIES_TO.match(line):
            above = number - 1
            while above >= 0 and not lines[above].strip():
                above -= 1
            return lines[above].strip() if above >= 0 and RULE_LINE.match(lines[above]) else None
    return None


def applies_sections(text: str) -> tuple[str, list[Stanza]]:
    """Sections of a license file that begin "Following applies to:" and list paths one a line -> stanzas
    for those paths (``./`` dropped), cut from the text; the section's license is what its text reads as
    (``Stanza.license`` empty). Sections are delimited by the rule line that stands before the first head,
    repeated (a license text's own rules, MPL-2.0's ``*****`` box or its underlined headings, are other
    lines). A listed path with a folder also names files of its base name anywhere below (``*/roots.pem``):
    a distribution moves files (grpcio's wheel keeps the listed ``etc/roots.pem`` under
    ``grpc/_cython/_credentials/``), and a scope that missed the file would drop its license. An unsafe path
    (``..``, absolute, everything) cancels the split, as in ``bundle_stanzas``. The last section runs to the
    end of the file (``open_end``)."""
    lines = text.splitlines(keepends=True)
    separator = _separator(lines)
    if separator is None:
        return text, []
    pieces: list[list[str]] = [[]]
    for line in lines:
        if line.strip() == separator:
            pieces.append([])
        pieces[-1].append(line)
    own: list[str] = []
    stanzas: list[Stanza] = []
    for number, piece in enumerate(pieces):
        start = 1 if piece and piece[0].strip() == separator else 0
        while start < len(piece) and not piece[start].strip():
            start += 1
        head = APPLIES_TO.match(piece[start]) if start < len(piece) else None
        listed = [head.group(1)] if head and head.group(1) else []
        end = start + 1
        while head and end < len(piece) and piece[end].strip():
            found = _LISTED.match(piece[end])
            if not found:
                break
            listed.append(found.group(1))
            end += 1
        if not head or not listed or (end < len(piece) and piece[end].strip()):
            own.append("".join(piece))
            continue
        paths = [p.removeprefix("./") for p in listed]
        if not all(_safe_glob(p) for p in paths):
            return text, []
        moved = [p.rsplit("/", 1)[1] for p in paths if "/" in p]
        globs = [*paths, *moved, *(f"*/{name}" for name in moved)]
        body = "".join(piece[end:])
        stanzas.append(Stanza("applies to", tuple(dict.fromkeys(globs)), "", body, number == len(pieces) - 1))
    return "".join(own), stanzas


def bundle_stanzas(text: str) -> tuple[str, list[Stanza]]:
    """Split a license file into its own text and the stanzas of bundled components, as the binary wheels of
    numpy, scipy or matplotlib list them (and as Debian's ``debian/copyright`` scopes ``Files:``)::

        Name: GCC runtime library
        Files: numpy.libs/libgfortran*.so
        License: GPL-3.0-or-later WITH GCC-exception-3.1
        <the license texts>

    Each stanza's license governs its files only; the text before the first stanza is the license of the
    folder. A stanza whose ``Files:`` is not a safe relative glob (``..``, absolute, or matching everything)
    cancels the split: the whole file is then read as one license text. Without stanzas, sections that
    list the files they apply to (``applies_sections``) and paragraphs that license named files
    (``path_notices``) are read the same way."""
    lines = text.splitlines(keepends=True)
    starts: list[tuple[int, str, tuple[str, ...], str]] = []
    for number, line in enumerate(lines):
        if not line.startswith("Name:"):
            continue
        fields: dict[str, str] = {}
        for following in lines[number : number + STANZA_FIELD_LINES]:
            found = STANZA_FIELD.match(following)
            if found and found.group(1) not in fields:
                fields[found.group(1)] = found.group(2)
        if "Files" in fields and "License" in fields and fields["License"]:
            globs = tuple(g for g in re.split(r"[\s,]+", fields["Files"]) if g)
            if not globs or not all(_safe_glob(g) for g in globs):
                return text, []
            starts.append((number, fields["Name"], globs, fields["License"]))
    if not starts:
        own, sections = applies_sections(text)
        own, notices = path_notices(own)
        return own, sections + notices
    stanzas = []
    for index, (number, name, globs, expression) in enumerate(starts):
        end = starts[index + 1][0] if index + 1 < len(starts) else len(lines)
        stanzas.append(Stanza(name, globs, expression, "".join(lines[number:end])))
    return "".join(lines[: starts[0][0]]), stanzas
