"""The Dagster layer: Definitions load, both assets materialize in process, idempotently."""

from __future__ import annotations

import duckdb
import pytest
from dagster import AssetKey, DagsterInstance, instance_for_test

from nas_assets.core.cells.space import SPACE_SIZE
from nas_assets.defs import defs
from nas_assets.defs.definitions import build_definitions
from nas_assets.defs.partitions import ARCHITECTURE_PARTITIONS


def test_definitions_load():
    repo = defs.get_repository_def()
    keys = {k.to_user_string() for k in repo.asset_graph.get_all_asset_keys()}
    assert {"architecture_space", "sampled_architectures"} <= keys
    checks = {c.name for c in repo.asset_graph.asset_check_keys}
    assert {"space_has_exact_counts", "space_hashes_unique", "sampled_hashes_in_space",
            "partitions_match_design"} <= checks
    node = repo.asset_graph.get(AssetKey("architecture_space"))
    assert node.group_name == "space" and node.description


SPACE_STAGE = ["architecture_space", "sampled_architectures"]


def _run(defs_, instance: DagsterInstance, run_config: dict | None = None, selection=SPACE_STAGE):
    from dagster import materialize

    from nas_assets.defs.definitions import ASSETS, CHECKS

    result = materialize([*ASSETS, *CHECKS], instance=instance, resources=defs_.resources,
                         selection=selection, run_config=run_config or {})
    assert result.success
    checks = [e for e in result.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION"]
    assert all(e.event_specific_data.passed for e in checks)
    if "architecture_space" in selection:
        assert len(checks) == 4
    return result


def _rows(path, sql):
    with duckdb.connect(str(path), read_only=True) as conn:
        return conn.execute(sql).fetchall()


def test_materialize_both_assets_twice(tmp_path):
    db = tmp_path / "nas.duckdb"
    defs_ = build_definitions(str(db))
    with instance_for_test() as instance:
        result = _run(defs_, instance)
        meta = result.asset_materializations_for_node("architecture_space")[0].metadata
        assert meta["n_architectures"].value == SPACE_SIZE
        assert meta["fla_isolated_architectures"].value == 4318
        first_sample = _rows(db, "SELECT * FROM sampled_architectures ORDER BY visit")
        first_arch = _rows(db, "SELECT count(*), count(DISTINCT arch_hash), sum(params) FROM architectures")
        partitions = set(instance.get_dynamic_partitions(ARCHITECTURE_PARTITIONS.name))
        assert partitions == {r[2] for r in first_sample}

        forced = _run(defs_, instance,
                      run_config={"ops": {"architecture_space": {"config": {"force": True}}}})
        assert forced.asset_materializations_for_node(
            "architecture_space")[0].metadata["reused"].value is False
        # again: same rows, no duplicates
        assert _rows(db, "SELECT * FROM sampled_architectures ORDER BY visit") == first_sample
        assert _rows(db, "SELECT count(*), count(DISTINCT arch_hash), sum(params) FROM architectures") \
            == first_arch
        assert first_arch[0][0] == first_arch[0][1] == SPACE_SIZE
        # without force an identical stored space is reused, not recomputed
        reused = _run(defs_, instance)
        assert reused.asset_materializations_for_node(
            "architecture_space")[0].metadata["reused"].value is True

        # a new design (other seed) replaces the rows and the partition set
        from dagster import materialize

        from nas_assets.defs.definitions import ASSETS

        res = materialize(ASSETS, instance=instance, resources=defs_.resources,
                          selection=["sampled_architectures"],
                          run_config={"ops": {"sampled_architectures": {"config": {"preset": "demo",
                                                                                   "seed": 7}}}})
        assert res.success
        second = {r[0] for r in _rows(db, "SELECT DISTINCT arch_hash FROM sampled_architectures")}
        assert second != partitions
        assert set(instance.get_dynamic_partitions(ARCHITECTURE_PARTITIONS.name)) == second


def test_sampling_before_space_fails_clearly(tmp_path):
    from dagster import materialize

    from nas_assets.defs.resources import StoreResource
    from nas_assets.defs.space_assets import sampled_architectures

    with instance_for_test() as instance:
        with pytest.raises(Exception,
                           match="architectures table is empty; materialize architecture_space first"):
            materialize(
                [sampled_architectures],
                instance=instance,
                resources={"store": StoreResource(path=str(tmp_path / "empty.duckdb"))},
            )
