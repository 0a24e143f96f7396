"""A real two-node Ray cluster on this machine, for the cluster tests (run inside a private network
namespace: ``netns.run_in_netns``).

    python tests/ray_cluster.py WORK_DIR SCENARIO:REPO... -- STACKCURATE-RUN-ARGS...

starts ``ray start --head`` and a second node with ``ray start --address`` (each its own raylet, object
store and workers) once, then runs each scenario in turn on it: ``stackcurate run ARGS --out
WORK_DIR/<scenario>/out --ray-address 127.0.0.1:PORT``, and writes what happened to
``WORK_DIR/<scenario>/scenario.json``. Then it stops the cluster (its own processes only: the cluster has its
own temp dir, which its daemons' command lines name).

The kills are driven by events, never by timers: the nodes clone through a ``gate.CloneGate``, which holds
the clone of ``REPO`` (a repository's folder) until the scenario has killed what it kills, so on an idle or
a loaded machine the kill lands while that repository's task runs, before it completes. Scenarios:

- ``kill-driver-then-task``: once ``REPO``'s clone is held and another clone task has completed, SIGKILL
  the driver (its whole process group), then run the same command again, which resumes; its task did not
  complete, so the resumed run clones ``REPO`` again: once that clone is held, SIGKILL the worker process
  running its task (the Ray actor and the processes under it), as the OOM killer or a crash would; the run
  goes on. One pipeline run that resumes after its driver's kill and goes on after a task's.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
from gate import CloneGate, holder

PORT = 6390


def ray(*args: str) -> None:
    # the workers at the driver's priority (Ray's default niceness, 15, lets any other process of a shared
    # machine starve the tasks), as `stackcurate run` does for the local Ray it starts
    env = {**os.environ, "RAY_worker_niceness": "0"}
    subprocess.run(
        [str(Path(sys.executable).with_name("ray")), *args], check=True, capture_output=True, env=env
    )


def start_cluster(temp_dir: str) -> None:
    # a temp dir of its own: /tmp/ray/ray_current_cluster would send other tests' ray.init() here
    common = [
        "--num-cpus=2",
        "--node-ip-address=127.0.0.1",
        "--disable-usage-stats",
        f"--temp-dir={temp_dir}",
    ]
    ray("start", "--head", f"--port={PORT}", "--include-dashboard=false", *common)
    ray("start", f"--address=127.0.0.1:{PORT}", *common)


def completions(out: Path, pass_name: str) -> int:
    folder = out / "logs" / pass_name / "completions"
    return len(list(folder.iterdir())) if folder.is_dir() else 0


def cluster_processes(temp_dir: str) -> list[psutil.Process]:
    """This cluster's daemons (their command lines name its temp dir) and every process under them; other
    Ray instances on the machine are left alone."""
    found: dict[int, psutil.Process] = {}
    for process in psutil.process_iter(["cmdline"]):
        if any(temp_dir in part for part in process.info["cmdline"] or []):
            try:
                for member in [process, *process.children(recursive=True)]:
                    found[member.pid] = member
            except psutil.NoSuchProcess:
                continue
    return list(found.values())


def stop_cluster(temp_dir: str) -> None:
    """SIGKILL this cluster's processes (``ray stop`` would stop every Ray instance of the machine)."""
    for _ in range(3):
        processes = cluster_processes(temp_dir)
        if not processes:
            return
        for process in processes:
            with contextlib.suppress(psutil.NoSuchProcess):
                process.kill()
        psutil.wait_procs(processes, timeout=10)


