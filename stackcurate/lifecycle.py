"""Process lifetime: workers die with their driver, and temporary folders never outlive their process.

A ``stackcurate run`` killed with SIGKILL (the OOM killer, ``kill -9``, a pre-empted node) cannot run any
clean-up of its own. Two things make such a kill leave nothing behind:

- **Workers die with the driver.** Every process the driver forks (the multiprocessing manager) asks the
  kernel for ``SIGKILL`` when its parent exits (Linux ``prctl(PR_SET_PDEATHSIG)``); pool workers, forked
  by the forkserver, watch the driver itself (``die_with``) and kill themselves when it is gone.
- **Temporary folders carry their owner's pid** (``stackcurate-clone-<pid>-*``, ``stackcurate-log-<pid>-*``
  in the system temp dir or a configured work dir). Each process removes its own when done; the next run
  removes those whose owner process no longer exists or is a zombie (``remove_stale_scratch``). Folders of
  live processes, such as another run on the same machine, are left alone.
"""

from __future__ import annotations

import ctypes
import os
import re
import select
import shutil
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path

#: the temporary folders stackcurate makes (clones, per-task logs), with their owner's pid
_OWNED = re.compile(r"^stackcurate-(?:clone|log)-(?P<pid>\d+)-")
#: <linux/prctl.h>
_PR_SET_PDEATHSIG = 1

_hook_installed = False
_watching: set[tuple[int, int]] = set()  # (this process, the process it dies with)


def die_with_parent() -> None:
    """Ask the kernel to SIGKILL this process when its parent exits (Linux only; a no-op elsewhere).

    If the parent is already gone (it died between our fork and this call), exit at once."""
    if not sys.platform.startswith("linux"):
        return
    parent = os.getppid()
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        return  # no prctl (an unusual libc): workers may outlive a killed driver, as without this
    if os.getppid() != parent:
        os._exit(1)


def die_with(pid: int) -> None:
    """SIGKILL this process as soon as process ``pid`` (the driver, not necessarily our parent) exits.

    A pool worker's parent is the forkserver, which outlives a killed driver for a while; the worker
    watches the driver itself (a ``pidfd`` on Linux, else a poll every 0.2 s) from a daemon thread."""

    def watch() -> None:
        try:
            fd = os.pidfd_open(pid)
        except (AttributeError, OSError):
            fd = -1
        if fd >= 0:
            select.select([fd], [], [])  # readable once the process has exited
        else:
            while _alive(pid):
                time.sleep(0.2)
        os.kill(os.getpid(), signal.SIGKILL)

    if (os.getpid(), pid) in _watching:  # a pool worker runs many tasks: one watcher is enough
        return
    if not _alive(pid):
        os.kill(os.getpid(), signal.SIGKILL)
    _watching.add((os.getpid(), pid))
    threading.Thread(target=watch, name=f"die-with-{pid}", daemon=True).start()


def workers_die_with_driver() -> None:
    """Make every process this one forks from now on call ``die_with_parent`` (once per process)."""
    global _hook_installed
    if _hook_installed or not hasattr(os, "register_at_fork"):
        return
    os.register_at_fork(after_in_child=die_with_parent)
    _hook_installed = True


def make_scratch(kind: str, dir: str | None = None) -> Path:
    """A new temporary folder ``stackcurate-<kind>-<pid>-*`` under ``dir`` (default: the system temp dir)."""
    return Path(tempfile.mkdtemp(prefix=f"stackcurate-{kind}-{os.getpid()}-", dir=dir))


def _alive(pid: int) -> bool:
    """Whether process ``pid`` still runs. A zombie does not: a task killed with its driver is reparented
    to PID 1, and where PID 1 does not reap orphans (a container's entry command) it stays a zombie for good,
    which ``kill(pid, 0)`` alone would count as alive, keeping its temporary folder forever."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # someone else's process: it exists
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True  # no /proc (not Linux), or it ended just now: the folder waits for the next start
    state = stat.rsplit(")", 1)[1].split()[0]  # the name, in parentheses, may itself hold spaces or ')'
    return state not in ("Z", "X")


def remove_stale_scratch(dirs: list[str | None] | None = None) -> list[Path]:
    """Remove the temporary folders of stackcurate processes that no longer exist; return them.

    ``dirs``: the folders to look in (None entries mean the system temp dir; default: only that)."""
    removed: list[Path] = []
    for base in {Path(d or tempfile.gettempdir()) for d in (dirs or [None])}:
        try:
            children = list(base.iterdir())
        except OSError:
            continue
        for child in children:
            match = _OWNED.match(child.name)
            if match is None or _alive(int(match["pid"])):
                continue
            try:
                if child.is_dir() and not child.is_symlink() and child.stat().st_uid == os.getuid():
                    shutil.rmtree(child, ignore_errors=True)
                    removed.append(child)
            except OSError:
                continue
    return removed
