"""The footprint stage through Dagster: So2Sat rows in a real store, NB101 CIFAR-10 data (a 1k-format
export of the shipped cells, a TFRecord written from it, and the shipped 20k cells themselves)."""

from __future__ import annotations

import duckdb
import numpy as np
import pytest
from dagster import AssetCheckSeverity, instance_for_test, materialize

from nas_assets.core import store as db
from nas_assets.core.landscape.metrics import count_local_optima
from nas_assets.defs.footprint_assets import footprint_report
from nas_assets.defs.reference_assets import cifar10_reference
from nas_assets.defs.resources import ArtifactsResource, ReferenceDataResource, StoreResource
from nas_assets.defs.surrogate_assets import surrogate_model, surrogate_predictions
from nas_assets.report.comparison import (
    CIFAR_DESIGN,
    CIFAR_FULL,
    CIFAR_MEASURED,
    CIFAR_OOF,
    SO2SAT_FULL,
    SO2SAT_SAMPLE,
)
from tests.factories import nb101_tfrecord_from_json, seed_trained_store

ASSETS = [surrogate_model, surrogate_predictions, cifar10_reference, footprint_report]
FAST = {
    "surrogate_model": {"config": {"ensemble_size": 2, "n_estimators": 60, "eval_repeats": 1,
                                   "targets": ["val_overall_accuracy@all", "val_macro_accuracy@last"]}},
    "cifar10_reference": {"config": {"ensemble_size": 1}},
    # the full-space cell resamples are the costly part of the intervals: fewer here, the default elsewhere
    "footprint_report": {"config": {"estimator_repeats": 30, "full_space_cell_resamples": 50}},
}


def run(instance, res, selection, raise_on_error=True):
    ops = {k: v for k, v in FAST.items() if k in selection}
    return materialize(ASSETS, instance=instance, resources=res, selection=selection, run_config={"ops": ops},
                       raise_on_error=raise_on_error)


def resources(tmp_path, store_path, reference_path, enabled: bool | None = None) -> dict:
    """``reference_path`` None disables CIFAR-10 unless ``enabled`` (then: the shipped cells)."""
    enabled = reference_path is not None if enabled is None else enabled
    return {"store": StoreResource(path=str(store_path)),
            "artifacts": ArtifactsResource(models_dir=str(tmp_path / "models"),
                                           reports_dir=str(tmp_path / "reports")),
            "reference": ReferenceDataResource(path=reference_path, enabled=enabled)}


