"""A step subprocess dies with the run process that started it.

The multiprocess executor runs each step in a child process (a ``multiprocessing`` child of the
run's process) that hands its events to its parent through a pipe. When only the parent is
SIGKILLed (``kill -9`` of ``dagster asset materialize``, not of its process group), the step runs
on as an orphan, and once it ends it waits for ever to hand over events that nobody reads: a
report's metadata (its figures) is larger than the pipe. :func:`die_with_run_process` starts, in
such a child, a thread that SIGKILLs it once its parent is gone. Every write of the pipeline is
atomic or transactional, so what it leaves is what a kill of the whole group leaves, and the next
run takes it from there (docs/faults.md).
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time

_started = False


def die_with_run_process(poll_s: float = 0.5) -> bool:
    """In a step subprocess, SIGKILL this process within ``poll_s`` of its parent's death.

    Returns:
        True when the watch was started (now or before), False in any other process (the run's
        own process, a code server, pytest): those outlive their parents as commands do.
    """
    global _started
    if multiprocessing.parent_process() is None:
        return False
    if not _started:
        _started = True
        threading.Thread(target=_watch, args=(os.getppid(), poll_s), name="run-process-watch",
                         daemon=True).start()
    return True


def _watch(parent: int, poll_s: float) -> None:
    while os.getppid() == parent:
        time.sleep(poll_s)
    os.kill(os.getpid(), signal.SIGKILL)
