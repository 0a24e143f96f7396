"""Which files of a repository are license evidence beyond ``LICENSE``/``COPYING``, and what of them is read.

- **REUSE** (reuse.software): every text in a ``LICENSES/`` folder (``LICENSES/MIT.txt``) is a license the
  project uses; together they speak for the folder that holds ``LICENSES/`` (``reuse_folder``). A text no
  engine reads stands for the id its file name gives (``LICENSES/<SPDX id>.txt``).
- **DEP-5** (``.reuse/dep5``, a machine-readable ``debian/copyright``): paragraphs of ``Files:`` globs and a
  ``License:`` expression (``dep5_paragraphs``). ``Files: *`` is the license of the whole folder; other globs
  scope their license to those files, as bundled-component stanzas do.
- **README** license sections: the text under a heading named "License", "Licence", "Licensing" or
  "Copyright and license" (Markdown ``#`` or underlined headings, reStructuredText), up to the next heading of
  the same or a higher level (``readme_license_section``). Only the section is read: prose elsewhere in a
  README ("unlike the GPL") is not a license notice. Markdown's link reference definitions
  (``[npm-image]: https://img.shields.io/...``, which READMEs gather at their end, inside the last section)
  and HTML comments are not part of it: a section that says "MIT" above twenty badge links is "MIT"; a
  section of badge images only states no license; a link is read as its text (its target only when that is
  a license's own page).
- A file that holds nothing but copyright statements (a ``COPYRIGHT.md`` with one line) is not a license
  text: it adds no license, and it is not an unknown one (``copyright_only``).
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass

from stackcurate.licenses.text import blank

README = re.compile(r"readme(\.(md|markdown|rst|txt|adoc))?", re.IGNORECASE)
_LICENSE_HEADING = (
    r"(the\s+)?(licen[cs]e|licen[cs]ing|licen[cs]es|copyright(\s+(and|&)\s+licen[cs]e)?)\b[^\n]{0,40}"
)
_MARKDOWN_HEADING = re.compile(r"^(#{1,6})[ \t]+(.*?)[ \t#]*$", re.MULTILINE)
_UNDERLINED_HEADING = re.compile(r"^([^\n]{1,80})\r?\n([=\-~^\"'`#*+]{3,})[ \t]*$", re.MULTILINE)
_WORDS = re.compile(r"[A-Za-z0-9]+")
#: a Markdown link reference definition ("[label]: URL 'title'", the URL on the same line or the next), and an
#: HTML comment
_LINK_DEFINITION = re.compile(
    r"^[ ]{0,3}\[[^\]\n]+\]:[ \t]*(?:\n[ \t]*)?<?\S+>?"
    r"(?:[ \t]+(?:\"[^\"\n]*\"|'[^'\n]*'|\([^)\n]*\)))?[ \t]*$",
    re.MULTILINE,
)
_HTML_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)
#: a Markdown link: the reader sees its text, not its target (``[MIT](https://github.com/o/fast-json-x/...)``
#: named JSON), unless the target is a license's own page (``[license](https://opensource.org/licenses/MIT)``)
_MARKDOWN_LINK = re.compile(r"(?<![!\]])\[([^\[\]\n]+)\]\(([^)\s]*)[^)\n]*\)")
_LICENSE_PAGE = re.compile(
    r"(?i)\b(opensource\.org|spdx\.org|choosealicense\.com|gnu\.org|apache\.org/licenses|creativecommons\.org|"
    r"mozilla\.org/mpl|unlicense\.org|wtfpl\.net|blueoakcouncil\.org)/"
)
#: a Markdown image (a badge), and a link whose text was only an image
_IMAGE = re.compile(r"!\[[^\]\n]*\]\([^)\n]*\)")
_EMPTY_LINK = re.compile(r"\[\s*\]\([^)\n]*\)")
#: words a copyright statement may leave behind (its "All rights reserved" on a line of its own)
_COPYRIGHT_LEFTOVERS = frozenset({"all", "rights", "reserved"})
REUSE_FOLDER = "LICENSES"


def reuse_folder(path: str) -> str | None:
    """The folder a REUSE license text speaks for (the one holding ``LICENSES/``), or None when ``path``
    is not a text directly inside a ``LICENSES`` folder."""
    directory, name = posixpath.split(path)
    if posixpath.basename(directory) != REUSE_FOLDER or name.startswith("."):
        return None
    if not re.fullmatch(r"[\w.+-]+(\.(txt|md|rst))?", name):
        return None
    return posixpath.dirname(directory)


def reuse_id(path: str) -> str:
    """The license id a REUSE file name declares: ``LICENSES/Apache-2.0.txt`` -> ``Apache-2.0``."""
    name = posixpath.basename(path)
    return re.sub(r"\.(txt|md|rst)$", "", name)


def readme_license_section(path: str, text: str) -> str | None:
    """The license section of a README (see the module docstring), or None."""
    if not README.fullmatch(posixpath.basename(path)):
        return None
    headings = [(m.start(), m.end(), len(m.group(1)), m.group(2)) for m in _MARKDOWN_HEADING.finditer(text)]
    levels: dict[str, int] = {}
    for match in _UNDERLINED_HEADING.finditer(text):
        title, underline = match.group(1).strip(), match.group(2)
        if not title or set(title) <= set(underline[0]):
            continue
        level = levels.setdefault(underline[0], len(levels) + 1)  # rst: the order underlines first appear
        headings.append((match.start(), match.end(), level, title))
    headings.sort()
    for number, (_start, end, level, title) in enumerate(headings):
        if not re.fullmatch(_LICENSE_HEADING, title.strip(), flags=re.IGNORECASE):
            continue
        stop = next((s for s, _, lvl, _ in headings[number + 1 :] if lvl <= level), len(text))
        section = _HTML_COMMENT.sub("", _LINK_DEFINITION.sub("", text[end:stop])).strip()
        section = _EMPTY_LINK.sub("", _IMAGE.sub("", section))
        if not _WORDS.search(section):
            return None  # badges only (a license scanner's status image): no license stated
        return _MARKDOWN_LINK.sub(_link_text, section).strip()
    return None


def _link_text(link: re.Match[str]) -> str:
    target = link.group(2)
    return f"{link.group(1)} ({target})" if _LICENSE_PAGE.search(target) else link.group(1)


def copyright_only(text: str) -> bool:
    """Whether ``text`` holds no words but copyright statements (and their "All rights reserved")."""
    return set(w.lower() for w in _WORDS.findall(blank(text))) <= _COPYRIGHT_LEFTOVERS


@dataclass(frozen=True)
class Dep5Paragraph:
    """A ``Files:`` paragraph of a DEP-5 file: its globs (relative to the folder the file speaks for) and its
    ``License:`` expression (the first line of the field: the rest is the license's text)."""

    files: tuple[str, ...]
    license: str


def dep5_folder(path: str, text: str) -> str | None:
    """The folder a DEP-5 file speaks for: the repository folder above ``.reuse/dep5``, or above
    ``debian/copyright`` when that file is machine-readable (its first field is ``Format:``);
    None otherwise."""
    directory, name = posixpath.split(path)
    if name == "dep5" and posixpath.basename(directory) == ".reuse":
        return posixpath.dirname(directory)
    if name == "copyright" and posixpath.basename(directory) == "debian" and re.match(r"\s*Format:", text):
        return posixpath.dirname(directory)
    return None


def dep5_paragraphs(text: str) -> list[Dep5Paragraph]:
    """The ``Files:`` paragraphs of a DEP-5 text that name a license."""
    found = []
    for paragraph in re.split(r"\n[ \t]*\n", text):
        fields: dict[str, str] = {}
        current = None
        for line in paragraph.splitlines():
            match = re.match(r"^([A-Za-z-]+):[ \t]*(.*)$", line)
            if match:
                current = match.group(1).lower()
                fields[current] = match.group(2).strip()
            elif current == "files" and line[:1] in (" ", "\t"):
                fields["files"] += " " + line.strip()
        if fields.get("files") and fields.get("license"):
            found.append(Dep5Paragraph(tuple(fields["files"].split()), fields["license"]))
    return found
