"""A trainer started by a launcher dies with it.

The local launcher runs the trainer in its own session (so that stopping a run stops the trainer
and its DDP ranks as one group). A SIGKILL of the launcher cannot forward anything, and the
trainer would live on with PPID 1 beside the re-run of its partition. The launcher names itself
in ``NAS_ASSETS_LAUNCHER_PID``; :func:`tie_to_launcher` then asks Linux for a parent-death
signal (``prctl(PR_SET_PDEATHSIG, SIGKILL)``) and starts a watchdog thread that kills the
process group once the parent is gone (the portable fallback, and the guard against a parent
thread, rather than process, ending). DDP ranks started by the trainer inherit the variable,
rewritten to the trainer's pid, so each process is tied to its own parent.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import threading
import time

from nas_assets.core.processes import process_exists
from nas_assets.launch.local import LAUNCHER_PID_VAR

_PR_SET_PDEATHSIG = 1


def tie_to_launcher(poll_s: float = 1.0) -> bool:
    """Die with the launcher named in ``NAS_ASSETS_LAUNCHER_PID``, if any.

    Returns:
        True if this process is now tied to its launcher, False when no launcher is named (a
        person started the trainer: it outlives its shell as any command does).
    """
    named = os.environ.get(LAUNCHER_PID_VAR, "")
    if not named.isdigit():
        return False
    parent = os.getppid()
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):  # pragma: no cover - no prctl: the watchdog alone
            pass
    if parent != int(named) and not process_exists(int(named)):
        # the launcher died before the parent-death signal was armed
        os._exit(128 + signal.SIGKILL)
    os.environ[LAUNCHER_PID_VAR] = str(os.getpid())  # children (DDP ranks) tie to this process
    threading.Thread(target=_watch, args=(parent, poll_s), name="launcher-watchdog", daemon=True).start()
    return True


def _watch(parent: int, poll_s: float) -> None:
    while os.getppid() == parent:
        time.sleep(poll_s)
    # reparented: the launcher is gone. Take our own DDP ranks with us when we lead the group.
    try:
        if os.getpgrp() == os.getpid():
            os.killpg(os.getpid(), signal.SIGKILL)
    finally:
        os.kill(os.getpid(), signal.SIGKILL)
