"""Imported by the local executor's fork server only (``stackcurate.executors.preload_in_tasks``): builds the
``spdx-match`` index of the packaged rules (about 2 s: every SPDX text cut into shingles) once, so that every
clone task process forked from the server starts with it instead of building its own. Nothing else imports
this module."""

from stackcurate.licenses.matcher import load_index

load_index()
