"""Whole-space predictions (``core.store.predictions``): read the space, predict, write -- skipped
when the stored rows are the same version; and the CIFAR-10 reference read from its source."""

from __future__ import annotations

from functools import partial

import numpy as np
import pandas as pd
import pytest

from nas_assets.core import store
from nas_assets.core.cells.cost import SO2SAT_SHAPE
from nas_assets.core.cells.encoding import fla_neighbour_index
from nas_assets.core.cells.enumeration import enumerate_space
from nas_assets.core.cells.table import architecture_frame, padded_arrays
from nas_assets.core.landscape.reference import reference_from_source
from nas_assets.core.nb101.reader import ReferenceDataError, load_reference
from nas_assets.core.store.predictions import refresh_space_predictions
from nas_assets.core.surrogate.model import SurrogateConfig


@pytest.fixture(scope="module")
def space_store(tmp_path_factory):
    space = enumerate_space(max_vertices=4, workers=1)
    frame = architecture_frame(space, SO2SAT_SHAPE, fla_neighbour_index(space))
    path = tmp_path_factory.mktemp("store") / "space.duckdb"
    with store.connect(path) as conn:
        store.write_architectures(conn, frame)
    return path, frame.sort_values("arch_index")["arch_hash"].tolist()


def _predict_lengths(hashes, arrays) -> pd.DataFrame:
    """A stand-in model: 'predicts' each cell's number of vertices."""
    matrices, labels, n_vertices = arrays
    assert len(matrices) == len(labels) == len(hashes)
    return pd.DataFrame({"arch_hash": hashes, "metric": "m", "budget": 4,
                         "mean": n_vertices.astype(float), "std": 0.0})


def test_refresh_predicts_every_cell_in_index_order_and_writes(space_store):
    path, hashes = space_store
    connect = partial(store.connect, path)
    done = refresh_space_predictions(connect, "v1", None, _predict_lengths,
                                     lambda conn, frame: store.write_predictions(conn, frame, "v1"))
    assert done is not None and done.n_architectures == len(hashes)
    assert done.value["arch_hash"].tolist() == hashes
    assert set(done.timings) == {"read_s", "predict_s", "write_s"}
    with store.connect(path, read_only=True) as conn:
        assert store.get_meta(conn, "surrogate_predictions_version") == "v1"
        assert store.table_count(conn, "surrogate_predictions") == len(hashes)
        extremes = conn.execute("SELECT min(mean), max(mean) FROM surrogate_predictions").fetchall()
    assert extremes == [(2.0, 4.0)]


def test_refresh_is_skipped_when_the_stored_version_matches(space_store):
    path, _ = space_store

    def fail(*_):
        raise AssertionError("nothing may be read, predicted or written")

    assert refresh_space_predictions(partial(store.connect, path), "v1", "v1", fail, fail) is None


def test_a_failed_prediction_writes_nothing(space_store):
    path, _ = space_store
    written = []

    def broken(hashes, arrays):
        raise ValueError("model broke")

    with pytest.raises(ValueError, match="model broke"):
        refresh_space_predictions(partial(store.connect, path), "v2", "v1", broken,
                                  lambda conn, value: written.append(value))
    assert written == []


def test_reference_from_source_uses_a_budget_measured_on_every_cell_as_measured(reference_path, tmp_path):
    budgets = [4, 108]
    frame = load_reference(reference_path, budgets)
    hashes = frame["arch_hash"].to_numpy()
    arrays = padded_arrays(frame["matrix"].tolist(), frame["ops"].tolist())
    landscape, summary = reference_from_source(reference_path, hashes, arrays, budgets, tmp_path,
                                               config=SurrogateConfig(ensemble_size=1))
    assert summary["architectures_measured"] == len(frame) == len(hashes)
    assert summary["budgets_measured_everywhere"] == budgets and summary["quality"] == {}
    assert summary["path"] == reference_path and summary["source"] == landscape.results["source"].iloc[0]
    assert set(summary) >= {"mean_val_accuracy", "load_s", "fit_predict_s"}
    assert summary["mean_val_accuracy"]["4"] == round(float(frame["val_accuracy_4"].mean()), 4)
    at4 = landscape.predictions[landscape.predictions["budget"] == 4]
    assert np.allclose(at4["mean"], frame["val_accuracy_4"]) and (at4["std"] == 0).all()
    assert list(tmp_path.iterdir()) == []  # nothing fitted


def test_reference_from_source_refuses_a_file_that_is_not_nb101(tmp_path):
    bad = tmp_path / "not_nb101.json"
    bad.write_text("{}")
    with pytest.raises((ReferenceDataError, ValueError)):
        reference_from_source(str(bad), np.array([]), padded_arrays([], []), [4], tmp_path,
                              config=SurrogateConfig(ensemble_size=1))
