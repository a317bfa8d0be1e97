"""The local launcher stops its job when the process that started it is killed (``watch_parent``)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

#: Stands for the ``dagster`` process: starts the launcher (a step subprocess) and waits.
PARENT = "import subprocess, sys, time; subprocess.Popen([sys.executable, *sys.argv[1:]]); time.sleep(600)"
#: Stands for the step subprocess: launches a long job that is *not* tied to it by a lifeline.
LAUNCHER = """
import sys
from pathlib import Path
from nas_assets.launch.local import LauncherOrphaned, run_local
job = ["sh", "-c", 'echo $$ > "$0"; exec sleep 600', sys.argv[1]]
try:
    run_local(job, {}, Path(sys.argv[2]), poll_s=0.1, watch_parent=True)
except LauncherOrphaned as exc:
    print(f"orphaned: {exc}", flush=True)
    sys.exit(3)
"""


def _alive(pid: int) -> bool:
    """The process exists and is not a zombie waiting to be reaped."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, IndexError):
        return False


def _wait(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def test_a_sigkilled_parent_takes_the_launched_job_along(tmp_path):
    job_pid, log = tmp_path / "job.pid", tmp_path / "launcher.log"
    with open(log, "wb") as out:
        parent = subprocess.Popen([sys.executable, "-c", PARENT, "-c", LAUNCHER, str(job_pid),
                                   str(tmp_path / "job.log")],
                                  stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    job = None
    try:
        _wait(lambda: job_pid.exists() and job_pid.read_text().strip().isdigit(), 60, "the job never started")
        job = int(job_pid.read_text())
        launcher = int(Path(f"/proc/{job}/stat").read_text().rsplit(")", 1)[1].split()[1])  # the job's parent
        assert launcher != parent.pid and _alive(launcher)
        parent.kill()  # SIGKILL of the parent alone: the launcher and its job are orphaned
        parent.wait()
        _wait(lambda: not _alive(job), 5, f"job {job} outlived the SIGKILLed parent of its launcher")
        _wait(lambda: not _alive(launcher), 5, f"launcher {launcher} outlived its SIGKILLed parent")
        assert f"orphaned: the process that started this one (pid {parent.pid}) is gone" in log.read_text()
    finally:  # whatever outlived the test: the job's own group, the launcher (in the parent's group)
        for group in ([job] if job and _alive(job) else []) + [parent.pid]:
            try:
                os.killpg(group, signal.SIGKILL)
            except ProcessLookupError:
                pass
