"""Imported by the local executor's fork server only (``stackcurate.executors.preload_in_tasks``, listed by
``runner.task_modules``): loads the MinHash kernels' machine code (numba) once, so that every
``near_signatures`` and ``near_pairs`` task process forked from the server starts with it instead of paying
numba's first call (about 0.8 s of CPU) on its own. Nothing else imports this module."""

from stackcurate.dedup.minhash import warm_up

warm_up()
