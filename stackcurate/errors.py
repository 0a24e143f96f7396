"""The small error vocabulary the runner acts on (docs/architecture.md, "Code layout").

- ``FatalError``: stop the run with a clear message (bad config, unreadable repos list, run-dir mismatch).
- ``ItemError``: one item (repository, file) is skipped; the stage counts ``reason``, logs, and goes on.
- ``RetryableError``: a transient failure (clone timeout, network hiccup); retried with back-off, then an
  ``ItemError``.
"""

from __future__ import annotations


class StackcurateError(Exception):
    """Base class of every error this package raises on purpose."""


class FatalError(StackcurateError):
    """The run cannot go on; the message says what to fix."""


class ItemError(StackcurateError):
    """One item fails; ``reason`` is the stats label (``dropped_<reason>`` / ``failed_<reason>``)."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason


class RetryableError(ItemError):
    """An item failure worth retrying (timeouts, transient network errors)."""
