"""Which exceptions are a user's expected failure (one line, exit 2) and what that line says.

Expected: our own ``StackcurateError``s; file-system errors (a missing path, no permission, ``--out`` that
is a file or under a file, a read-only folder, a full disk), named with the path; unreadable or truncated
Parquet, named with the file being read; invalid YAML. Anything else is a bug and keeps its traceback, as
does every error under ``--debug``.
"""

from __future__ import annotations

import glob
import os
import sys
from pathlib import PurePath
from types import TracebackType

import yaml

from stackcurate.errors import StackcurateError


def _unreadable(path: str) -> bool:
    import pyarrow.parquet as pq

    try:
        pq.read_metadata(path)
    except Exception:  # any failure to read the footer is what we are looking for
        return True
    return False


def _parquet_being_read(trace: TracebackType | None) -> str | None:
    """The Parquet file that could not be read, found from the frames of ``trace``: Arrow's and polars'
    errors do not name it, the frames that opened it hold it (a path, a list of paths, a folder or a glob).
    The innermost frame's candidates are tried first; a candidate counts when its footer cannot be read."""
    candidates: list[list[str]] = []
    while trace is not None:
        found: list[str] = []
        for value in list(trace.tb_frame.f_locals.values()):
            values = value if isinstance(value, (list, tuple)) and len(value) < 100_000 else [value]
            for item in values:
                text = str(item) if isinstance(item, (str, PurePath)) else ""
                if not text or len(text) > 4096 or "://" in text:
                    continue
                if text.endswith(".parquet"):
                    found.extend(sorted(glob.glob(text)) if any(c in text for c in "*?[") else [text])
                elif os.path.isdir(text):
                    pattern = os.path.join(glob.escape(text), "**", "*.parquet")
                    found.extend(sorted(glob.glob(pattern, recursive=True)))
        candidates.append(found)
        trace = trace.tb_next
    for found in reversed(candidates):
        for path in dict.fromkeys(found):
            if os.path.isfile(path) and _unreadable(path):
                return path
    return None


def expected_failure(error: BaseException) -> str | None:
    """The one-line message for an expected failure, or None for a bug."""
    if isinstance(error, StackcurateError):
        return str(error)
    try:
        import pyarrow as pa
    except ImportError:  # pragma: no cover - pyarrow is a dependency
        pa = None
    polars = sys.modules.get("polars")  # only when something imported it
    arrow = pa is not None and isinstance(error, pa.ArrowException)
    if arrow or (
        polars is not None
        and isinstance(error, polars.exceptions.PolarsError)
        and "parquet" in str(error).lower()
    ):
        where = _parquet_being_read(error.__traceback__)
        what = f"cannot read {where}" if where else "cannot read a Parquet file"
        return f"{what}: {error} (a truncated or corrupt file: restore it or rerun the pass that wrote it)"
    if isinstance(error, OSError) and (error.filename is not None or error.strerror):
        names = " -> ".join(str(name) for name in (error.filename, error.filename2) if name is not None)
        return f"{error.strerror or error}: {names}" if names else str(error.strerror)
    if isinstance(error, yaml.YAMLError):
        return f"invalid YAML: {error}"
    return None
