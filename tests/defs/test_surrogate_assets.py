"""The surrogate stage through Dagster: real DuckDB store, real artifacts on disk."""

from __future__ import annotations

import json

import duckdb
import numpy as np
import pytest
from dagster import AssetCheckSeverity, instance_for_test, materialize

from nas_assets import Benchmark
from nas_assets.core.cells.space import SPACE_SIZE
from nas_assets.core.surrogate.artifacts import parse_targets
from nas_assets.core.surrogate.model import Surrogate
from nas_assets.defs.config import SurrogateModelConfig
from nas_assets.defs.resources import ArtifactsResource, StoreResource
from nas_assets.defs.surrogate_assets import surrogate_model, surrogate_predictions
from tests.factories import seed_trained_store

RUN_KEY = "testrunkey000001"
SMALL = {"ensemble_size": 2, "n_estimators": 60, "eval_repeats": 2}


def seed_trained(store_path, n: int = 40, seed: int = 0) -> list[str]:
    return seed_trained_store(store_path, n=n, run_key=RUN_KEY, seed=seed)


def resources(tmp_path, store_path) -> dict:
    return {"store": StoreResource(path=str(store_path)),
            "artifacts": ArtifactsResource(models_dir=str(tmp_path / "models"),
                                           reports_dir=str(tmp_path / "reports"))}


def run(instance, res, selection, config=None, raise_on_error=True):
    run_config = ({"ops": {"surrogate_model": {"config": {**SMALL, **(config or {})}}}}
                  if "surrogate_model" in selection else {})
    return materialize([surrogate_model, surrogate_predictions], instance=instance, resources=res,
                       selection=selection, run_config=run_config, raise_on_error=raise_on_error)


