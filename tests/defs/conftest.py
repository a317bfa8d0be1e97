"""Fixtures for Dagster-layer tests: a store pre-filled with the space (computed once per session)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def space_store(space, fla_index, tmp_path_factory) -> Path:
    """A DuckDB store holding the full architecture space (as architecture_space writes it)."""
    from nas_assets.core import store
    from nas_assets.core.cost import SO2SAT_SHAPE
    from nas_assets.core.space_table import architecture_frame

    path = tmp_path_factory.mktemp("store") / "space.duckdb"
    src, dst = fla_index.edges()
    with store.connect(path) as conn:
        store.write_architectures(conn, architecture_frame(space, SO2SAT_SHAPE, fla_index))
        store.write_neighbours(conn, "fla", src, dst)
    return path


@pytest.fixture
def fresh_store(space_store, tmp_path) -> Path:
    """A private copy of :func:`space_store`."""
    return Path(shutil.copy(space_store, tmp_path / "nas.duckdb"))