@pytest.mark.slow
def test_footprint_report_end_to_end(tmp_path, fresh_store, reference_path):
    hashes = seed_trained_store(fresh_store, n=30, budgets=(1, 2, 3, 4), walks=3, walk_length=8,
                                include=_reference_hashes(reference_path)[:8])
    res = resources(tmp_path, fresh_store, reference_path)
    with instance_for_test() as instance:
        run(instance, res, ["surrogate_model", "surrogate_predictions", "cifar10_reference"])
        result = run(instance, res, ["footprint_report"])
        meta = result.asset_materializations_for_node("footprint_report")[0].metadata
        (check,) = [e.event_specific_data
                    for e in result.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION"]
        assert check.passed and check.severity == AssetCheckSeverity.ERROR, check.metadata
        names = (SO2SAT_SAMPLE, SO2SAT_FULL, CIFAR_DESIGN, CIFAR_FULL, CIFAR_MEASURED, CIFAR_OOF)
        assert meta["landscapes"].value == len(names)
        assert "data:image/png;base64," in meta["figures"].value
        for name in names:
            assert name in meta["footprints"].value
        # So2Sat budgets 1-4, CIFAR-10 4/12/36/108: the one common budget is the fitness of both
        assert "matched budget: 4 epochs on both sides" in meta["budget_match"].value
        assert "val_overall_accuracy @ 4 epochs" in meta["fitness"].value
        assert "CIFAR-10 val_accuracy @ 4 epochs (8 measured, " in meta["footprints"].value

        html = (tmp_path / "reports" / "footprint_report.html").read_text()
        assert html.count("data:image/png;base64,") >= 5
        assert "may be copied from the So2Sat value" in html  # the published P+ caveat
        # the reference surrogates' quality per budget, on cells they did not see
        assert ("surrogate Kendall tau on cells it did not see (pooled 5-fold out-of-fold), per budget: 4: 0."
                in html)
        assert ", 108: 0." in html
        pngs = sorted((tmp_path / "reports" / "figures").glob("*.png"))
        assert len(pngs) >= 5 and all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in pngs)

        with duckdb.connect(str(fresh_store), read_only=True) as conn:
            fp = conn.execute("SELECT landscape, metric, value FROM footprints").df()
            table = fp.pivot(index="landscape", columns="metric", values="value")
            # CIFAR-10 measured cells: NB101's 4-epoch accuracy (literature: ~0.28 on the 1k cells)
            at4 = conn.execute("SELECT avg(val_accuracy), stddev_pop(val_accuracy) FROM reference_results "
                               "WHERE budget = 4").fetchall()[0]
            assert table.loc[CIFAR_MEASURED, "mean_fitness"] == pytest.approx(at4[0])
            assert table.loc[CIFAR_MEASURED, "fitness_std"] == pytest.approx(at4[1])
            assert 0.2 < at4[0] < 0.4 and table.loc[CIFAR_MEASURED, "n_architectures"] == 1000
            assert table.loc[CIFAR_OOF, "n_architectures"] == 1000
            # CIFAR-10 on the design cells: measured where NB101 has the cell, predicted elsewhere
            design = conn.execute("""
                SELECT coalesce(r.val_accuracy, p.mean) FROM (SELECT unnest(?) AS arch_hash) d
                JOIN reference_predictions p ON p.arch_hash = d.arch_hash AND p.budget = 4
                LEFT JOIN reference_results r ON r.arch_hash = d.arch_hash AND r.budget = 4""",
                                  [sorted(set(hashes))]).fetchnumpy()
            assert table.loc[CIFAR_DESIGN, "mean_fitness"] == pytest.approx(
                float(np.mean(list(design.values())[0])))
            # exact local optima of the So2Sat surrogate landscape, recounted from the stored predictions
            n = db.table_count(conn, "architectures")
            pred = conn.execute("""SELECT p.mean FROM surrogate_predictions p
                                   JOIN architectures a USING (arch_hash)
                                   WHERE metric = 'val_overall_accuracy' AND budget = 4
                                   ORDER BY a.arch_index""").fetchnumpy()
            optima = count_local_optima(pred["mean"], db.read_neighbour_index(conn, "fla", n))
        assert table.loc[SO2SAT_FULL, "local_optima"] == optima
        assert table.loc[SO2SAT_FULL, "n_architectures"] == n
        assert np.isnan(table.loc[SO2SAT_SAMPLE, "local_optima"])  # exact count: full landscapes only
        # the same cells, the same walks on both sampled landscapes
        assert table.loc[SO2SAT_SAMPLE, "n_architectures"] == table.loc[CIFAR_DESIGN, "n_architectures"]
        assert table.loc[SO2SAT_SAMPLE, "n_walks"] == table.loc[CIFAR_DESIGN, "n_walks"] == 3
        # the authors' extrapolation: sampled optima ratio x CIFAR-10's N-hat
        so2sat_knn, cifar_knn = table.loc[SO2SAT_SAMPLE, "knn_local_optima"], table.loc[CIFAR_DESIGN,
                                                                                        "knn_local_optima"]
        assert so2sat_knn >= 1 and cifar_knn >= 1
        assert table.loc[SO2SAT_SAMPLE, "knn_optima_ratio"] == pytest.approx(so2sat_knn / cifar_knn)
        assert table.loc[SO2SAT_SAMPLE, "local_optima_extrapolated"] == pytest.approx(
            so2sat_knn / cifar_knn * table.loc[CIFAR_FULL, "local_optima_estimate"])
        for name in names:
            assert 0 <= table.loc[name, "positive_persistence"] <= 1 and 0 <= table.loc[name,
                                                                                        "negative_auc"] <= 1

        # every value with its 95 % interval; the paired verdicts on the same cells
        with duckdb.connect(str(fresh_store), read_only=True) as conn:
            ci = conn.execute(
                "SELECT landscape, metric, value, ci_low, ci_high, ci_method FROM footprints").df()
            differences = conn.execute("SELECT * FROM footprint_differences").df()
        mean = ci[ci["metric"] == "mean_fitness"].set_index("landscape")
        assert ((mean["ci_low"] <= mean["value"]) & (mean["value"] <= mean["ci_high"])).all()
        assert mean.loc[SO2SAT_SAMPLE, "ci_method"] == "bootstrap over cells (1000)"
        assert mean.loc[SO2SAT_FULL, "ci_method"] == "bootstrap over cells (50)"  # full_space_cell_resamples
        optima = ci[(ci["metric"] == "local_optima") & (ci["landscape"] == SO2SAT_FULL)].iloc[0]
        assert optima["ci_method"] == "range over 2 ensemble members' landscapes"
        rho = ci[(ci["metric"] == "autocorrelation") & (ci["landscape"] == SO2SAT_SAMPLE)].iloc[0]
        assert rho["ci_method"] == "bootstrap over walks (1000)"
        assert set(differences["landscape_a"]) == {SO2SAT_SAMPLE}
        assert set(differences["landscape_b"]) == {CIFAR_DESIGN}
        assert {"mean_fitness", "positive_persistence", "autocorrelation",
                "knn_local_optima"} <= set(differences["metric"])
        assert set(differences["verdict"]) <= {"differs", "within noise", "undefined"}
        row = differences.set_index("metric").loc["mean_fitness"]
        assert row["difference"] == pytest.approx(table.loc[SO2SAT_SAMPLE, "mean_fitness"]
                                                  - table.loc[CIFAR_DESIGN, "mean_fitness"])
        assert row["verdict"] == ("differs" if row["ci_low"] > 0 or row["ci_high"] < 0 else "within noise")
        assert "| verdict |" in meta["verdicts"].value
        assert "Verdicts: what differs" in html and html.index("Verdicts") < html.index("Footprint table")
        # the metric descriptions say what this run did, not a template
        assert "30 fresh random walks of 100 Hamming-1 (FLA encoding) steps" in html
        assert "the design&#x27;s 3 random walks on a sampled landscape" in html
        assert "So2Sat 1, 2, 3, 4 epochs; CIFAR-10 4, 12, 36, 108 epochs" in html
        assert "30 repeats" in html  # estimator_repeats of this run

        # re-running replaces the rows and the report, never duplicates; the reference is not re-read
        again = run(instance, res, ["cifar10_reference", "footprint_report"])
        assert again.asset_materializations_for_node("cifar10_reference")[0].metadata["reused"].value is True
        with duckdb.connect(str(fresh_store), read_only=True) as conn:
            assert conn.execute("SELECT count(*) FROM footprints").fetchall()[0][0] == len(fp)


