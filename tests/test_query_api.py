"""The Benchmark query API over a store with trained results and surrogate predictions."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from nas_assets import Benchmark
from nas_assets.core import store
from nas_assets.core.cells.space import ArchSpec, InvalidSpecError
from nas_assets.core.store.results import result_frames
from tests.factories import fake_result


@pytest.fixture(scope="module")
def bench_store(space, space_store, tmp_path_factory):
    import shutil

    path = tmp_path_factory.mktemp("bench") / "nas.duckdb"
    shutil.copy(space_store, path)
    trained = [ArchSpec.from_spec(space.matrix(i), space.ops(i)) for i in (10, 20)]
    records = [(fake_result(s, seed=seed), f"{s.arch_hash}-{seed}.json") for s in trained for seed in (0, 1)]
    rng = np.random.default_rng(0)
    n = len(space)
    predictions = pd.concat([
        pd.DataFrame({"arch_hash": space.hashes.astype(str), "metric": "val_macro_accuracy", "budget": b,
                      "mean": rng.uniform(0.2, 0.6, n), "std": rng.uniform(0, 0.05, n)})
        for b in (4, 12, 36, 108)
    ])
    with store.connect(path) as conn:
        store.write_results(conn, result_frames(records))
        store.replace_table(conn, "surrogate_predictions", predictions)
    return path, trained, records, predictions


def test_trained_architecture_returns_measured_values(bench_store):
    path, trained, records, _ = bench_store
    bench = Benchmark.open(path)
    spec = trained[0]
    out = bench.query(spec.matrix, list(spec.ops), budget=108)
    values = [r["budgets"][-1]["val"]["macro_accuracy"] for r, _ in records[:2]]
    assert out["source"] == "trained" and out["repeats"] == 2
    assert out["value"] == pytest.approx(np.mean(values))
    assert out["std"] == pytest.approx(np.std(values, ddof=1))
    assert set(out["per_budget"]) == {4, 12, 36, 108}
    assert out["arch_hash"] == spec.arch_hash and out["trainable_parameters"] > 0


def test_untrained_architecture_returns_the_surrogate(bench_store, space):
    path, _, _, predictions = bench_store
    bench = Benchmark.open(path)
    i = 12345
    out = bench.query(space.matrix(i), space.ops(i), budget=36)
    row = predictions[(predictions.arch_hash == space.hashes[i]) & (predictions.budget == 36)].iloc[0]
    assert (out["source"] == "surrogate" and out["value"] == pytest.approx(row["mean"])
            and out["std"] == pytest.approx(row["std"]))
    assert len(bench) == len(space) and space.hashes[i] in bench
    assert next(iter(bench)) == space.hashes[0]


def test_invalid_spec_and_unknown_names(bench_store):
    bench = Benchmark.open(bench_store[0])
    with pytest.raises(InvalidSpecError, match="not connected"):
        bench.query([[0, 0], [0, 0]], ["input", "output"])
    with pytest.raises(ValueError, match="metric"):
        bench.query_hash(next(iter(bench)), metric="accuracy")
    with pytest.raises(KeyError):
        bench.query_hash("f" * 32)


def test_top_and_query_many(bench_store, space):
    path, trained, _, _ = bench_store
    bench = Benchmark.open(path)
    top = bench.top(k=5, budget=108)
    assert len(top) == 5 and top["value"].is_monotonic_decreasing
    only_trained = bench.top(k=5, budget=108, source="trained")
    assert set(only_trained["arch_hash"]) == {s.arch_hash for s in trained}
    many = bench.query_many([(space.matrix(i), space.ops(i)) for i in (10, 11, 12)], budget=108)
    assert list(many["source"]) == ["trained", "surrogate", "surrogate"]


def test_top_refuses_k_below_one_and_says_what_is_missing():
    arch = pd.DataFrame({"arch_hash": ["a" * 32, "b" * 32], "params": [10, 20], "flops": [1, 2]})
    trained = pd.DataFrame(columns=["arch_hash", "epoch", "metric", "mean", "std", "repeats"])
    predicted = pd.DataFrame({"arch_hash": ["a" * 32, "b" * 32], "metric": "val_kappa", "budget": 4,
                              "mean": [0.1, 0.2], "std": [0.0, 0.0]})
    bench = Benchmark(arch, trained, predicted, "mem.duckdb")
    for k in (0, -5):
        with pytest.raises(ValueError, match=f"^k = {k}: expected a whole number >= 1$"):
            bench.top(k=k)
    assert list(bench.top(k=1, metric="val_kappa")["arch_hash"]) == ["b" * 32]
    with pytest.raises(LookupError,
                       match=r"^mem\.duckdb: no surrogate predictions of val_macro_accuracy at budget 4 "
                             r"yet; materialize surrogate_model \(with val_macro_accuracy@4 among its "
                             r"targets\) and surrogate_predictions$"):
        bench.top(k=3, source="surrogate")
    with pytest.raises(ValueError, match=r"^metric 'accuracy': expected one of"):
        bench.top(k=3, metric="accuracy")
