"""Imported by the local executor's fork server only (``stackcurate.executors.preload_in_tasks``, listed by
``runner.task_modules``): imports presidio-analyzer once, without PyTorch (``presidio_import``), so that every
curate task process forked from the server starts with it. Nothing else imports this module."""

from stackcurate.pii.presidio_import import presidio

presidio()