def _reference_hashes(path: str) -> list[str]:
    import json

    return json.loads(open(path).read())["key"]


def test_footprint_without_reference_data_leaves_cifar_out(tmp_path, fresh_store):
    seed_trained_store(fresh_store, n=12, budgets=(1, 2))
    res = resources(tmp_path, fresh_store, None)
    with instance_for_test() as instance:
        run(instance, res, ["surrogate_model", "surrogate_predictions", "cifar10_reference"])
        meta = run(instance, res,
                   ["footprint_report"]).asset_materializations_for_node("footprint_report")[0].metadata
        assert meta["landscapes"].value == 2
        assert "no NB101 reference in the store" in (
            tmp_path / "reports" / "footprint_report.html").read_text()


def test_footprint_needs_the_fitness_target_predicted(tmp_path, fresh_store):
    seed_trained_store(fresh_store, n=12, budgets=(1, 2))
    res = resources(tmp_path, fresh_store, None)
    with instance_for_test() as instance:
        run(instance, res, ["surrogate_model", "surrogate_predictions"])
        result = materialize(ASSETS, instance=instance, resources=res, selection=["footprint_report"],
                             run_config={"ops": {"footprint_report": {"config": {"metric": "val_kappa"}}}},
                             raise_on_error=False)
        failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
        assert "surrogate_predictions has no val_kappa@2" in str(failure.event_specific_data.error)
        assert "add 'val_kappa@2' to surrogate_model's targets" in str(failure.event_specific_data.error)


