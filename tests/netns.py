"""Run commands inside a private network namespace (tests send traffic only to loopback or their own).

Ray registers on the machine's interface address even when told to use loopback, and tests may only send
traffic to loopback or to namespaces they made themselves. ``unshare -n`` (root) gives a namespace whose only
interface is ``lo``; we bring it up and run the command there.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
from pathlib import Path

NETNS_AVAILABLE = os.geteuid() == 0 and shutil.which("unshare") is not None and shutil.which("ip") is not None
NETNS_REASON = "needs root with unshare and ip (CI runs as root)"


def run_in_netns(
    command: list[str], timeout: float = 300, env: dict[str, str] | None = None, cwd: Path | None = None
) -> str:
    """Run ``command`` in a fresh network namespace with ``lo`` up; return its combined output."""
    script = "ip link set lo up && exec " + shlex.join(command)
    result = subprocess.run(
        ["unshare", "--net", "--", "sh", "-c", script],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
        env={**os.environ, "RAY_AUTH_MODE": "disabled", **(env or {})},
    )
    output = result.stdout + result.stderr
    if result.returncode != 0:
        raise AssertionError(f"command failed ({result.returncode}): {shlex.join(command)}\n{output[-4000:]}")
    return output
