"""The training stage through Dagster with the local launcher: real processes, real DuckDB."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
from dagster import DagsterInstance, instance_for_test, materialize

from nas_assets.core.run_keys import legacy_config_key, legacy_folder_key, legacy_run_key
from nas_assets.defs.definitions import ASSETS, CHECKS
from nas_assets.defs.launchers import LocalLauncher
from nas_assets.defs.partitions import ARCHITECTURE_PARTITIONS
from nas_assets.defs.resources import So2SatDataResource, StoreResource, TrainingSetupResource
from nas_assets.train.config import TrainConfig
from tests.factories import later_stage_resources

DESIGN = {"ops": {"sampled_architectures": {"config": {"preset": "demo", "n_initial": 2, "n_walks": 1,
                                                        "walk_length": 1, "n_local_search": 0}}}}


def make_resources(tmp_path, store_path, **launcher_kw) -> dict:
    return {
        "store": StoreResource(path=str(store_path)),
        "data": So2SatDataResource(path=str(tmp_path / "so2sat"), cache_dir=str(tmp_path / "cache"),
                                   synthetic=True, synthetic_train=68, synthetic_val=34, synthetic_test=34),
        "training": TrainingSetupResource(runs_dir=str(tmp_path / "runs"), overrides=dict(
            budgets=[1, 2], stem_channels=8, cells_per_stack=1, batch_size=16)),
        "launcher": LocalLauncher(**launcher_kw),
        **later_stage_resources(tmp_path),
    }


def run(instance: DagsterInstance, resources: dict, selection: list[str], partition_key=None, run_config=None,
        raise_on_error=True):
    return materialize([*ASSETS, *CHECKS], instance=instance, resources=resources, selection=selection,
                       partition_key=partition_key, run_config=run_config or {},
                       raise_on_error=raise_on_error)


def rows(db, sql):
    with duckdb.connect(str(db), read_only=True) as conn:
        return conn.execute(sql).fetchall()


def test_local_training_partitions_fill_duckdb(tmp_path, fresh_store):
    resources = make_resources(tmp_path, fresh_store)
    with instance_for_test() as instance:
        run(instance, resources, ["sampled_architectures", "so2sat_dataset"], run_config=DESIGN)
        keys = instance.get_dynamic_partitions(ARCHITECTURE_PARTITIONS.name)
        assert 2 <= len(keys) <= 3
        for key in keys[:2]:
            result = run(instance, resources, ["trained_architecture"], partition_key=key)
            checks = [e for e in result.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION"]
            assert len(checks) == 3 and all(e.event_specific_data.passed for e in checks)
            meta = result.asset_materializations_for_node("trained_architecture")[0].metadata
            assert meta["launcher"].value == "local" and meta["reused_result"].value is False
        assert rows(fresh_store, "SELECT count(*) FROM training_runs") == [(2,)]
        assert rows(fresh_store, "SELECT DISTINCT launcher FROM training_runs") == [("dagster-local",)]
        assert rows(fresh_store, "SELECT count(*) FROM budget_metrics") == [(4,)]
        assert rows(fresh_store, "SELECT count(*) FROM class_metrics") == [(2 * 2 * 17,)]
        # the resource's default protocol, and test metrics at every budget, not only the last
        assert rows(fresh_store, "SELECT DISTINCT protocol FROM training_runs") == [("nb101",)]
        assert rows(fresh_store, "SELECT count(test_kappa) FROM budget_metrics") == [(4,)]
        assert rows(fresh_store, "SELECT count(test_accuracy) FROM class_metrics") == [(2 * 2 * 17,)]

        # re-materializing reuses the result file and replaces the rows (no duplicates)
        again = run(instance, resources, ["trained_architecture"], partition_key=keys[0])
        assert again.asset_materializations_for_node(
            "trained_architecture")[0].metadata["reused_result"].value is True
        assert rows(fresh_store, "SELECT count(*) FROM budget_metrics") == [(4,)]
        # one run key: it names the runs folder, and the ingested rows carry it
        training, data = resources["training"], resources["data"]
        assert training.out_dir(data).name == training.run_key(data)
        assert rows(fresh_store, "SELECT DISTINCT run_key FROM training_runs") == [(training.run_key(data),)]

        old_folder = _as_an_older_version_left_it(fresh_store, training, data)
        again = run(instance, resources, ["trained_architecture"], partition_key=keys[0])
        assert again.asset_materializations_for_node(  # found under its old name: not trained again
            "trained_architecture")[0].metadata["reused_result"].value is True
        assert training.out_dir(data).is_dir() and not training.out_dir(data).is_symlink()
        assert old_folder.is_symlink() and old_folder.resolve() == training.out_dir(data).resolve()
        # both partitions' rows re-keyed (the one not materialized again too), none doubled
        assert rows(fresh_store, "SELECT DISTINCT run_key FROM training_runs") == [(training.run_key(data),)]
        assert rows(fresh_store, "SELECT count(*) FROM training_runs") == [(2,)]
        assert rows(fresh_store, "SELECT count(*), count(DISTINCT run_key) FROM budget_metrics") == [(4, 1)]
        assert rows(fresh_store, "SELECT count(*) FROM class_metrics") == [(2 * 2 * 17,)]

        summary = run(instance, resources, ["results_table"])
        meta = summary.asset_materializations_for_node("results_table")[0].metadata
        assert meta["architectures"].value == 2
        assert 0 <= meta["mean_val_macro_accuracy"].value <= 1
        view = rows(fresh_store, "SELECT count(*), count(stage) FROM results")
        assert view == [(2, 2)]  # every trained architecture joined with its design provenance


def _as_an_older_version_left_it(store_path, training: TrainingSetupResource, data) -> Path:
    """Put the runs folder under its 12-hex config id and the store rows under the old run keys;
    the old folder's path."""
    old_folder = Path(training.runs_dir) / legacy_folder_key(training.train_config().to_dict(),
                                                             data.identity())
    training.out_dir(data).rename(old_folder)
    with duckdb.connect(str(store_path)) as conn:
        for path in old_folder.glob("*.json"):
            if len(path.stem) != 32:
                continue
            record = json.loads(path.read_text())
            old = [legacy_run_key(record), record["arch"]["arch_hash"]]
            assert old[0] != training.run_key(data)
            conn.execute("UPDATE training_runs SET run_key = ?, config_key = ? WHERE arch_hash = ?",
                         [old[0], legacy_config_key(record), old[1]])
            for table in ("budget_metrics", "class_metrics"):
                conn.execute(f"UPDATE {table} SET run_key = ? WHERE arch_hash = ?", old)
    return old_folder


