"""Run a training command as a local process group; kill the whole group on interruption."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping

#: Set for the job to the launcher's pid (the value ``nas_assets.train.lifeline`` reads).
LAUNCHER_PID_VAR = "NAS_ASSETS_LAUNCHER_PID"
#: Set for the job to the directory where this machine's trainings register
#: (``nas_assets.train.cpu_share``).
TRAININGS_DIR_VAR = "NAS_ASSETS_TRAININGS_DIR"


@dataclass
class LocalOutcome:
    returncode: int
    elapsed_s: float
    log_path: Path
    #: CPU seconds (user + system) of the job and the children it waited for, from ``wait4``.
    cpu_s: float = 0.0


def tail(path: Path, lines: int = 40) -> str:
    """Last ``lines`` lines of a text file ('' if absent)."""
    try:
        with open(path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - 200 * lines))
            text = handle.read().decode(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


class LauncherOrphaned(RuntimeError):
    """The process that started this launcher is gone; the job was stopped with it."""


def run_local(
    command: list[str], env: Mapping[str, str], log_path: Path, *, cwd: str | None = None,
    poll_s: float = 0.5, on_poll: Callable[[], None] | None = None, watch_parent: bool = False,
    trainings_dir: Path | None = None,
) -> LocalOutcome:
    """Run ``command`` with stdout+stderr appended to ``log_path``; wait for it.

    The process gets its own session so that an interruption (Dagster terminating the run,
    Ctrl-C) stops it *and* its DDP children: TERM to the group, KILL after 10 s. It is told this
    process's pid (``NAS_ASSETS_LAUNCHER_PID``) and dies with it when this process is killed
    outright (see :mod:`nas_assets.train.lifeline`). With ``watch_parent`` (a Dagster step
    subprocess), the job is stopped and :class:`LauncherOrphaned` raised when the process that
    started this one disappears, so a SIGKILLed run leaves no training behind. With
    ``trainings_dir`` (``NAS_ASSETS_TRAININGS_DIR``), the trainer registers there and divides
    the machine's CPUs with the other trainings registered in it (:mod:`nas_assets.train.cpu_share`).
    """
    log_path.parent.mkdir(parents=True, exist_ok=True)
    start = time.monotonic()
    parent = os.getppid()
    with open(log_path, "ab") as log:
        job_env = {**os.environ, **env, LAUNCHER_PID_VAR: str(os.getpid())}
        if trainings_dir is not None:
            job_env[TRAININGS_DIR_VAR] = str(trainings_dir)
        proc = subprocess.Popen(command, env=job_env, cwd=cwd, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
        try:
            while True:
                # wait4 rather than poll(): the job's own CPU time, also when several run from threads
                pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
                if pid:
                    proc.returncode = os.waitstatus_to_exitcode(status)
                    break
                if on_poll is not None:
                    on_poll()
                if watch_parent and os.getppid() != parent:
                    raise LauncherOrphaned(f"the process that started this one (pid {parent}) is gone; "
                                           f"stopped {command[0]} (pid {proc.pid})")
                time.sleep(poll_s)
        except BaseException:
            _stop_group(proc)
            raise
    return LocalOutcome(proc.returncode, time.monotonic() - start, log_path, usage.ru_utime + usage.ru_stime)


def _stop_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    except ProcessLookupError:
        pass
