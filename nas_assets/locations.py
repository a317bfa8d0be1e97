"""Where the pipeline's files live, from the environment: one answer for the command line, the
demo and the Dagster layer (no Dagster import here).

``NAS_ASSETS_DATA_DIR`` (default ``./data``) holds everything the pipeline writes;
``NAS_ASSETS_DB`` overrides the store's path (default ``$NAS_ASSETS_DATA_DIR/nas_assets.duckdb``);
``NAS_ASSETS_NB101`` points at NAS-Bench-101 CIFAR-10 data (default: the cells shipped with the package).
"""

from __future__ import annotations

import os
from pathlib import Path


def data_dir() -> Path:
    """``$NAS_ASSETS_DATA_DIR``, else ``./data`` (absolute)."""
    return Path(os.environ.get("NAS_ASSETS_DATA_DIR", "data")).resolve()


def store_path() -> str:
    """``$NAS_ASSETS_DB``, else ``$NAS_ASSETS_DATA_DIR/nas_assets.duckdb``, else
    ``./data/nas_assets.duckdb``."""
    if os.environ.get("NAS_ASSETS_DB"):
        return str(Path(os.environ["NAS_ASSETS_DB"]).resolve())
    return str(data_dir() / "nas_assets.duckdb")


def reference_path() -> str | None:
    """``$NAS_ASSETS_NB101`` (a .tfrecord or .json), else None: the shipped 20,001 NB101 cells."""
    if os.environ.get("NAS_ASSETS_NB101"):
        return str(Path(os.environ["NAS_ASSETS_NB101"]).resolve())
    return None
