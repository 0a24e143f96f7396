"""What a running pass shows: a progress bar on a terminal, progress lines at a bounded rate in a log.

Tasks write ``progress/<rank>.json`` in their pass's logging folder (``stage.ProgressReporter``); the driver
polls them (``progress_poll_interval``: bounded requests on object storage). On an interactive console a
pass draws one bar. Otherwise (a log file, CI, ``nohup``) it prints a line such as
``pass clone: 120/229 repos (52%), 1m20s`` at most once every ``log_every_s`` seconds (default
``LOG_EVERY_S``, or ``$STACKCURATE_PROGRESS_S``) and only when the count moved, so a long run's log says how
far it is without growing by a line per file.
"""

from __future__ import annotations

import json
import os
import threading
import time
from typing import Any

from datatrove.io import get_datafolder
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from stackcurate.layout import RunLayout
from stackcurate.stage import progress_poll_interval

#: Seconds between two progress lines of a pass when the console is not a terminal: 2 lines a minute keep
#: a day-long pass's log under 3,000 lines per pass.
LOG_EVERY_S = 30.0


def log_every_s() -> float:
    """``$STACKCURATE_PROGRESS_S`` when set to a number >= 0, else ``LOG_EVERY_S``."""
    try:
        value = float(os.environ.get("STACKCURATE_PROGRESS_S", LOG_EVERY_S))
    except ValueError:
        return LOG_EVERY_S
    return value if value >= 0 else LOG_EVERY_S


class LineThrottle:
    """Decides when a progress line is due: ``every_s`` seconds after the last one, and a changed count."""

    def __init__(self, every_s: float, started: float):
        self.every_s = every_s
        self.last_time = started
        self.last_done = 0

    def due(self, now: float, done: int) -> bool:
        if done == self.last_done or now - self.last_time < self.every_s:
            return False
        self.last_time, self.last_done = now, done
        return True


def _elapsed(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return (
        f"{hours}h{minutes:02d}m{secs:02d}s" if hours else f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"
    )


def progress_line(name: str, done: int, total: int, unit: str, seconds: float) -> str:
    """``pass NAME: DONE/TOTAL UNIT (P%), ELAPSED``."""
    share = f" ({100 * done / total:.0f}%)" if total else ""
    return f"pass {name}: {done:,}/{total:,} {unit}{share}, {_elapsed(seconds)}"


class PassProgress:
    """Shows a pass's progress while it runs (module docstring); a context manager around the executor.

    ``run_pass``: the pass (``name``, ``tasks``, ``unit``, ``work_total``); ``every_s``: seconds between log
    lines (default ``log_every_s()``)."""

    def __init__(self, console: Console, layout: RunLayout, run_pass: Any, every_s: float | None = None):
        self.console = console
        self.folder = get_datafolder(layout.logs(run_pass.name))
        self.run_pass = run_pass
        self.every_s = log_every_s() if every_s is None else every_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._bar: Progress | None = None
        self._task_id: Any = None

    def done(self) -> int:
        """Work units the tasks reported done so far (files being replaced right now count next time)."""
        done = 0
        if not self.folder.isdir("progress"):
            return 0
        for name in self.folder.list_files("progress", glob_pattern="*.json"):
            try:
                with self.folder.open(name, "r") as handle:
                    done += int(json.load(handle)["done"])
            except (OSError, ValueError, KeyError):
                continue  # being replaced right now; next poll reads it
        return done

    def _poll(self) -> None:
        started = time.monotonic()
        throttle = LineThrottle(self.every_s, started)
        # polling scaled to the task count: bounded requests per second on object storage
        while not self._stop.wait(progress_poll_interval(self.run_pass.tasks)):
            done = self.done()
            if self._bar is not None:
                self._bar.update(self._task_id, completed=done)
            elif throttle.due(time.monotonic(), done):
                run_pass = self.run_pass
                line = progress_line(
                    run_pass.name, done, run_pass.work_total, run_pass.unit, time.monotonic() - started
                )
                self.console.print(line, highlight=False)

    def __enter__(self) -> PassProgress:
        if self.console.is_terminal:
            self._bar = Progress(
                TextColumn(f"[bold]{self.run_pass.name}[/]"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn(self.run_pass.unit),
                TimeElapsedColumn(),
                console=self.console,
                transient=False,
            )
            self._bar.start()
            self._task_id = self._bar.add_task(self.run_pass.name, total=self.run_pass.work_total)
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
        if self._bar is not None:
            self._bar.update(self._task_id, completed=self.done())
            self._bar.stop()
