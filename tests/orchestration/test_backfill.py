"""Batched backfills of trained_architecture: one run trains several partitions at once, each
materialized and checked on its own; a failed partition fails alone and is re-run alone. The last
test is the orchestration benchmark's path (daemon, webserver, GraphQL backfill) on 50 partitions."""

from __future__ import annotations

import os
import stat
import sys

import duckdb
from dagster import DagsterEventType, instance_for_test, materialize

from nas_assets.core import store as db
from nas_assets.defs.definitions import CHECKS, batched
from nas_assets.defs.launchers import LocalLauncher
from nas_assets.defs.partitions import ARCHITECTURE_PARTITIONS
from nas_assets.defs.resources import StoreResource, TrainingSetupResource
from tests.factories import later_stage_resources
from tests.orchestration.harness import design_hashes, prepare, run_backfill, table
from tests.orchestration.settings import TRAINING, data_resource

RANGE_START, RANGE_END = "dagster/asset_partition_range_start", "dagster/asset_partition_range_end"


def failing_python(tmp_path, arch: str):
    """An interpreter that exits 3 for the training of ``arch`` (MATRIX:OPS) and runs the others for real."""
    script = tmp_path / "python"
    script.write_text(f"#!/bin/sh\ncase \"$*\" in *{arch}*) echo 'injected failure'; exit 3;; esac\n"
                      f"exec {sys.executable} \"$@\"\n")
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return str(script)


def test_one_run_trains_a_range_and_fails_only_the_failed_partition(tmp_path, monkeypatch):
    keys, frame = design_hashes(3, "small")
    store = tmp_path / "nas.duckdb"
    with db.connect(store) as conn:
        db.write_architectures(conn, frame)
    data = data_resource(tmp_path)
    # the trainer sees the cell as MATRIX:OPS, not its hash: fail the third by its matrix and ops
    bad = frame.set_index("arch_hash").loc[keys[2]]
    resources = {
        "store": StoreResource(path=str(store)), "data": data,
        "training": TrainingSetupResource(runs_dir=str(tmp_path / "runs"), overrides=TRAINING),
        "launcher": LocalLauncher(python=failing_python(tmp_path, f"{bad['matrix']}:{bad['ops']}"),
                                  batch_concurrency=2),
        **later_stage_resources(tmp_path),
    }
    assets = [*batched(10), *CHECKS]
    monkeypatch.setenv("NAS_ASSETS_CPU_THREADS", "1")
    with instance_for_test() as instance:
        assert materialize(assets, instance=instance, resources=resources,
                           selection=["so2sat_dataset"]).success
        instance.add_dynamic_partitions(ARCHITECTURE_PARTITIONS.name, keys)
        result = materialize(assets, instance=instance, resources=resources,
                             selection=["trained_architecture"],
                             tags={RANGE_START: keys[0], RANGE_END: keys[2]}, raise_on_error=False)
        assert not result.success
        failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
        text = str(failure.event_specific_data.error.message)
        assert ("1 of 3 partitions of this run did not materialize" in text and keys[2] in text
                and "exited with code 3" in text)
        mats = [e.event_specific_data.materialization for e in result.all_events
                if e.event_type == DagsterEventType.ASSET_MATERIALIZATION]
        assert sorted(m.partition for m in mats) == sorted(keys[:2])
        assert all(m.metadata["batch_partitions"].value == 3 and m.metadata["train_cpu_s"].value > 0
                   for m in mats)
        checks = [e.event_specific_data for e in result.all_events
                  if e.event_type_value == "ASSET_CHECK_EVALUATION"]
        assert sorted({c.partition for c in checks}) == sorted(keys[:2]) and len(checks) == 6
        assert all(c.passed for c in checks)
        # the range again once the cause is gone: only the failed partition trains, the run succeeds
        resources["launcher"] = LocalLauncher(batch_concurrency=2)
        again = materialize(assets, instance=instance, resources=resources,
                            selection=["trained_architecture"],
                            tags={RANGE_START: keys[0], RANGE_END: keys[2]})
        assert again.success
        mats = {e.event_specific_data.materialization.partition:
                e.event_specific_data.materialization.metadata
                for e in again.all_events if e.event_type == DagsterEventType.ASSET_MATERIALIZATION}
        assert sorted(mats) == sorted(keys)
        assert [k for k in keys if not mats[k]["reused_result"].value] == [keys[2]]
        assert len([e for e in again.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION"]) == 9
    with duckdb.connect(str(store), read_only=True) as conn:
        assert conn.execute("SELECT count(DISTINCT arch_hash) FROM training_runs").fetchone()[0] == 3


def test_batched_backfill_through_daemon_and_webserver(tmp_path):
    """The orchestration benchmark's path at CI size: 50 partitions
    (NAS_ASSETS_ORCHESTRATION_PARTITIONS), 13 per run: 4 runs, the training pool's limit, so 4
    trainers at once."""
    setup = prepare(tmp_path, int(os.environ.get("NAS_ASSETS_ORCHESTRATION_PARTITIONS", "50")), "small",
                    "local", batch=13)
    outcome = run_backfill(setup, timeout_s=1200)
    print("\n" + table([outcome]))
    assert outcome.backfill_status == "COMPLETED_SUCCESS", outcome.dagster_errors
    assert outcome.runs == -(-len(setup.keys) // 13) and outcome.failed_runs == 0
    assert outcome.materialized == len(setup.keys) and outcome.duplicate_materializations == 0
    assert outcome.failed_checks == 0 and outcome.store_failures == 0
    assert outcome.training_rows == len(setup.keys)
    assert outcome.graphql.errors == 0 and outcome.graphql.samples
