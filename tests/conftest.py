"""Shared fixtures: the enumerated space (computed once per session) and reference data."""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

import numpy as np
import pytest

#: Cells of the shipped NB101 reference the tests export to the 1k-JSON format (its first rows,
#: exactly the cells of NB101's public 1k export).
REFERENCE_JSON_CELLS = 1000


@pytest.fixture(scope="session")
def space():
    from nas_assets.core.cells.enumeration import enumerate_space

    return enumerate_space()


@pytest.fixture(scope="session")
def fla_index(space):
    from nas_assets.core.cells.encoding import fla_neighbour_index

    return fla_neighbour_index(space)


@pytest.fixture(scope="session")
def shipped_raw():
    """The shipped NB101 CIFAR-10 reference (20,001 cells) as a raw frame (read-only by convention)."""
    from nas_assets.core.nb101.shipped import load_shipped_raw

    return load_shipped_raw()


@pytest.fixture(scope="session")
def reference_path(shipped_raw, tmp_path_factory) -> str:
    """An NB101 1k-format JSON export (columns as lists, padded cells) of the first 1,000 shipped cells."""
    from tests.factories import write_nb101_json_export

    path = tmp_path_factory.mktemp("nb101") / "nb101_cifar10_1k.json"
    write_nb101_json_export(shipped_raw.head(REFERENCE_JSON_CELLS), path)
    return str(path)


@pytest.fixture(scope="session")
def reference(shipped_raw) -> dict:
    """NB101 CIFAR-10 reference rows (the first 1,000 shipped architectures): key, pruned matrix,
    labels and NB101's trainable parameters."""
    rows = []
    for _, row in shipped_raw.head(REFERENCE_JSON_CELLS).iterrows():
        keep = np.flatnonzero(row["operations"] != -3)
        rows.append({"key": row["key"], "matrix": row["adjacency"][np.ix_(keep, keep)].astype(int),
                     "labels": row["operations"][keep].astype(int).tolist(),
                     "params": int(row["trainable_parameters"])})
    return {"rows": rows}


@pytest.fixture(scope="session")
def oracle_hash():
    """google's ``graph_util.hash_module`` from the nasbench-pytorch wheel, loaded without
    importing the package (whose ``__init__`` imports torch)."""
    spec = importlib.util.find_spec("nasbench_pytorch")
    if spec is None or not spec.submodule_search_locations:
        pytest.fail("nasbench-pytorch is not installed (pip install -e '.[test]')")
    path = Path(list(spec.submodule_search_locations)[0]) / "model" / "graph_util.py"
    mod_spec = importlib.util.spec_from_file_location("_nb101_graph_util", path)
    module = importlib.util.module_from_spec(mod_spec)
    mod_spec.loader.exec_module(module)
    return module.hash_module


@pytest.fixture(scope="session")
def space_store(space, fla_index, tmp_path_factory) -> Path:
    """A DuckDB store holding the full architecture space (as architecture_space writes it)."""
    from nas_assets.core import store
    from nas_assets.core.cells.cost import SO2SAT_SHAPE
    from nas_assets.core.cells.table import architecture_frame

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
