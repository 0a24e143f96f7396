"""A real two-node Ray cluster on this machine, for the cluster tests (run inside a private network
namespace: ``netns.run_in_netns``).

    python tests/ray_cluster.py WORK_DIR SCENARIO -- STACKCURATE-RUN-ARGS...

starts ``ray start --head`` and a second node with ``ray start --address`` (each its own raylet, object
store and workers), runs ``stackcurate run ARGS --ray-address 127.0.0.1:PORT`` in a scenario, writes what
happened to ``WORK_DIR/scenario.json`` and stops the cluster (its own processes only: the cluster has its own
temp dir, which its daemons' command lines name). Scenarios:

- ``plain``: one run.
- ``kill-task``: once a pass has a completed task and another running, SIGKILL a running task's worker
  process (the Ray actor and the processes under it), as the OOM killer or a crash would; the run goes on.
- ``kill-driver``: once the filter pass has a completed task, SIGKILL the driver (its whole process
  group), then run the same command again, which resumes.
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

PORT = 6390


def ray(*args: str) -> None:
    subprocess.run([str(Path(sys.executable).with_name("ray")), *args], check=True, capture_output=True)


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


def task_workers(temp_dir: str) -> list[psutil.Process]:
    """The cluster's processes running a pipeline task (datatrove's ``RankWorker`` actors)."""
    found = []
    for process in cluster_processes(temp_dir):
        try:
            if any("RankWorker.run_for_rank" in part for part in process.cmdline()):
                found.append(process)
        except psutil.NoSuchProcess:
            continue
    return found


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


def main() -> int:
    work, scenario = Path(sys.argv[1]), sys.argv[2]
    args = sys.argv[sys.argv.index("--") + 1 :]
    out = Path(args[args.index("--out") + 1])
    command = [sys.executable, "-m", "stackcurate.cli", "run", *args, "--ray-address", f"127.0.0.1:{PORT}"]
    report: dict[str, object] = {"scenario": scenario}
    temp_dir = tempfile.mkdtemp(prefix="ray-", dir="/tmp")  # short: Ray's socket paths must stay short
    start_cluster(temp_dir)
    try:
        import ray as ray_module

        ray_module.init(address=f"127.0.0.1:{PORT}", log_to_driver=False)
        report["nodes"] = sum(1 for node in ray_module.nodes() if node["Alive"])
        ray_module.shutdown()
        process = run(command)
        if scenario == "kill-task":
            deadline = time.monotonic() + 240
            killed: list[int] = []
            while not killed and process.poll() is None and time.monotonic() < deadline:
                if completions(out, "clone") >= 1:
                    for worker in task_workers(temp_dir)[:1]:
                        tree = [worker, *worker.children(recursive=True)]
                        for victim in tree:
                            victim.send_signal(signal.SIGKILL)
                        killed = [victim.pid for victim in tree]
                time.sleep(0.05)
            report["killed_task_processes"] = killed
        elif scenario == "kill-driver":
            deadline = time.monotonic() + 240
            while process.poll() is None and time.monotonic() < deadline:
                if completions(out, "filter") >= 1:
                    os.killpg(process.pid, signal.SIGKILL)
                    report["driver_killed_in"] = "filter"
                    report["filter_done_when_killed"] = completions(out, "filter")
                    break
                time.sleep(0.05)
            process.wait()
            report["first_returncode"] = process.returncode
            process = run(command)
        output, _ = process.communicate(timeout=1200)  # shards and clustering rounds: ~20 Ray passes
        report["returncode"] = process.returncode
        report["output"] = output[-6000:]
    finally:
        stop_cluster(temp_dir)
        shutil.rmtree(temp_dir, ignore_errors=True)
    (work / "scenario.json").write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
