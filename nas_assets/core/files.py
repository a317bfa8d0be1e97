"""Atomic file writes: readers see the old file or the whole new one, never a partial one.

The one writer every module uses for a file it must never leave half-written (result files,
tickets, reports, artifacts, TFRecords). Directories that are built whole (the data cache, the
synthetic stand-in, a surrogate version) are swapped into place by their own modules.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import IO, Any, Iterator


@contextlib.contextmanager
def atomic_writer(path: str | os.PathLike) -> Iterator[IO[bytes]]:
    """A binary handle on a temporary sibling of ``path``; on a clean exit it is fsynced and moved
    onto ``path`` with ``os.replace``, on an exception it is removed and ``path`` is untouched.

    The file gets the mode the umask gives a new file (``mkstemp`` alone would make it 0600),
    since reports and artifacts are meant to be shared.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
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
