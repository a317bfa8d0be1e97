"""Whether a process still runs: the one check behind stale locks, tickets, staged files and runs."""

from __future__ import annotations

import os
from pathlib import Path


def process_start_ticks(pid: int) -> str | None:
    """The start time of ``pid`` in clock ticks since boot (``/proc/<pid>/stat`` field 22), or None
    (no such process, or no /proc). With the pid it names one process: a reused pid starts later."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # the command name (field 2) is in parentheses and may hold spaces: split after its ')'
    fields = stat.rsplit(")", 1)[-1].split()
    return fields[19] if len(fields) > 19 else None


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
