"""The repos list: one repository location per line, optional ``stars`` and ``forks`` columns.

Accepted layouts (``#`` starts a comment line, blank lines are ignored)::

    https://github.com/owner/name            # plain text, one location per line
    url,stars,forks                          # CSV with a header (columns in any order; only url is required)
    https://github.com/owner/name,120,4
    /srv/mirrors/owner/name,,                # CSV without a header: url[,stars[,forks]]

Bad lines never stop a run: each one is returned as a :class:`ListProblem` (counted and logged by the clone
stage). The same repository listed twice (case-insensitive ``owner/name``) is kept once, first line wins.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

from datatrove.io import get_datafolder

from stackcurate.errors import FatalError, ItemError
from stackcurate.sources.urls import RepoLocation, parse_location

HEADER_NAMES = {"url", "repo_url", "repo", "location"}
#: stars and forks above this are refused as malformed: the most-starred GitHub repository has under 10^6
#: stars, and every value must fit the int64 Parquet columns (2^63 - 1) with room to spare
MAX_COUNT = 10**12


@dataclass(frozen=True)
class RepoEntry:
    """One repository to fetch, with the popularity signals The Stack used to rank duplicates."""

    location: RepoLocation
    stars: int | None
    forks: int | None
    line: int

    @property
    def name(self) -> str:
        return self.location.name


@dataclass(frozen=True)
class ListProblem:
    """A line of the repos list that was skipped; ``reason`` is the stats label."""

    line: int
    reason: str
    message: str


def _count(value: str | None, column: str, line: int) -> int | None:
    if value is None or not value.strip():
        return None
    try:
        number = int(value.strip())
    except ValueError:
        raise ItemError(
            "malformed_line", f"line {line}: {column} must be an integer, got {value!r}"
        ) from None
    if not 0 <= number <= MAX_COUNT:
        raise ItemError(
            "malformed_line", f"line {line}: {column} must be in 0..{MAX_COUNT}, got {value.strip()}"
        )
    return number


def parse_repos_text(text: str, base_dir: Path | None = None) -> tuple[list[RepoEntry], list[ListProblem]]:
    """Parse the content of a repos list. ``base_dir`` resolves relative local paths."""
    entries: list[RepoEntry] = []
    problems: list[ListProblem] = []
    seen: dict[str, int] = {}
    columns: dict[str, int] | None = None
    # one line at a time, so that a line csv cannot read (a NUL, an unclosed quote) is that line's problem
    for line_no, line in enumerate(text.split("\n"), start=1):
        try:
            row = next(csv.reader(io.StringIO(line.removesuffix("\r"))), [])
        except csv.Error as error:
            problems.append(ListProblem(line_no, "malformed_line", f"line {line_no}: {error}"))
            continue
        fields = [field.strip() for field in row]
        if not any(fields) or fields[0].startswith("#"):
            continue
        if columns is None and not entries and not problems and HEADER_NAMES & {f.lower() for f in fields}:
            columns = {name.lower(): i for i, name in enumerate(fields)}
            continue
        try:
            if columns is None:
                url, stars, forks = [*fields, None, None][:3]
            else:
                url = fields[columns[next(n for n in HEADER_NAMES if n in columns)]]
                stars = (
                    fields[columns["stars"]]
                    if "stars" in columns and columns["stars"] < len(fields)
                    else None
                )
                forks = (
                    fields[columns["forks"]]
                    if "forks" in columns and columns["forks"] < len(fields)
                    else None
                )
            assert url is not None
            entry = RepoEntry(
                parse_location(url, base_dir),
                _count(stars, "stars", line_no),
                _count(forks, "forks", line_no),
                line_no,
            )
        except ItemError as error:
            message = str(error) if str(error).startswith("line ") else f"line {line_no}: {error}"
            problems.append(ListProblem(line_no, error.reason, message))
            continue
        except (ValueError, IndexError) as error:  # anything else a line can throw is still that line's
            problems.append(ListProblem(line_no, "malformed_line", f"line {line_no}: {error}"))
            continue
        key = entry.name.lower()
        if key in seen:
            problems.append(
                ListProblem(
                    line_no,
                    "duplicate_repo",
                    f"line {line_no}: {entry.name} already listed on line {seen[key]}",
                )
            )
            continue
        seen[key] = line_no
        entries.append(entry)
    return entries, problems


def load_repos_list(path: str) -> tuple[list[RepoEntry], list[ListProblem]]:
    """Read and parse a repos list from a local path or an fsspec URL (``s3://...``).

    Raises ``FatalError`` when the list cannot be read at all (missing file, not text): without it there is
    nothing to run.
    """
    folder = get_datafolder(str(Path(path).parent) if "://" not in path else path.rsplit("/", 1)[0])
    filename = Path(path).name if "://" not in path else path.rsplit("/", 1)[1]
    try:
        with folder.open(filename, "rb") as handle:
            raw = handle.read()
    except FileNotFoundError:
        raise FatalError(f"repos list not found: {path}") from None
    except OSError as error:
        raise FatalError(f"cannot read repos list {path}: {error}") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise FatalError(f"repos list {path} is not UTF-8 text: {error}") from None
    base_dir = Path(path).resolve().parent if "://" not in path else None
    return parse_repos_text(text, base_dir)
