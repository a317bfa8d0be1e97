"""The paper-budget path end to end on tiny synthetic data: NB101's budgets (4, 12, 36, 108)
trained with the ``nb101`` protocol by real local processes, then results, surrogates, the
CIFAR-10 reference and the footprint compared at the same fitness (36 epochs) on the same cells."""

from __future__ import annotations

import duckdb
import pytest
from dagster import instance_for_test, materialize

from nas_assets.defs.definitions import ASSETS, CHECKS
from nas_assets.defs.launchers import LocalLauncher
from nas_assets.defs.partitions import ARCHITECTURE_PARTITIONS
from nas_assets.defs.resources import (
    ArtifactsResource,
    ReferenceDataResource,
    So2SatDataResource,
    StoreResource,
    TrainingSetupResource,
)
from nas_assets.report.comparison import CIFAR_DESIGN, CIFAR_FULL, SO2SAT_FULL, SO2SAT_SAMPLE

PAPER_BUDGETS = [4, 12, 36, 108]


@pytest.mark.slow
def test_paper_budgets_with_the_nb101_protocol_end_to_end(tmp_path, fresh_store, reference_path):
    resources = {
        "store": StoreResource(path=str(fresh_store)),
        # one batch per epoch: 160 epochs of a stem-4 network are seconds on a CPU
        "data": So2SatDataResource(path=str(tmp_path / "so2sat"), cache_dir=str(tmp_path / "cache"),
                                   synthetic=True, synthetic_train=68, synthetic_val=34, synthetic_test=34),
        "training": TrainingSetupResource(runs_dir=str(tmp_path / "runs"), overrides=dict(
            budgets=PAPER_BUDGETS, protocol="nb101", stem_channels=4, cells_per_stack=1, batch_size=68,
            lr=0.05)),
        "launcher": LocalLauncher(),
        "artifacts": ArtifactsResource(models_dir=str(tmp_path / "models"),
                                       reports_dir=str(tmp_path / "reports")),
        "reference": ReferenceDataResource(path=reference_path),
    }
    ops = {
        # the initial cells drawn from those NB101 measured, so CIFAR-10 is measured on them
        "sampled_architectures": {"config": {"preset": "demo", "n_initial": 6, "n_walks": 1, "walk_length": 1,
                                             "n_local_search": 0, "prefer_cifar10_measured": True,
                                             "cifar10_reference_path": reference_path}},
        "surrogate_model": {"config": {"ensemble_size": 2, "n_estimators": 60, "eval_repeats": 1,
                                       "targets": ["val_overall_accuracy@all"]}},
        "cifar10_reference": {"config": {"ensemble_size": 1}},
        "footprint_report": {"config": {"estimator_repeats": 20}},
    }

    def run(selection, partition_key=None):
        return materialize([*ASSETS, *CHECKS], instance=instance, resources=resources, selection=selection,
                           partition_key=partition_key, run_config={"ops": {k: v for k, v in ops.items()
                                                                            if k in selection}})

    with instance_for_test() as instance:
        run(["sampled_architectures", "so2sat_dataset"])
        keys = instance.get_dynamic_partitions(ARCHITECTURE_PARTITIONS.name)
        assert 6 <= len(keys) <= 7
        for key in keys:
            run(["trained_architecture"], partition_key=key)
        run(["results_table"])
        run(["surrogate_model", "surrogate_predictions", "cifar10_reference"])
        meta = run(["footprint_report"]).asset_materializations_for_node("footprint_report")[0].metadata

    with duckdb.connect(str(fresh_store), read_only=True) as conn:
        assert conn.execute("SELECT DISTINCT protocol FROM training_runs").fetchall() == [("nb101",)]
        per_budget = conn.execute("SELECT epoch, count(*), count(test_overall_accuracy) FROM budget_metrics "
                                  "GROUP BY epoch ORDER BY epoch").fetchall()
        # test metrics at every budget
        assert per_budget == [(b, len(keys), len(keys)) for b in PAPER_BUDGETS]
        # nb101: each budget its own run, so train time grows with the budget (a snapshot shares one run)
        seconds = [r[0] for r in conn.execute("SELECT avg(train_seconds) FROM budget_metrics GROUP BY epoch "
                                              "ORDER BY epoch").fetchall()]
        assert seconds[0] < seconds[-1]  # 4 vs 108 epochs of training
        table = conn.execute("SELECT landscape, metric, value FROM footprints").df().pivot(
            index="landscape", columns="metric", values="value")
    # the same fitness on both sides: validation (overall) accuracy at 36 epochs
    assert "matched budget: 36 epochs on both sides" in meta["budget_match"].value
    assert meta["budget_protocol"].value == "nb101"
    assert "So2Sat val_overall_accuracy @ 36 epochs" in meta["footprints"].value
    assert "CIFAR-10 val_accuracy @ 36 epochs (6 measured, " in meta["footprints"].value
    for name in (SO2SAT_SAMPLE, SO2SAT_FULL, CIFAR_DESIGN, CIFAR_FULL):
        assert 0 <= table.loc[name, "positive_persistence"] <= 1
    assert (table.loc[SO2SAT_SAMPLE, "n_architectures"] == table.loc[CIFAR_DESIGN, "n_architectures"]
            == len(keys))
