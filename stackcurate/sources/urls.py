"""Repository locations: parse, refuse the unsafe ones, and derive ``owner/name``.

Accepted forms: ``https://`` and ``http://`` URLs, ``ssh://`` URLs, scp-like ``user@host:owner/name``,
``git://``, ``file://`` URLs and plain local paths (absolute, or relative to the repos list's folder).

Refused, with a message that names the rule: git's remote-helper transports (``ext::``, ``fd::`` and any
``<helper>::<address>``) which run arbitrary commands, anything that starts with ``-`` (git would read it as
an option such as ``--upload-pack=...``), URLs with whitespace or control characters, URLs carrying git
options as query strings, and other schemes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

from stackcurate.errors import ItemError

SAFE_SCHEMES = ("https", "http", "ssh", "git", "file")
#: git's allow-list for the transports it may use while cloning (defence in depth, see git-config(1)).
GIT_ALLOW_PROTOCOL = "https:http:ssh:git:file"

_SCP_LIKE = re.compile(r"^(?P<user>[A-Za-z0-9._-]+@)?(?P<host>[A-Za-z0-9.-]+):(?P<path>[^/].*)$")
_REMOTE_HELPER = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*::")
_SEGMENT = re.compile(r"^[A-Za-z0-9._-]+$")


class UnsafeUrlError(ItemError):
    """A repository location that will not be handed to git."""

    def __init__(self, url: str, why: str):
        super().__init__("refused_url", f"refused repository location {url!r}: {why}")


@dataclass(frozen=True)
class RepoLocation:
    """A vetted repository location.

    ``clone_url`` is what git receives (local paths become ``file://`` URLs so that ``--depth`` is honoured);
    ``url`` is what the dataset records as ``repo_url``; ``name`` is ``owner/name``.
    """

    url: str
    clone_url: str
    name: str
    is_local: bool


def _name_from_path(path: str, url: str) -> str:
    segments = [s for s in unquote(path).split("/") if s]
    if len(segments) < 2:
        raise UnsafeUrlError(url, "cannot derive owner/name: it needs at least two path segments")
    owner, name = segments[-2], segments[-1]
    if name.endswith(".git"):
        name = name[: -len(".git")]
    for part in (owner, name):
        # fullmatch: ``re.match`` with ``$`` accepts a trailing newline (``evil/nl%0a`` -> ``evil/nl\n``)
        if not _SEGMENT.fullmatch(part) or part in (".", ".."):
            raise UnsafeUrlError(url, f"path segment {part!r} is not a valid owner or repository name")
    return f"{owner}/{name}"


def parse_location(raw: str, base_dir: Path | None = None) -> RepoLocation:
    """Vet one entry of a repos list and return where to clone it from.

    ``base_dir`` resolves relative local paths (the repos list's folder). Raises ``UnsafeUrlError``, also
    for what ``urllib`` cannot parse (``https://[bad/owner/repo``: "Invalid IPv6 URL").
    """
    try:
        return _parse_location(raw, base_dir)
    except ValueError as error:
        raise UnsafeUrlError(raw, f"cannot be parsed: {error}") from None


def _parse_location(raw: str, base_dir: Path | None) -> RepoLocation:
    url = raw.strip()
    if not url:
        raise UnsafeUrlError(raw, "empty location")
    if _REMOTE_HELPER.match(url):
        raise UnsafeUrlError(url, "git remote-helper transports (ext::, fd::, ...) can run commands")
    if url.startswith("-"):
        raise UnsafeUrlError(url, "starts with '-', which git would read as an option")
    if any(ord(c) < 32 or ord(c) == 127 or c.isspace() for c in url):
        raise UnsafeUrlError(url, "whitespace or control characters are not allowed")
    if "--upload-pack" in url or "--receive-pack" in url or "--config" in url:
        raise UnsafeUrlError(url, "contains a git option")

    if "://" in url:
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in SAFE_SCHEMES:
            raise UnsafeUrlError(url, f"scheme {scheme!r} is not one of {', '.join(SAFE_SCHEMES)}")
        if scheme == "file":
            if parts.netloc not in ("", "localhost"):
                raise UnsafeUrlError(url, "file:// URLs must not name a host")
            path = Path(unquote(parts.path))
            return RepoLocation(url, path.as_uri(), _name_from_path(parts.path, url), True)
        if not parts.hostname:
            raise UnsafeUrlError(url, "no host")
        if parts.hostname.startswith("-"):
            raise UnsafeUrlError(url, "host starts with '-'")
        if parts.query or parts.fragment:
            raise UnsafeUrlError(url, "query strings and fragments are not allowed")
        return RepoLocation(url, url, _name_from_path(parts.path, url), False)

    scp = _SCP_LIKE.match(url)
    if scp and not url.startswith(("/", ".")) and "/" not in scp.group("host"):
        host = scp.group("host")
        if host.startswith("-"):
            raise UnsafeUrlError(url, "host starts with '-'")
        return RepoLocation(url, url, _name_from_path(scp.group("path"), url), False)

    if ":" in url.split("/")[0]:
        raise UnsafeUrlError(url, "not a URL, scp-like address or local path")
    path = Path(url)
    if not path.is_absolute():
        path = (base_dir or Path.cwd()) / path
    resolved = Path(_collapse_dots(path.as_posix()))  # '.', '..' and '//' resolved without following links
    return RepoLocation(resolved.as_uri(), resolved.as_uri(), _name_from_path(resolved.as_posix(), url), True)


def _collapse_dots(posix: str) -> str:
    out: list[str] = []
    for part in posix.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if out:
                out.pop()
            continue
        out.append(part)
    return "/" + "/".join(out)
