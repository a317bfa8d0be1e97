"""The error every NB101 reference-data reader raises for a missing or malformed file.

Shared by :mod:`nas_assets.core.nb101.tfrecord` (whose :class:`~nas_assets.core.nb101.tfrecord.TFRecordError`
subclasses it) and :mod:`nas_assets.core.nb101.reader`, which re-exports it.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["ReferenceDataError"]


class ReferenceDataError(ValueError):
    """A reference file that is missing or not in the expected format; the message says which and why."""


def _check_file(path: Path, expected: str) -> None:
    if not path.is_file():
        what = "is a directory" if path.is_dir() else "does not exist"
        raise ReferenceDataError(f"{path}: {what}; expected {expected}")
