"""One policy for names that come from repositories: file paths in a tree, ``owner/name`` in a repos list.

A name is refused when one of its ``/``-separated components is empty, ``.`` or ``..`` (a curated path such
as ``../../payload.py`` would escape any folder a consumer writes it under), or when it contains a
character that does not print as itself: control characters (newline, tab, ESC, DEL, the C1 range), and
the other non-printable code points Python's ``str.isprintable`` knows (bidirectional overrides, zero-width
and format characters, line and paragraph separators). Such a name would read differently in a terminal,
a log or a web page than it is stored, which is how a file name retitles a terminal window or an
``evil/nl\\n`` repository slips past an ``evil/nl`` opt-out.

``printable`` is the other half: every name or message that goes to a terminal is passed through it, so
that even data written before this policy cannot send escape sequences.
"""

from __future__ import annotations


def component_problem(part: str) -> str | None:
    """Why one path component is refused (a short phrase), or None."""
    if part in ("", ".", ".."):
        return f"component {part!r} is empty, '.' or '..'"
    if not part.isprintable():
        bad = next(c for c in part if not c.isprintable())
        return f"contains the non-printable character U+{ord(bad):04X}"
    return None


def path_problem(path: str) -> str | None:
    """Why a repository-relative path (``/``-separated, no leading ``/``) is refused, or None."""
    for part in path.split("/"):
        problem = component_problem(part)
        if problem is not None:
            return problem
    return None


def printable(text: object, keep_newlines: bool = False) -> str:
    """``text`` with every non-printable character shown as an escape (``\\x1b``, ``\\n``, ``\\u202e``).

    Printable text is returned unchanged, so ordinary names and messages read as they are.
    ``keep_newlines``: leave ``\\n`` as it is (multi-line messages of our own)."""
    value = str(text)
    if value.isprintable():
        return value
    kept = "\n" if keep_newlines else ""
    return "".join(
        c if c.isprintable() or c in kept else c.encode("unicode_escape").decode("ascii") for c in value
    )
