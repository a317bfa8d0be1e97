"""SIGKILL ``dagster asset materialize`` in the middle of each long step, then run it again.

For every step: kill the whole process group at one moment, kill only the ``dagster`` process
at another (its step subprocess is orphaned), then re-run the same command with no manual step
in between. The re-run must succeed and leave exactly what one clean run leaves: whole files,
no temp files, no held locks, no run left STARTED, no occupied ``training`` pool slot (the
instance allows one, so a leaked slot blocks the re-run), no process left behind. The moments
are seen in the files the steps write, not guessed with sleeps. docs/faults.md lists the cases.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import pytest

from nas_assets.core.store.results import load_result
from tests.dagster_server import instance_env
from tests.defs.kill_harness import (
    ACTIVE,
    TRAINING,
    Materialization,
    glob_any,
    instance_state,
    leftovers,
    lock_held,
    wait_no_strays,
)

DESIGN = {"ops": {"sampled_architectures": {"config": {"preset": "demo", "n_initial": 2, "n_walks": 0,
                                                        "walk_length": 1, "n_local_search": 0}}}}


def _rows(db, sql: str):
    with duckdb.connect(str(db), read_only=True) as conn:
        return conn.execute(sql).fetchall()


def _killed_twice_then_clean(env, tmp_path, name: str, select: str, group_moment, dagster_moment,
                             partition: str | None = None, config: dict | None = None) -> str:
    """Kill the group at one moment, only dagster at another, then run to the end; the clean run's log.

    After each kill every process of the instance must end by itself (an orphaned step finishes
    or stops, a trainer dies with its launcher) before the next command starts.
    """
    home, data = Path(env["DAGSTER_HOME"]), Path(env["NAS_ASSETS_DATA_DIR"])
    first = Materialization(env, tmp_path / f"{name}-1.log", select, partition, config)
    first.wait_until(group_moment[1], f"{name}: {group_moment[0]}")
    first.kill_group()
    wait_no_strays(home, data)
    second = Materialization(env, tmp_path / f"{name}-2.log", select, partition, config)
    second.wait_until(dagster_moment[1], f"{name}: {dagster_moment[0]}")
    second.kill_dagster()
    wait_no_strays(home, data)
    return Materialization(env, tmp_path / f"{name}-3.log", select, partition, config).finish()


def _assert_clean(tmp_path, home, data) -> None:
    wait_no_strays(home, data)
    assert leftovers(data) == [], "temp files or held locks left behind"
    statuses, claimed, pending = instance_state(home)
    assert not ACTIVE & set(statuses), f"runs left active: {statuses}"
    assert (claimed, pending) == (0, 0), f"training pool: {claimed} slots claimed, {pending} steps pending"


@pytest.mark.slow
def test_every_long_step_survives_sigkill_and_a_plain_rerun(tmp_path, space_store):
    store = tmp_path / "data" / "nas_assets.duckdb"
    store.parent.mkdir()
    shutil.copy(space_store, store)
    env = instance_env(tmp_path, db=store)
    home, data = tmp_path / "dagster_home", tmp_path / "data"
    # one slot: a slot leaked by a killed run blocks every later partition ("blocked by limit")
    (home / "dagster.yaml").write_text((home / "dagster.yaml").read_text().replace("default_limit: 4",
                                                                                    "default_limit: 1"))

    # the design and the dataset step: generation (group killed), then the cache build (only dagster killed)
    _killed_twice_then_clean(
        env, tmp_path, "dataset", "sampled_architectures,so2sat_dataset",
        ("generating the stand-in", glob_any(data, ".so2sat_synthetic.tmp-*/training.h5")),
        ("building the cache", glob_any(data / "cache", ".fusion-*.tmp-*")),
        config=DESIGN,
    )
    assert sorted(p.name for p in (data / "so2sat_synthetic").iterdir()) == ["testing.h5", "training.h5",
                                                                               "validation.h5"]
    assert len([p for p in (data / "cache").iterdir() if not p.name.startswith(".")]) == 1
    _assert_clean(tmp_path, home, data)

    # a training partition: group killed after the first epoch's checkpoint, then only dagster
    # killed while the trainer runs (the step must stop it); the re-run needs the single pool slot
    (key,) = _rows(store, "SELECT arch_hash FROM sampled_architectures ORDER BY arch_hash LIMIT 1")[0]
    runs = data / "runs"
    log = _killed_twice_then_clean(
        env, tmp_path, "training", "trained_architecture",
        ("the checkpoint of epoch 1", glob_any(runs, f"*/checkpoints/{key}/last.ckpt")),
        ("the trainer running", lock_held(runs, f"*/.{key}.lock")),
        partition=key,
    )
    assert "RUN_SUCCESS" in log
    (result,) = list(runs.glob(f"*/{key}.json"))
    record = load_result(result)
    assert [b["epoch"] for b in record["budgets"]] == TRAINING["budgets"]
    assert _rows(store, "SELECT count(*), count(DISTINCT arch_hash) FROM training_runs") == [(1, 1)]
    assert _rows(store, "SELECT count(*) FROM budget_metrics") == [(len(TRAINING["budgets"]),)]
    assert _rows(store, "SELECT count(*) FROM class_metrics") == [(17 * len(TRAINING["budgets"]),)]
    _assert_clean(tmp_path, home, data)
