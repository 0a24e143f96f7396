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


def _parquet_being_read(trace: TracebackType | None) -> str | None:
    """The innermost ``*.parquet`` path (or a folder, as ``folder/*.parquet``) held by a frame of ``trace``:
    Arrow's and polars' errors do not name the file; the frame that opened it does."""
    found = folder = None
    while trace is not None:
        for value in list(trace.tb_frame.f_locals.values()):
            if not isinstance(value, (str, PurePath)) or len(str(value)) > 4096:
                continue
            if str(value).endswith(".parquet"):
                found = str(value)
            elif (
                "://" not in str(value)
                and os.path.isdir(value)
                and glob.glob(os.path.join(value, "*.parquet"))
            ):
                folder = os.path.join(value, "*.parquet")
        trace = trace.tb_next
    return found or folder


def _first_unreadable(pattern: str) -> str | None:
    """The first file matching ``pattern`` whose Parquet footer cannot be read."""
    import pyarrow.parquet as pq

    for name in sorted(glob.glob(pattern)):
        try:
            pq.read_metadata(name)
        except Exception:  # any failure to read the footer is what we are looking for
            return name
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
        if where is not None and any(c in where for c in "*?["):  # a scan over a glob: find the bad file
            where = _first_unreadable(where) or where
        what = f"cannot read {where}" if where else "cannot read a Parquet file"
        return f"{what}: {error} (a truncated or corrupt file: restore it or rerun the pass that wrote it)"
    if isinstance(error, OSError) and (error.filename is not None or error.strerror):
        names = " -> ".join(str(name) for name in (error.filename, error.filename2) if name is not None)
        return f"{error.strerror or error}: {names}" if names else str(error.strerror)
    if isinstance(error, yaml.YAMLError):
        return f"invalid YAML: {error}"
    return None
