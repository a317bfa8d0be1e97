"""Whether a process still runs: the one check behind stale locks, tickets, staged files and runs."""

from __future__ import annotations

import os
from pathlib import Path


def process_exists(pid: int) -> bool:
    """Whether process ``pid`` exists on this machine and is not a zombie (a killed process that
    nobody has reaped yet is gone for every purpose here). Another user's process counts."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # another user's process: it exists
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):  # no /proc (not Linux) or it just ended: existing is enough
        return True
