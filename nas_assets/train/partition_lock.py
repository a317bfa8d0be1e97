"""At most one trainer per result file: an ``flock`` held by the trainer for its whole life.

The lock is ``<out>/.<hash>.lock`` beside the result ``<out>/<hash>.json``, holding the
holder's pid. The kernel releases it when the holder dies, whatever kills it, so a lock left by
a killed trainer is never in the way. A second trainer for the same result waits for a live
holder (then reuses its result, or resumes from its checkpoints) instead of training beside it
on the same checkpoints and log. The file is removed when the holder ends normally.
"""

from __future__ import annotations

import atexit
import fcntl
import os
import time
from pathlib import Path
from typing import Callable, Optional


class PartitionBusy(RuntimeError):
    """Another live process holds the partition's lock (the message names it and the fix)."""


def lock_path(out_dir: Path, arch_hash: str) -> Path:
    return Path(out_dir) / f".{arch_hash}.lock"


def holder(path: Path) -> Optional[int]:
    """The pid of the live process holding ``path``, or None when nobody holds it."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            text = os.read(fd, 32).decode(errors="replace").strip()
            return int(text) if text.isdigit() else -1
        return None
    finally:
        os.close(fd)


def first_rank() -> bool:
    """True in the process that starts a (possibly distributed) training: not a DDP child
    (``LOCAL_RANK`` > 0) nor a later SLURM or torchrun task."""
    return all(os.environ.get(var, "0") == "0" for var in ("LOCAL_RANK", "RANK", "SLURM_PROCID"))


class PartitionClaim:
    """The held lock; :meth:`release` (also run at exit) removes the file and lets go."""

    def __init__(self, fd: int, path: Path) -> None:
        self.fd, self.path, self.held = fd, path, True
        atexit.register(self.release)

    def release(self) -> None:
        if not self.held:
            return
        self.held = False
        try:  # unlink first: a waiter that opened this file sees it gone and retries on a fresh one
            if os.fstat(self.fd).st_ino == os.stat(self.path).st_ino:
                self.path.unlink()
        except FileNotFoundError:
            pass
        os.close(self.fd)


def claim(out_dir: Path, arch_hash: str, *, wait_s: Optional[float] = None, poll_s: float = 0.5,
          say: Optional[Callable[[str], None]] = None) -> PartitionClaim:
    """Hold the partition's lock until this process ends (or it is released); wait for a holder.

    Args:
        out_dir: the directory of the result file.
        arch_hash: the partition.
        wait_s: longest wait for a live holder; None waits as long as it lives.
        poll_s: seconds between attempts.
        say: where the waiting messages go (default: stdout, flushed).

    Returns:
        The held claim.

    Raises:
        PartitionBusy: the holder still lives after ``wait_s``.
    """
    say = say or (lambda message: print(message, flush=True))
    path = lock_path(out_dir, arch_hash)
    path.parent.mkdir(parents=True, exist_ok=True)
    start = time.monotonic()
    announced = -1e9
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            pid = holder(path)
            waited = time.monotonic() - start
            if wait_s is not None and waited >= wait_s:
                raise PartitionBusy(
                    f"{arch_hash}: another trainer (pid {pid}) is training into {out_dir} "
                    f"(it holds {path}); wait for it to finish or stop it (kill {pid}), then run again"
                ) from None
            if waited - announced >= 30:
                say(f"{arch_hash}: trainer pid {pid} holds {path}; waiting for it to finish")
                announced = waited
            time.sleep(poll_s)
            continue
        try:  # a holder that ended normally unlinked the file we opened: lock the new one instead
            same = os.fstat(fd).st_ino == os.stat(path).st_ino
        except FileNotFoundError:
            same = False
        if not same:
            os.close(fd)
            continue
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        return PartitionClaim(fd, path)
