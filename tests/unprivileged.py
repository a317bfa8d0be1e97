"""Run a check as an unprivileged user: root reads and writes any file whatever its mode, so a
test of "permission denied" must drop root (in a forked child) to see what a normal user sees."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

NOBODY = 65534


@contextmanager
def shared_dir() -> Iterator[Path]:
    """A fresh directory every user can traverse (pytest's tmp_path sits under a 0700 directory)."""
    path = Path(tempfile.mkdtemp(prefix="nas_assets-perm-"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def call_unprivileged(fn: Callable[[], object]) -> str:
    """``fn()`` in a forked child, as ``nobody`` when this process is root, else as this user.

    Returns:
        ``"returned: <value>"``, or ``"<ExceptionType>: <message>"`` when ``fn`` raised.
    """
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        text = ""
        try:
            os.close(read_end)
            if os.geteuid() == 0:
                os.setgroups([])
                os.setgid(NOBODY)
                os.setuid(NOBODY)
            try:
                text = f"returned: {fn()}"
            except BaseException as exc:  # noqa: BLE001 - reported to the parent as text
                text = f"{type(exc).__name__}: {exc}"
            os.write(write_end, text.encode())
        finally:
            os._exit(0)
    os.close(write_end)
    chunks = []
    while chunk := os.read(read_end, 1 << 16):
        chunks.append(chunk)
    os.close(read_end)
    os.waitpid(pid, 0)
    return b"".join(chunks).decode()