def gate_events(result):
    return [e.event_specific_data
            for e in result.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION"]


@pytest.mark.slow
def test_fit_evaluate_predict_and_reuse(tmp_path, fresh_store, space):
    seed_trained(fresh_store)
    res = resources(tmp_path, fresh_store)
    with instance_for_test() as instance:
        result = run(instance, res, ["surrogate_model"])
        meta = result.asset_materializations_for_node("surrogate_model")[0].metadata
        assert meta["targets"].value == 3  # one metric @1 and @2 ('all'), the other @2 (the last budget)
        # rows written without a configuration key: each run key its own
        assert meta["n_train"].value == 40 and meta["config_key"].value == RUN_KEY
        assert "2 x 5-fold CV" in meta["protocol"].value
        (gate,) = gate_events(result)
        assert gate.passed and gate.severity == AssetCheckSeverity.WARN
        assert gate.metadata["worst_value"].value > 0.5  # accuracy follows log(params): learnable

        index = json.loads((tmp_path / "models" / "index.json").read_text())
        # the default targets (SurrogateModelConfig) expanded over the recorded budgets 1 and 2
        assert sorted(t["name"] for t in index["targets"]) == sorted(
            t.name for t in parse_targets(SurrogateModelConfig().targets, [1, 2]))
        target_dir = tmp_path / "models" / index["targets"][0]["directory"]
        model = Surrogate.load(target_dir)  # loads without Dagster
        assert model.config.ensemble_size == 2 and model.manifest["data"]["n_train"] == 40
        assert model.manifest["metrics"]["pooled"]["kendall_tau"] == gate.metadata["values"].value[
            index["targets"][0]["name"]]
        cv = (target_dir / "cv_predictions.csv").read_text().splitlines()
        assert cv[0] == "arch_hash,measured,predicted_r0,predicted_r1,std_r0,std_r1" and len(cv) == 41
        # the std is calibrated on the evaluation's out-of-fold predictions (no refit), and the
        # metadata reports its held-out coverage next to the raw spread's
        assert model.calibration.calibrated and model.calibration.source.startswith("out-of-fold predictions")
        assert model.calibration.n_residuals == 2 * 40  # 2 repeats x 40 cells
        coverage = meta["std_coverage"].value[index["targets"][0]["name"]]
        assert coverage["calibrated"] is True
        assert coverage["coverage_2sigma"] >= coverage["raw_coverage_2sigma"]
        assert coverage["coverage_1sigma"] == model.manifest["metrics"]["calibration"]["coverage_1sigma"]
        assert "±1σ/±2σ calibrated" in meta["evaluation"].value

        # same data and config: every target is reused, nothing refitted
        again = run(instance, res, ["surrogate_model"])
        table = again.asset_materializations_for_node("surrogate_model")[0].metadata["evaluation"].value
        assert table.count("| True |") == 3

        pred = run(instance, res, ["surrogate_predictions"])
        pmeta = pred.asset_materializations_for_node("surrogate_predictions")[0].metadata
        assert pmeta["reused"].value is False and pmeta["dagster/row_count"].value == 3 * SPACE_SIZE
        assert set(pmeta["std_calibrated"].value.values()) == {True}
        # the std in the table -- and so Benchmark.query's -- is the surrogate's calibrated std
        target = index["targets"][0]
        bench = Benchmark.open(fresh_store)
        cells = [i for i in range(0, SPACE_SIZE, 50_000)]
        got = [bench.query_hash(space.hashes[i], target["budget"], target["metric"]) for i in cells]
        trained = [g["source"] == "trained" for g in got]
        specs = [(space.matrix(i), space.ops(i)) for i, t in zip(cells, trained) if not t]
        mean, std = model.predict(specs)
        _, raw = model.predict(specs, calibrated=False)
        assert np.allclose([g["std"] for g in got if g["source"] == "surrogate"], std, rtol=1e-6)
        assert np.allclose([g["value"] for g in got if g["source"] == "surrogate"], mean, rtol=1e-6)
        assert np.median(std) > np.median(raw)
        with duckdb.connect(str(fresh_store), read_only=True) as conn:
            counts = conn.execute("SELECT metric, budget, count(*), count(DISTINCT arch_hash), "
                                  "min(std) >= 0, bool_and(mean BETWEEN 0 AND 1) FROM surrogate_predictions "
                                  "GROUP BY ALL ORDER BY ALL").fetchall()
            assert counts == sorted((t["metric"], t["budget"], SPACE_SIZE, SPACE_SIZE, True, True)
                                    for t in index["targets"])
            # the prediction for trained cells follows what was measured
            corr = conn.execute("""
                SELECT corr(p.mean, b.val_macro_accuracy) FROM surrogate_predictions p
                JOIN budget_metrics b ON b.arch_hash = p.arch_hash AND b.epoch = p.budget
                WHERE p.metric = 'val_macro_accuracy' AND p.budget = 2""").fetchall()[0][0]
            assert corr > 0.8
        assert run(instance, res, ["surrogate_predictions"]).asset_materializations_for_node(
            "surrogate_predictions")[0].metadata["reused"].value is True

        # new training data -> a new version of every target, and the predictions follow
        seed_trained(fresh_store, n=10, seed=1)
        third = run(instance, res, ["surrogate_model"])
        assert third.asset_materializations_for_node("surrogate_model")[0].metadata["n_train"].value >= 45
        assert run(instance, res, ["surrogate_predictions"]).asset_materializations_for_node(
            "surrogate_predictions")[0].metadata["reused"].value is False


def test_quality_gate_warns_without_failing_the_run(tmp_path, fresh_store):
    seed_trained(fresh_store, n=12)
    res = resources(tmp_path, fresh_store)
    with instance_for_test() as instance:
        result = run(instance, res, ["surrogate_model"],
                     config={"targets": ["val_kappa@last"], "gate_min": 0.999, "gate_metric": "spearman_rho"})
        assert result.success
        (gate,) = gate_events(result)
        assert not gate.passed and gate.severity == AssetCheckSeverity.WARN
        assert gate.metadata["worst_target"].value == "val_kappa@2"
        # kappa may be negative: fitted without the -log(1 - y) transform
        index = json.loads((tmp_path / "models" / "index.json").read_text())
        model = Surrogate.load(tmp_path / "models" / index["targets"][0]["directory"])
        assert model.config.target_transform == "none"


@pytest.mark.parametrize("config, message", [
    ({"targets": ["val_macro_accuracy@7"]}, "budget '7' is not one of the recorded budgets [1, 2]"),
    ({"targets": ["accuracy@last"]}, "expected '<metric>@<budget>'"),
    ({"targets": ["val_accuracy@last"]},
     "metric one of ['val_kappa', 'val_macro_accuracy', 'val_overall_accuracy']"),
    ({"config_key": "nope"}, "no training configuration or run key 'nope'"),
])
def test_bad_config_is_a_clear_failure(tmp_path, fresh_store, config, message):
    seed_trained(fresh_store, n=8)
    with instance_for_test() as instance:
        result = run(instance, resources(tmp_path, fresh_store), ["surrogate_model"], config=config,
                     raise_on_error=False)
        assert not result.success
        failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
        assert message in str(failure.event_specific_data.error)
    assert not (tmp_path / "models" / "index.json").exists()


def test_too_few_trained_architectures(tmp_path, fresh_store):
    seed_trained(fresh_store, n=4)
    with instance_for_test() as instance:
        result = run(instance, resources(tmp_path, fresh_store), ["surrogate_model"], raise_on_error=False)
        failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
        assert "4 trained architectures; at least 6 are needed" in str(failure.event_specific_data.error)


def test_predictions_need_a_fitted_model(tmp_path, fresh_store):
    with instance_for_test() as instance:
        result = run(instance, resources(tmp_path, fresh_store), ["surrogate_predictions"],
                     raise_on_error=False)
        failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
        assert ("no surrogate index; materialize surrogate_model first"
                in str(failure.event_specific_data.error))


def test_store_locked_by_another_process_is_a_clear_failure(tmp_path, fresh_store):
    import subprocess
    import sys

    holder = subprocess.Popen([sys.executable, "-c",
                               f"import duckdb, time; c = duckdb.connect({str(fresh_store)!r}); "
                               "print('ok', flush=True); time.sleep(60)"], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "ok"
        res = resources(tmp_path, fresh_store)
        res["store"] = StoreResource(path=str(fresh_store), lock_timeout_s=0.5)
        with instance_for_test() as instance:
            result = run(instance, res, ["surrogate_model"], raise_on_error=False)
        failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
        error = failure.event_specific_data.error
        assert error.cls_name == "Failure"  # Dagster's clean failure, not a stray exception
        assert f"{fresh_store}: the database is locked by another process (held by" in error.message
    finally:
        holder.kill()
        holder.wait()
