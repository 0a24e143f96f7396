"""A gate that holds the clone of one repository until the test lets it go: what kill tests wait for.

A kill test must kill a task at the point under test (on a repository, before its task completes), on an
idle machine and on a loaded one alike. Polling for a moment and racing the task to it fails when the task
gets there and past it between two polls (a loaded machine). The gate removes the race: the task stops at
the point and stays there until the test has killed what it wants to kill.

How: git runs the program named by ``uploadpack.packObjectsHook`` (read from the global config only, here
the file ``GIT_CONFIG_GLOBAL`` names) whenever it serves a clone, ``file://`` included (the clone stage turns
local paths into ``file://`` URLs). The hook is a shell script: when the repository being served is the
armed one, it takes the arm (a rename, so exactly one clone is held), writes its pid to ``reached``, and
waits for ``release`` before running ``git pack-objects`` as git asked. Any other clone, and every clone
after the held one, passes straight through, so a resumed or retried run is not held again.

The product is not changed: the held process is the ``git clone`` the clone stage started, and the task
above it is in the state it is in during any slow clone.
"""

from __future__ import annotations

import os
import shlex
import time
from collections.abc import Callable
from pathlib import Path

import psutil

HOOK = """#!/bin/sh
# uploadpack.packObjectsHook of tests/gate.py: hold the armed repository's clone until released
gate={gate}
if [ "$(pwd -P)" = "$(cat "$gate/armed" 2>/dev/null)" ] && mv "$gate/armed" "$gate/taken.$$" 2>/dev/null; then
    echo $$ > "$gate/reached.$$" && mv "$gate/reached.$$" "$gate/reached"
    while [ ! -e "$gate/release" ]; do sleep 0.05; done
fi
exec "$@"
"""


class CloneGate:
    """Holds one clone of an armed repository (see the module docstring). ``env`` goes into the
    environment of the processes that clone (a ``stackcurate run``, a Ray node)."""

    def __init__(self, folder: Path):
        self.folder = folder.resolve()
        self.folder.mkdir(parents=True, exist_ok=True)
        hook = self.folder / "hook.sh"
        hook.write_text(HOOK.format(gate=shlex.quote(str(self.folder))))
        hook.chmod(0o755)
        config = self.folder / "gitconfig"
        config.write_text(f"[uploadpack]\n\tpackObjectsHook = {hook}\n")
        self.env = {"GIT_CONFIG_GLOBAL": str(config)}

    def arm(self, repository: Path) -> None:
        """Hold the next clone of ``repository`` (a non-bare repository's working tree)."""
        for name in ("reached", "release"):
            (self.folder / name).unlink(missing_ok=True)
        git_dir = (repository / ".git").resolve()
        (self.folder / "armed.tmp").write_text(str(git_dir))
        (self.folder / "armed.tmp").rename(self.folder / "armed")

    def wait_held(self, running: Callable[[], bool], seconds: float = 600) -> psutil.Process:
        """Wait until the armed clone is held; return the hook process that holds it. ``running`` says
        whether the process expected to get there still runs (a run that ended without reaching the gate
        fails here, with its cause, rather than after ``seconds``). ``seconds`` bounds a hang only."""
        reached = self.folder / "reached"
        deadline = time.monotonic() + seconds
        while not reached.exists():
            assert running(), "the run ended without cloning the armed repository"
            assert time.monotonic() < deadline, "the armed repository was not cloned (hang)"
            time.sleep(0.01)
        return psutil.Process(int(reached.read_text()))

    def release(self) -> None:
        """Let the held clone (or, once its task is killed, its orphaned git processes) go on."""
        (self.folder / "release").touch()
        (self.folder / "armed").unlink(missing_ok=True)


def holder(hook: psutil.Process, is_task: Callable[[psutil.Process], bool]) -> psutil.Process:
    """The first ancestor of the gate's ``hook`` process for which ``is_task`` holds: the task process
    whose clone is held."""
    for process in hook.parents():
        if is_task(process):
            return process
    raise AssertionError(f"no task process above the held clone (pid {hook.pid})")


def forkserver_child(process: psutil.Process) -> bool:
    """A local executor's task process: a child of its multiprocessing fork server. A task is a fork of the
    fork server and keeps its command line, so the fork server is the parent that names ``forkserver`` and
    whose own parent does not (a child of a task, such as its ``git clone``, has a ``forkserver`` parent
    too)."""

    def is_forkserver(candidate: psutil.Process | None) -> bool:
        return candidate is not None and "forkserver" in " ".join(candidate.cmdline())

    parent = process.parent()
    return is_forkserver(parent) and not is_forkserver(parent.parent())


def wait_gone(process: psutil.Process, seconds: float = 60) -> None:
    """Wait for ``process`` to end (a zombie counts as ended); ``seconds`` bounds a hang only."""
    try:
        process.wait(timeout=seconds)
    except psutil.TimeoutExpired:
        if process.status() != psutil.STATUS_ZOMBIE:
            raise AssertionError(f"process {process.pid} still runs {seconds:.0f} s after its kill") from None


def env_with(gate: CloneGate) -> dict[str, str]:
    """The current environment plus the gate's git config."""
    return {**os.environ, **gate.env}
