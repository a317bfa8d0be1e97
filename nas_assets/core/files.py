"""Atomic file writes: readers see the old file or the whole new one, never a partial one.

A writer stages its file or directory beside the final path as ``.<name>.<pid>-<random>.tmp``
(an existing one it replaces is set aside as ``.<name>.<pid>-<random>.old``). A writer killed
outright (SIGKILL, OOM) cannot clean up, so the next writer of the same path first removes the
staged copies whose process is gone (:func:`remove_dead_temps`). The pid is checked on this
host: every artifact and report is written by the process that runs the Dagster step.

The one writer every module uses for a file it must never leave half-written (result files,
tickets, reports, artifacts, TFRecords): :func:`atomic_writer` (a handle), :func:`atomic_write`
(bytes or text), :func:`atomic_write_json`; :func:`replace_dir` for a directory built whole.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import tempfile
import uuid
from pathlib import Path
from typing import IO, Any, Iterator

from nas_assets.core.processes import process_exists

#: What follows ``.<name>`` in a staged or set-aside copy's name.
_STAGED = re.compile(r"\.(?P<pid>\d+)-[A-Za-z0-9_]+\.(?:tmp|old)")


def staged_path(path: str | os.PathLike, kind: str = "tmp") -> Path:
    """A fresh name beside ``path`` for this process's staged (``tmp``) or set-aside (``old``) copy."""
    path = Path(path)
    return path.with_name(f".{path.name}.{os.getpid()}-{uuid.uuid4().hex[:8]}.{kind}")


def remove_dead_temps(path: str | os.PathLike) -> list[Path]:
    """Delete the staged and set-aside copies of ``path`` whose writer process no longer exists.

    Copies of a live writer (this process included) are kept.

    Returns:
        The paths removed.
    """
    path = Path(path)
    prefix = f".{path.name}"
    removed: list[Path] = []
    try:
        entries = list(os.scandir(path.parent))
    except FileNotFoundError:
        return removed
    for entry in entries:
        match = entry.name.startswith(prefix) and _STAGED.fullmatch(entry.name[len(prefix):])
        if not match or process_exists(int(match["pid"])):
            continue
        if entry.is_dir(follow_symlinks=False):
            shutil.rmtree(entry.path, ignore_errors=True)
        else:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(entry.path)
        removed.append(Path(entry.path))
    return removed


def replace_dir(staged: str | os.PathLike, final: str | os.PathLike) -> Path:
    """Move the whole directory ``staged`` into place as ``final`` (a previous one is set aside,
    then deleted).

    Returns:
        ``final``.
    """
    staged, final = Path(staged), Path(final)
    old = None
    if final.exists():
        old = staged_path(final, "old")
        os.rename(final, old)
    os.rename(staged, final)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
    return final


@contextlib.contextmanager
def atomic_writer(path: str | os.PathLike) -> Iterator[IO[bytes]]:
    """A binary handle on a staged sibling of ``path``; on a clean exit it is fsynced and moved
    onto ``path`` with ``os.replace``, on an exception it is removed and ``path`` is untouched.

    The file gets the mode the umask gives a new file (``mkstemp`` alone would make it 0600),
    since reports and artifacts are meant to be shared. Staged copies of ``path`` left by killed
    writers are removed first.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_dead_temps(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.{os.getpid()}-", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def atomic_write(path: str | os.PathLike, data: bytes | str) -> Path:
    """Write ``data`` (text is UTF-8 encoded) to ``path`` atomically (see :func:`atomic_writer`).

    Returns:
        The path written.
    """
    with atomic_writer(path) as handle:
        handle.write(data.encode("utf-8") if isinstance(data, str) else data)
    return Path(path)


def atomic_write_json(path: str | os.PathLike, payload: Any, indent: int = 1) -> Path:
    """``payload`` as JSON, written atomically."""
    return atomic_write(path, json.dumps(payload, indent=indent))
