"""The synthetic stand-in directory, generated whole or not at all.

:func:`synthesize_so2sat` writes its three files one after another; a process killed between
them would leave a directory that looks half like a dataset. :func:`ensure_stand_in` generates
into a temporary sibling directory and renames it into place, under a lock, the way the cache is
built (:mod:`nas_assets.train.data.cache`): the target is absent or complete, and the next call
after a kill removes the leftovers and generates again.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import uuid
from pathlib import Path
from typing import Iterator

from nas_assets.core.so2sat import SPLITS
from nas_assets.train.data.synthetic import synthesize_so2sat


def expected_files(n_val: int) -> list[str]:
    """File names of a complete stand-in (no validation file when ``n_val`` is 0, the v3 layout)."""
    return [f"{split}.h5" for split in SPLITS if split != "validation" or n_val > 0]


def ensure_stand_in(out_dir: str | Path, n_train: int, n_val: int, n_test: int, seed: int) -> bool:
    """Make sure ``out_dir`` holds a complete synthetic So2Sat dataset; generate it if not.

    A directory left incomplete by an interrupted generation of an earlier version (only
    stand-in files in it) is replaced; anything else is never deleted.

    Args:
        out_dir: the stand-in directory.
        n_train, n_val, n_test, seed: as for :func:`synthesize_so2sat`.

    Returns:
        True if it was generated now, False if a complete one was already there.

    Raises:
        FileExistsError: ``out_dir`` is incomplete and holds files the generator did not write.
    """
    final = Path(out_dir)
    names = expected_files(n_val)
    parent = final.parent
    parent.mkdir(parents=True, exist_ok=True)
    with _lock(parent / f".{final.name}.lock"):
        if all((final / name).is_file() for name in names):
            return False
        if final.exists():
            foreign = [p.name for p in final.iterdir() if not _is_stand_in_file(p.name)]
            if foreign:
                raise FileExistsError(
                    f"{final}: incomplete synthetic So2Sat directory (missing "
                    f"{', '.join(n for n in names if not (final / n).is_file())}) that also holds "
                    f"{', '.join(sorted(foreign)[:5])}; move it away or point the data path elsewhere"
                )
        _remove_leftovers(parent, final.name)
        tmp = parent / f".{final.name}.tmp-{uuid.uuid4().hex[:8]}"
        try:
            synthesize_so2sat(tmp, n_train=n_train, n_val=n_val, n_test=n_test, seed=seed)
            if final.exists():  # an interrupted generation of an earlier version: replace it
                old = parent / f".{final.name}.old-{uuid.uuid4().hex[:8]}"
                final.rename(old)
                shutil.rmtree(old)
            tmp.rename(final)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return True


def _is_stand_in_file(name: str) -> bool:
    return name in {f"{split}.h5" for split in SPLITS} or (name.startswith(".") and name.endswith(".tmp"))


def _remove_leftovers(parent: Path, name: str) -> None:
    # only the lock holder gets here: every temp/old directory is from a killed generation
    for leftover in [*parent.glob(f".{name}.tmp-*"), *parent.glob(f".{name}.old-*")]:
        shutil.rmtree(leftover, ignore_errors=True)


@contextlib.contextmanager
def _lock(path: Path) -> Iterator[None]:
    """Exclusive ``flock`` (released by the kernel when a holder dies)."""
    import fcntl

    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)