def run(command: list[str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        command, start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


def is_task_worker(process: psutil.Process) -> bool:
    """The Ray worker process of a pipeline task (datatrove's ``RankWorker`` actor): the outermost one,
    as the actor runs the task in a forked pool process that keeps its title. (The pool process killed
    alone leaves ``Pool.starmap`` waiting for ever: the actor never returns and Ray never retries.)"""

    def is_rank_worker(candidate: psutil.Process | None) -> bool:
        return candidate is not None and any(
            "RankWorker.run_for_rank" in part for part in candidate.cmdline()
        )

    return is_rank_worker(process) and not is_rank_worker(process.parent())


def kill_tree(process: psutil.Process) -> list[int]:
    tree = [process, *process.children(recursive=True)]
    for victim in tree:
        with contextlib.suppress(psutil.NoSuchProcess):
            victim.send_signal(signal.SIGKILL)
    return [victim.pid for victim in tree]


def kill_task(hook: psutil.Process, out: Path) -> dict[str, object]:
    """SIGKILL the worker of the task whose clone ``hook`` holds."""
    task = holder(hook, is_task_worker)
    return {
        "clone_done_when_task_killed": completions(out, "clone"),
        "killed_task_processes": kill_tree(task),
    }


def kill_driver(hook: psutil.Process, process: subprocess.Popen[str], out: Path) -> dict[str, object]:
    """Once another clone task has completed, SIGKILL the driver ``process`` (its process group); return
    when Ray has ended the held task's worker too (its actor shares the driver's fate), so that the task
    cannot complete after the kill."""
    task = holder(hook, is_task_worker)
    deadline = time.monotonic() + 600  # a hang only: the other clone tasks run on the free CPUs
    while completions(out, "clone") < 1:
        assert process.poll() is None and time.monotonic() < deadline, "no clone task completed"
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGKILL)
    done = completions(out, "clone")
    process.wait()
    try:
        task.wait(timeout=300)  # a hang only: Ray ends a dead driver's actors
    except psutil.TimeoutExpired:
        raise AssertionError("the killed driver's task worker still runs") from None
    return {
        "driver_killed_in": "clone",
        "clone_done_when_driver_killed": done,
        "first_returncode": process.returncode,
    }


def held(gate: CloneGate, repo: Path, command: list[str]) -> tuple[subprocess.Popen[str], psutil.Process]:
    """Start ``command`` with ``repo``'s next clone held; return the run and the hook holding the clone."""
    gate.arm(repo)
    process = run(command)
    return process, gate.wait_held(lambda: process.poll() is None)


def let_go(gate: CloneGate, hook: psutil.Process) -> None:
    """Release the held clone and wait for its hook to end (so that a new arm is not taken by it)."""
    gate.release()
    with contextlib.suppress(psutil.NoSuchProcess):
        hook.wait(timeout=300)  # a hang only: the hook polls for the release every 50 ms


def scenario(name: str, repo: Path, command: list[str], out: Path, gate: CloneGate) -> dict[str, object]:
    if name != "kill-driver-then-task":
        raise ValueError(f"unknown scenario {name}")
    report: dict[str, object] = {"scenario": name, "held": str(repo)}
    process, hook = held(gate, repo, command)
    try:
        report |= kill_driver(hook, process, out)
    finally:
        let_go(gate, hook)  # the held git processes end (their driver and task are gone)
    process, hook = held(gate, repo, command)  # the resumed run clones the held repository again
    try:
        report |= kill_task(hook, out)
    finally:
        let_go(gate, hook)
    output, _ = process.communicate(timeout=1200)  # shards and clustering rounds: ~20 Ray passes
    report["returncode"] = process.returncode
    report["output"] = output[-6000:]
    return report


def main() -> int:
    work = Path(sys.argv[1])
    scenarios = [item.split(":", 1) for item in sys.argv[2 : sys.argv.index("--")]]
    args = sys.argv[sys.argv.index("--") + 1 :]
    gate = CloneGate(work / "gate")
    os.environ.update(gate.env)  # the nodes' workers clone: they inherit the gate from `ray start`
    temp_dir = tempfile.mkdtemp(prefix="ray-", dir="/tmp")  # short: Ray's socket paths must stay short
    start_cluster(temp_dir)
    try:
        import ray as ray_module

        ray_module.init(address=f"127.0.0.1:{PORT}", log_to_driver=False)
        nodes = sum(1 for node in ray_module.nodes() if node["Alive"])
        ray_module.shutdown()
        for name, repo in scenarios:
            folder = work / name
            folder.mkdir(parents=True, exist_ok=True)
            out = folder / "out"
            command = [sys.executable, "-m", "stackcurate.cli", "run", *args, "--out", str(out)]
            command += ["--ray-address", f"127.0.0.1:{PORT}"]
            report = {"nodes": nodes, **scenario(name, Path(repo), command, out, gate)}
            (folder / "scenario.json").write_text(json.dumps(report, indent=2))
    finally:
        stop_cluster(temp_dir)
        shutil.rmtree(temp_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
