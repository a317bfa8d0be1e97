"""An empty design would delete every architecture partition: refused unless asked for."""

from __future__ import annotations

import duckdb
from dagster import instance_for_test, materialize

from nas_assets.defs.partitions import ARCHITECTURE_PARTITIONS
from nas_assets.defs.resources import StoreResource
from nas_assets.defs.space_assets import sampled_architectures


def design(**sizes) -> dict:
    return {"ops": {"sampled_architectures": {"config": {"preset": "demo", **sizes}}}}


SMALL = {"n_initial": 2, "n_walks": 0, "walk_length": 1, "n_local_search": 0}
EMPTY = {"n_initial": 0, "n_walks": 0, "walk_length": 0, "n_local_search": 0}


def sample(instance, store, run_config):
    return materialize([sampled_architectures], instance=instance,
                       resources={"store": StoreResource(path=str(store))},
                       run_config=run_config, raise_on_error=False)


def test_empty_design_is_refused_unless_allowed(fresh_store):
    with instance_for_test() as instance:
        assert sample(instance, fresh_store, design(**SMALL)).success
        keys = set(instance.get_dynamic_partitions(ARCHITECTURE_PARTITIONS.name))
        assert len(keys) == 2
        refused = sample(instance, fresh_store, design(**EMPTY))
        assert not refused.success
        failure = next(e for e in refused.all_events if e.event_type_value == "STEP_FAILURE")
        text = str(failure.event_specific_data.error)
        assert "the design has no architecture" in text and (
            "it would empty sampled_architectures and remove every architecture partition. "
            "Set n_initial > 0, or allow_empty: true to empty the design on purpose; "
            "nothing was changed." in text)
        assert set(instance.get_dynamic_partitions(ARCHITECTURE_PARTITIONS.name)) == keys  # nothing deleted
        with duckdb.connect(str(fresh_store), read_only=True) as conn:
            assert conn.execute(
                "SELECT count(DISTINCT arch_hash) FROM sampled_architectures").fetchall() == [(2,)]

        allowed = sample(instance, fresh_store, design(**EMPTY, allow_empty=True))
        assert allowed.success
        assert instance.get_dynamic_partitions(ARCHITECTURE_PARTITIONS.name) == []
        meta = allowed.asset_materializations_for_node("sampled_architectures")[0].metadata
        assert meta["partitions_removed"].value == 2 and meta["n_architectures"].value == 0
