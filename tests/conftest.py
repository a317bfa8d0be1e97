"""Shared fixtures: the enumerated space (computed once per session) and reference data."""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
REFERENCE_JSON = REPO.parent / "shared" / "reference" / "nb101_cifar10_1k.json"


@pytest.fixture(scope="session")
def space():
    from nas_assets.core.enumeration import enumerate_space

    return enumerate_space()


@pytest.fixture(scope="session")
def fla_index(space):
    from nas_assets.core.encoding import fla_neighbour_index

    return fla_neighbour_index(space)


@pytest.fixture(scope="session")
def reference_path() -> str:
    """Path of the NB101 CIFAR-10 1k export (read in place from ../shared, never copied)."""
    if not REFERENCE_JSON.exists():
        pytest.fail(f"{REFERENCE_JSON} is missing: the tests need ../shared/reference beside the checkout")
    return str(REFERENCE_JSON)


@pytest.fixture(scope="session")
def reference() -> dict:
    """NB101 CIFAR-10 reference rows (1,000 architectures), read from ../shared (never copied)."""
    if not REFERENCE_JSON.exists():
        pytest.fail(f"{REFERENCE_JSON} is missing: the tests need ../shared/reference beside the checkout")
    data = json.loads(REFERENCE_JSON.read_text())
    rows = []
    for i, key in enumerate(data["key"]):
        ops = data["operations"][i]
        keep = [j for j, o in enumerate(ops) if o != -3]
        matrix = np.array(data["adjacency"][i], dtype=int)[np.ix_(keep, keep)]
        rows.append({"key": key, "matrix": matrix, "labels": [ops[j] for j in keep],
                     "params": data["trainable_parameters"][i]})
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