def test_protocol_reaches_the_job_and_separates_result_files(tmp_path):
    data = So2SatDataResource(path=str(tmp_path / "so2sat"), cache_dir=str(tmp_path / "cache"))
    snapshot = TrainingSetupResource(runs_dir=str(tmp_path / "runs"), overrides={"protocol": "snapshot"})
    nb101 = TrainingSetupResource(runs_dir=str(tmp_path / "runs"), overrides={"protocol": "nb101"})
    default = TrainingSetupResource(runs_dir=str(tmp_path / "runs"))
    assert default.train_config().protocol == TrainConfig.protocol
    assert snapshot.out_dir(data) != nb101.out_dir(data)  # never one result file for two protocols
    for setup in (snapshot, nb101):
        args = setup.train_args(data)  # the job's one file of the whole setup
        config = TrainConfig.from_file(args[args.index("--config") + 1])
        assert config == setup.train_config() and config.protocol == setup.overrides["protocol"]


def test_failing_training_is_a_clear_failure_and_writes_nothing(tmp_path, fresh_store):
    resources = make_resources(tmp_path, fresh_store)
    resources["training"] = TrainingSetupResource(runs_dir=str(tmp_path / "runs"),
                                                  overrides=dict(budgets=[1], precision="bogus-precision"))
    with instance_for_test() as instance:
        run(instance, resources, ["sampled_architectures", "so2sat_dataset"], run_config=DESIGN)
        key = instance.get_dynamic_partitions(ARCHITECTURE_PARTITIONS.name)[0]
        result = run(instance, resources, ["trained_architecture"], partition_key=key, raise_on_error=False)
        assert not result.success
        failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
        text = str(failure.event_specific_data.error)
        # the log tail
        assert "exited with code 1" in text and "Precision 'bogus-precision' is invalid" in text
    assert rows(fresh_store, "SELECT count(*) FROM training_runs") == [(0,)]


def test_partial_result_file_fails_without_touching_tables(tmp_path, fresh_store):
    resources = make_resources(tmp_path, fresh_store)
    with instance_for_test() as instance:
        run(instance, resources, ["sampled_architectures", "so2sat_dataset"], run_config=DESIGN)
        key = instance.get_dynamic_partitions(ARCHITECTURE_PARTITIONS.name)[0]
        out = resources["training"].out_dir(resources["data"])
        out.mkdir(parents=True)
        (out / f"{key}.json").write_text(json.dumps({"schema_version": 1, "status": "complete"})[:20])
        result = run(instance, resources, ["trained_architecture"], partition_key=key, raise_on_error=False)
        assert not result.success
        failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
        assert "not valid JSON" in str(failure.event_specific_data.error)
        assert "nothing was written to DuckDB" in str(failure.event_specific_data.error)
        # the file stays, so every re-run fails the same way: the message says how to get out
        assert ("Every re-run reuses this file and fails the same way: materialize the partition with "
                'retrain: true (run config {"ops": {"trained_architecture": {"config": {"retrain": true}}}}) '
                "to train again and replace it") in str(failure.event_specific_data.error)
    assert rows(fresh_store, "SELECT count(*) FROM training_runs") == [(0,)]
