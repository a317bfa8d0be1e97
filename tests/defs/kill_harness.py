"""Drive ``dagster asset materialize`` in a throw-away instance, SIGKILL it at a moment seen in its
files, and inspect what it left: run states, pool slots, temp files, locks, stray processes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from dagster import DagsterInstance, DagsterRunStatus

from nas_assets.train.partition_lock import holder
from tests.dagster_server import BIN, REPO

MODULE = "tests.defs.tiny_defs"
#: The variable naming the store that tiny_defs' architecture_space reads the space's rows from.
SPACE_FROM = "NAS_ASSETS_TEST_SPACE_FROM"
#: Large enough that generating the data and building its cache take a moment a test can catch.
SYNTHETIC = {"synthetic_train": 400, "synthetic_val": 200, "synthetic_test": 200}
#: One 2-epoch run of a narrow network measured at epochs 1 and 2: seconds on one CPU.
TRAINING = {"budgets": [1, 2], "protocol": "snapshot", "stem_channels": 8, "cells_per_stack": 1,
            "batch_size": 32}


class Materialization:
    """One ``dagster asset materialize`` in its own process group (as a terminal would start it)."""

    def __init__(self, env: dict[str, str], log: Path, select: str, partition: str | None = None,
                 config: dict | None = None) -> None:
        cmd = [str(BIN / "dagster"), "asset", "materialize", "-m", MODULE, "--select", select]
        if partition:
            cmd += ["--partition", partition]
        if config:
            cmd += ["--config-json", json.dumps(config)]
        self.log = log
        with open(log, "wb") as out:
            self.proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdin=subprocess.DEVNULL, stdout=out,
                                         stderr=subprocess.STDOUT, start_new_session=True)

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_until(self, moment: Callable[[], bool], what: str, timeout: float = 180) -> None:
        """Poll ``moment`` (a file or a log line appearing) until true; fail if the run ends first."""
        deadline = time.monotonic() + timeout
        while not moment():
            if self.proc.poll() is not None:
                raise AssertionError(f"the run ended (code {self.proc.returncode}) before "
                                     f"{what}:\n{self.text()[-3000:]}")
            if time.monotonic() > deadline:
                self.kill_group()
                raise AssertionError(f"{what} did not happen within {timeout:.0f} s:\n{self.text()[-3000:]}")
            time.sleep(0.01)

    def kill_group(self) -> None:
        """SIGKILL the whole process group (a closed terminal, the OOM killer, a node reboot)."""
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait()

    def kill_dagster(self) -> None:
        """SIGKILL only the ``dagster`` process; its step subprocesses are left to notice."""
        self.proc.kill()
        self.proc.wait()

    def finish(self, timeout: float = 240) -> str:
        """Wait for a clean end (exit 0); on a timeout (a run blocked for ever) kill it and fail."""
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill_group()
            raise AssertionError(f"still running after {timeout:.0f} s:\n{self.text()[-3000:]}") from None
        assert self.proc.returncode == 0, self.text()[-4000:]
        return self.text()


def glob_any(root: Path, pattern: str) -> Callable[[], bool]:
    return lambda: any(root.glob(pattern))


def lock_held(root: Path, pattern: str) -> Callable[[], bool]:
    """A live process holds a lock file matching ``pattern`` (a killed holder's file does not count)."""
    return lambda: any(holder(p) is not None for p in root.glob(pattern))


def stray_processes(home: Path) -> list[str]:
    """Processes still running with this instance's DAGSTER_HOME in their environment."""
    needle = f"DAGSTER_HOME={home}".encode() + b"\0"
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            if needle in (proc / "environ").read_bytes() + b"\0":
                state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
                if state != "Z":
                    cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ")[:200]
                    found.append(f"{proc.name}: {cmdline!r}")
        except OSError:
            continue
    return found


def held_locks(data: Path) -> list[str]:
    """Lock files under ``data`` that a live process holds (a dying one holds them until it is gone)."""
    return [str(p.relative_to(data)) for p in data.rglob("*.lock") if holder(p) is not None]


def wait_no_strays(home: Path, data: Path, timeout: float = 15) -> None:
    """Wait until no process of the instance runs and no lock is held (a SIGKILLed trainer takes a
    moment to let go of its memory, and of its lock, after /proc stops showing its environment)."""
    deadline = time.monotonic() + timeout
    while ((left := stray_processes(home)) or held_locks(data)) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not left, f"processes outlived the runs: {left}"
    assert not held_locks(data), f"locks still held: {held_locks(data)}"


def leftovers(data: Path) -> list[str]:
    """Temp files or directories and held locks under ``data`` (none after a clean end)."""
    return [str(p.relative_to(data)) for p in data.rglob("*") if ".tmp" in p.name] + held_locks(data)


def instance_state(home: Path, pool: str = "training") -> tuple[dict[str, int], int, int]:
    """(runs per status, claimed slots of ``pool``, pending steps of ``pool``)."""
    with DagsterInstance.from_config(str(home)) as instance:
        statuses: dict[str, int] = {}
        for record in instance.get_run_records():
            key = record.dagster_run.status.value
            statuses[key] = statuses.get(key, 0) + 1
        info = instance.event_log_storage.get_concurrency_info(pool)
        return statuses, len(info.claimed_slots), info.pending_step_count


ACTIVE = {DagsterRunStatus.STARTED.value, DagsterRunStatus.STARTING.value, DagsterRunStatus.CANCELING.value}
