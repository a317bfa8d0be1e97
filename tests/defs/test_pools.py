"""The pools get the instance's default limit when the definitions load, before any run queues;
a limit set by hand is kept (nas_assets.defs.pools)."""

from __future__ import annotations

import shutil

from dagster import DagsterInstance

from nas_assets.defs.pools import TRAINING_POOL, initialize_pools
from tests.dagster_server import REPO


def test_the_training_pool_gets_the_default_limit_and_a_hand_set_limit_is_kept(tmp_path):
    shutil.copy(REPO / "dagster_home" / "dagster.yaml", tmp_path / "dagster.yaml")
    with DagsterInstance.from_config(str(tmp_path)) as instance:
        storage = instance.event_log_storage
        assert TRAINING_POOL not in storage.get_concurrency_keys()  # Dagster's own: not before a run
        assert initialize_pools(instance) == (TRAINING_POOL,)
        default = instance.global_op_concurrency_default_limit
        assert default is not None and storage.get_concurrency_info(TRAINING_POOL).slot_count == default
        storage.set_concurrency_slots(TRAINING_POOL, default + 3)
        assert initialize_pools(instance) == ()
        assert storage.get_concurrency_info(TRAINING_POOL).slot_count == default + 3


def test_loading_the_definitions_sets_the_pool_limit(tmp_path, monkeypatch):
    from nas_assets.defs.dead_runs import reap_on_load

    shutil.copy(REPO / "dagster_home" / "dagster.yaml", tmp_path / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    reap_on_load()
    with DagsterInstance.from_config(str(tmp_path)) as instance:
        assert TRAINING_POOL in instance.event_log_storage.get_concurrency_keys()
