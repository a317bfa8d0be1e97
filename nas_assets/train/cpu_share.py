"""Trainings running at once on one machine divide its CPUs: a ticket per live training.

:func:`~nas_assets.train.cpus.allotted_cpus` says what one process was given. The local launcher
gives the same machine to every training it starts, and Dagster's ``training`` pool lets several
run at once; each would then run one thread per core and they would oversubscribe the CPUs
(issue 13: two trainings on two cores, 2 threads each, ran 1.3-4x slower than one after the
other). Dividing by the pool's limit would make a training alone use a fraction of the machine,
so the trainings count each other instead:

- a training registers a *ticket* -- a file ``<host>-<pid>`` in a trainings directory holding its
  pid and its start time -- for as long as it trains (:func:`registered`), removed when it ends,
  also on an exception;
- every few seconds the trainer counts the live tickets (:func:`live_trainings`; a ticket whose
  process is gone, or whose pid now belongs to another process, is not counted and is removed)
  and uses ``max(1, allotted // live)`` threads (:func:`thread_share`).

Processes that do not register -- another person's work, a CPU hog -- are seen by
:class:`FreeCpus`: this process's CPU time plus the idle time of its CPUs, per second, is what
the others leave it. Running more threads than that is far worse than running fewer: beside
other load, 30 training steps took 9.8 s with one thread and 57 s with two (2 cores, load
average ~5; docs/performance.md). The trainer uses the smaller of the two numbers.

The launcher names the directory in ``NAS_ASSETS_TRAININGS_DIR``; by default one per user in the
machine's temporary directory (:func:`default_trainings_dir`), so trainings of every
configuration and runs directory on this machine see each other. Only tickets of this host
count, should the directory be on a shared file system. No torch here.
"""

from __future__ import annotations

import os
import socket
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterable, Iterator

from nas_assets.core.files import atomic_write
from nas_assets.core.processes import process_exists
from nas_assets.core.processes import process_start_ticks as process_start_time

# set by the local launcher: the directory of the tickets of this machine's trainings
from nas_assets.launch.local import TRAININGS_DIR_VAR  # noqa: F401 (re-exported for the trainer)


def default_trainings_dir() -> Path:
    """One directory per user on this machine (local, so pids in it mean something)."""
    uid = os.getuid() if hasattr(os, "getuid") else 0
    return Path(tempfile.gettempdir()) / f"nas_assets-trainings-{uid}"


def thread_share(allotted: int, live: int) -> int:
    """Threads of one of ``live`` trainings sharing ``allotted`` CPUs: an equal share, at least one."""
    return max(1, allotted // max(1, live))


def _alive(pid: int, start: str | None) -> bool:
    if not process_exists(pid):
        return False
    now = process_start_time(pid)
    return start is None or now is None or now == start


def _ticket_name(pid: int) -> str:
    return f"{socket.gethostname()}-{pid}"


def live_trainings(directory: Path) -> int:
    """Trainings of this host with a ticket in ``directory`` whose process still runs (>= 0).

    Tickets of gone processes are removed (a SIGKILLed trainer cannot remove its own).
    """
    prefix = f"{socket.gethostname()}-"
    try:
        names = [name for name in os.listdir(directory) if name.startswith(prefix)]
    except FileNotFoundError:
        return 0
    live = 0
    for name in names:
        path = Path(directory) / name
        try:
            pid_text, _, start = path.read_text().partition(" ")
            pid = int(pid_text)
        except FileNotFoundError:  # removed meanwhile
            continue
        except (OSError, ValueError):  # being written, or not ours: count it, a training is starting
            live += 1
            continue
        if _alive(pid, start.strip() or None):
            live += 1
        else:
            path.unlink(missing_ok=True)
    return live


@contextmanager
def registered(directory: Path, pid: int | None = None) -> Iterator[Path]:
    """A ticket for this process (or ``pid``) in ``directory`` while the block runs."""
    pid = os.getpid() if pid is None else pid
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / _ticket_name(pid)
    atomic_write(path, f"{pid} {process_start_time(pid) or ''}")  # readers see a whole ticket or none
    try:
        yield path
    finally:
        path.unlink(missing_ok=True)


def idle_cpu_seconds(cpus: Iterable[int], stat_text: str | None = None) -> float | None:
    """Seconds ``cpus`` were idle since boot (idle + iowait of their ``/proc/stat`` lines); None
    without it."""
    if stat_text is None:
        try:
            stat_text = Path("/proc/stat").read_text()
        except OSError:
            return None
    wanted = {f"cpu{n}" for n in cpus}
    rows = (line.split() for line in stat_text.splitlines())
    ticks = sum(int(fields[4]) + int(fields[5]) for fields in rows if fields and fields[0] in wanted)
    return ticks / os.sysconf("SC_CLK_TCK")


def free_cpus(own_cpu_s: float, idle_s: float, wall_s: float) -> float:
    """CPUs the other processes left this one over ``wall_s``: what it used plus what nobody used."""
    return (own_cpu_s + idle_s) / wall_s if wall_s > 0 else 0.0


class FreeCpus:
    """Measures :func:`free_cpus` on this process's CPUs between two calls of :meth:`measure`."""

    def __init__(self, cpus: Iterable[int] | None = None) -> None:
        if cpus is None:
            cpus = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else range(os.cpu_count() or 1)
        self.cpus = sorted(cpus)
        self._start = self._sample()

    def _sample(self) -> tuple[float, float | None, float]:
        own = os.times()
        return time.monotonic(), idle_cpu_seconds(self.cpus), own.user + own.system

    def measure(self, min_window_s: float = 1.0) -> float | None:
        """Free CPUs since the last measurement; None without ``/proc/stat`` or before ``min_window_s``."""
        now = self._sample()
        wall = now[0] - self._start[0]
        if now[1] is None or self._start[1] is None or wall < min_window_s:
            return None
        free = free_cpus(now[2] - self._start[2], now[1] - self._start[1], wall)
        self._start = now
        return free