def test_footprint_before_predictions_says_what_to_materialize(tmp_path, fresh_store):
    seed_trained_store(fresh_store, n=8, budgets=(1, 2))
    with instance_for_test() as instance:
        result = run(instance, resources(tmp_path, fresh_store, None), ["footprint_report"],
                     raise_on_error=False)
        failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
        assert "surrogate_predictions in" in str(failure.event_specific_data.error)
        assert "is empty; materialize surrogate_model and surrogate_predictions first" in str(
            failure.event_specific_data.error)


def test_reference_from_an_nb101_tfrecord(tmp_path, fresh_store, reference_path):
    """A user's nasbench_full-style .tfrecord gives the same measurements as the JSON export."""
    path = tmp_path / "nasbench_subset.tfrecord"
    nb101_tfrecord_from_json(reference_path, path, n=300, test_accuracy=0.875)
    with instance_for_test() as instance:
        meta = run(instance, resources(tmp_path, fresh_store, str(path)), ["cifar10_reference"]
                   ).asset_materializations_for_node("cifar10_reference")[0].metadata
    assert meta["available"].value is True and meta["architectures_measured"].value == 300
    with duckdb.connect(str(fresh_store), read_only=True) as conn:
        rows = conn.execute("SELECT budget, count(*), avg(test_accuracy), min(source) FROM reference_results "
                            "GROUP BY budget ORDER BY budget").fetchall()
        predicted = conn.execute(
            "SELECT count(*), count(DISTINCT arch_hash) FROM reference_predictions").fetchall()
    assert [(b, n, src) for b, n, _, src in rows] == [(b, 300, "nasbench_subset.tfrecord")
                                                      for b in (4, 12, 36, 108)]
    assert all(t == pytest.approx(0.875) for _, _, t, _ in rows)
    assert predicted == [(4 * 423_624, 423_624)]


@pytest.mark.slow
def test_footprint_on_the_graph_edit_neighbourhood(tmp_path, fresh_store, space):
    seed_trained_store(fresh_store, n=12, budgets=(1, 2))
    res = resources(tmp_path, fresh_store, None)
    with instance_for_test() as instance:
        run(instance, res, ["surrogate_model", "surrogate_predictions"])
        result = materialize(ASSETS, instance=instance, resources=res, selection=["footprint_report"],
                             run_config={"ops": {"footprint_report": {"config": {
                                 "neighbourhood": "graph_edit", "estimator_repeats": 20}}}})
        (check,) = [e.event_specific_data
                    for e in result.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION"]
        assert check.passed
    with duckdb.connect(str(fresh_store), read_only=True) as conn:
        n = db.table_count(conn, "architectures")
        fp = dict(conn.execute("SELECT metric, value FROM footprints WHERE landscape = ?",
                               [SO2SAT_FULL]).fetchall())
        pred = conn.execute("""SELECT p.mean FROM surrogate_predictions p
                               JOIN architectures a USING (arch_hash)
                               WHERE metric = 'val_overall_accuracy' AND budget = 2
                               ORDER BY a.arch_index""").fetchnumpy()
    from nas_assets.core.cells.encoding import graph_edit_neighbour_index

    # recount on an index built here from the session's enumeration (rows = the store's arch_index)
    index = graph_edit_neighbour_index(space).symmetrised()
    assert fp["local_optima"] == count_local_optima(pred["mean"], index)
    assert fp["n_walks"] == 30 and np.isfinite(fp["autocorrelation"]) and fp["n_architectures"] == n


def test_cifar10_test_accuracy_needs_a_reference_measured_everywhere(tmp_path, fresh_store, reference_path):
    seed_trained_store(fresh_store, n=12, budgets=(1, 2, 3, 4))
    res = resources(tmp_path, fresh_store, reference_path)
    with instance_for_test() as instance:
        run(instance, res, ["surrogate_model", "surrogate_predictions", "cifar10_reference"])
        result = materialize(ASSETS, instance=instance, resources=res, selection=["footprint_report"],
                             run_config={"ops": {"footprint_report": {
                                 "config": {"cifar10_metric": "test_accuracy"}}}},
                             raise_on_error=False)
        failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
        assert "cifar10_metric test_accuracy @ 4 needs NB101's test accuracy on every cell" in str(
            failure.event_specific_data.error)
