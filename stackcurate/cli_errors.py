"""Which exceptions are a user's expected failure (one line, exit 2) and what that line says.

Expected: our own ``StackcurateError``s; file-system errors (a missing path, no permission, ``--out`` that
is a file or under a file, a read-only folder, a full disk), named with the path; unreadable or truncated
Parquet, named with the file being read; invalid YAML. Anything else is a bug and keeps its traceback, as
does every error under ``--debug``.
"""

from __future__ import annotations

from pathlib import PurePath
from types import TracebackType

import yaml

from stackcurate.errors import StackcurateError


def _parquet_being_read(trace: TracebackType | None) -> str | None:
    """The innermost ``*.parquet`` path held by a frame of ``trace`` (Arrow's errors do not name the file;
    the frame that opened it does, as ``path``/``source``/``file`` or similar)."""
    found = None
    while trace is not None:
        for value in trace.tb_frame.f_locals.values():
            if isinstance(value, (str, PurePath)) and str(value).endswith(".parquet"):
                found = str(value)
        trace = trace.tb_next
    return found


def expected_failure(error: BaseException) -> str | None:
    """The one-line message for an expected failure, or None for a bug."""
    if isinstance(error, StackcurateError):
        return str(error)
    try:
        import pyarrow as pa
    except ImportError:  # pragma: no cover - pyarrow is a dependency
        pa = None
    if pa is not None and isinstance(error, pa.ArrowException):
        where = _parquet_being_read(error.__traceback__)
        what = f"cannot read {where}" if where else "cannot read a Parquet file"
        return f"{what}: {error} (a truncated or corrupt file: restore it or rerun the pass that wrote it)"
    if isinstance(error, OSError) and (error.filename is not None or error.strerror):
        names = " -> ".join(str(name) for name in (error.filename, error.filename2) if name is not None)
        return f"{error.strerror or error}: {names}" if names else str(error.strerror)
    if isinstance(error, yaml.YAMLError):
        return f"invalid YAML: {error}"
    return None
