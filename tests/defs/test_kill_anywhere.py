"""SIGKILL ``dagster asset materialize`` in the middle of each long step, then run it again.

For every step -- the space write, the dataset generation and cache build, a training partition,
the surrogate artifacts, the footprint report: kill the whole process group at one moment, kill
only the ``dagster`` process at another (its step subprocess is orphaned), then re-run the same
command with no manual step in between. The re-run must succeed and leave exactly what one clean
run leaves: whole files, no temp files, no held locks, no run left STARTED, no occupied
``training`` pool slot (the instance allows one, so a leaked slot blocks the re-run), no process
left behind. The moments are seen in the files the steps write (once, in a step's own log line),
not guessed with sleeps. docs/faults.md lists the cases.
"""

from __future__ import annotations

import base64
import json
import re
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

import duckdb
import pytest

from nas_assets.core.cells.cost import SO2SAT_SHAPE
from nas_assets.core.cells.space import SPACE_SIZE
from nas_assets.core.store.results import load_result
from nas_assets.core.surrogate.artifacts import read_index
from nas_assets.core.surrogate.model import Surrogate
from nas_assets.defs.space_assets import SPACE_FORMAT
from tests.dagster_server import instance_env
from tests.defs.kill_harness import (
    ACTIVE,
    SPACE_FROM,
    TRAINING,
    Materialization,
    glob_any,
    instance_state,
    leftovers,
    lock_held,
    wait_no_strays,
)
from tests.factories import seed_trained_store

DESIGN = {"ops": {"sampled_architectures": {"config": {"preset": "demo", "n_initial": 2, "n_walks": 0,
                                                        "walk_length": 1, "n_local_search": 0}}}}
#: Small surrogates and a footprint with fewer resamples: the writes are the same, the sums cheaper.
LATER_STAGES = {"ops": {
    "surrogate_model": {"config": {"ensemble_size": 2, "n_estimators": 60, "eval_repeats": 1,
                                   "targets": ["val_overall_accuracy@last", "val_macro_accuracy@last"]}},
    "footprint_report": {"config": {"n_walks": 5, "walk_length": 20, "estimator_repeats": 10,
                                    "bootstrap_resamples": 100, "full_space_cell_resamples": 10}},
}}


def _rows(db, sql: str):
    with duckdb.connect(str(db), read_only=True) as conn:
        return conn.execute(sql).fetchall()


def _killed_then_clean(env, tmp_path, name: str, select: str, kills: list[tuple[str, str, Callable[[],
                                                                                                   bool]]],
                       partition: str | None = None, config: dict | None = None) -> str:
    """Run the command once per ``(how, what, moment)`` of ``kills`` and SIGKILL it at that moment
    (``how``: 'group' or 'dagster'), then once more to the end; the clean run's log.

    After each kill every process of the instance must end by itself (an orphaned step kills
    itself, a trainer dies with its launcher) before the next command starts.
    """
    home, data = Path(env["DAGSTER_HOME"]), Path(env["NAS_ASSETS_DATA_DIR"])
    for n, (how, what, moment) in enumerate(kills, 1):
        killed = Materialization(env, tmp_path / f"{name}-{n}.log", select, partition, config)
        killed.wait_until(moment, f"{name}: {what}")
        killed.kill_group() if how == "group" else killed.kill_dagster()
        wait_no_strays(home, data)
    return Materialization(env, tmp_path / f"{name}-{len(kills) + 1}.log", select, partition, config).finish()


def _killed_twice_then_clean(env, tmp_path, name: str, select: str, group_moment, dagster_moment,
                             partition: str | None = None, config: dict | None = None) -> str:
    """Kill the group at one moment, only dagster at another, then run to the end; the clean run's log."""
    return _killed_then_clean(env, tmp_path, name, select, [("group", *group_moment), ("dagster",
                                                                                       *dagster_moment)],
                              partition, config)


def _grew(path: Path) -> Callable[[], bool]:
    """The file is larger than now (DuckDB writes a big insert's blocks before it commits)."""
    size = path.stat().st_size
    return lambda: path.stat().st_size > size


def _says(log: Path, text: str) -> Callable[[], bool]:
    return lambda: log.exists() and text in log.read_text(errors="replace")


def _rewritten(root: Path, pattern: str) -> Callable[[], bool]:
    """A file matching ``pattern`` is written after the first time this is asked (files of an
    earlier, killed command do not count)."""
    since: list[float] = []

    def moment() -> bool:
        since[:] = since or [time.time()]
        for path in root.glob(pattern):
            try:
                if path.stat().st_mtime > since[0]:
                    return True
            except FileNotFoundError:
                continue
        return False

    return moment


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


def _space_digest(db) -> list:
    """Row count, distinct hashes and a hash of every stored value of the space's two tables."""
    return _rows(db, """
        SELECT (SELECT count(*) FROM architectures), (SELECT count(DISTINCT arch_hash) FROM architectures),
               (SELECT sum(hash(arch_index, arch_hash, n_vertices, n_edges, matrix, ops, params, flops,
                                params_cifar10, flops_cifar10, n_fla_neighbours)) FROM architectures),
               (SELECT count(*) FROM neighbours WHERE kind = 'fla'),
               (SELECT sum(hash(src, dst)) FROM neighbours WHERE kind = 'fla')""")


def _assert_one_version_per_target(models: Path) -> list[str]:
    """index.json names every target's artifact, each loads, and nothing else is left beside it."""
    index = read_index(models)
    for target in index["targets"]:
        directory = models / target["directory"]
        assert [p.name for p in directory.parent.iterdir()] == [directory.name], (
            f"leftovers beside {directory}")
        assert sorted(p.name for p in directory.iterdir()) == ["cv_predictions.csv", "manifest.json",
                                                               "member_0.ubj",
                                                                "member_1.ubj"]
        Surrogate.load(directory)
    assert sorted(p.name for p in models.iterdir()) == sorted(["index.json",
                                                               *(t["name"] for t in index["targets"])])
    return [t["name"] for t in index["targets"]]


def _assert_report_of_one_run(reports: Path) -> None:
    """Every figure on disk is the one the HTML embeds (no figure of a killed run is left)."""
    html = (reports / "footprint_report.html").read_text()
    embedded = dict(re.findall(r'<figure id="([^"]+)"><h2>.*?<img src="data:image/png;base64,([^"]+)"', html))
    on_disk = {p.stem: base64.b64encode(p.read_bytes()).decode("ascii")
               for p in (reports / "figures").iterdir()}
    assert embedded and on_disk == embedded
    assert sorted(p.name for p in reports.iterdir()) == ["figures", "footprint_report.html"]


@pytest.mark.slow
def test_the_space_surrogates_and_report_survive_sigkill_and_a_plain_rerun(tmp_path, space_store):
    store = tmp_path / "data" / "nas_assets.duckdb"
    store.parent.mkdir()
    shutil.copy(space_store, store)
    # architecture_space takes the rows from the session's space store (the minutes of
    # enumeration are not what is tested) and writes them with its own code
    env = {**instance_env(tmp_path, db=store), SPACE_FROM: str(space_store)}
    home, data = tmp_path / "dagster_home", tmp_path / "data"

    # the space's write (one transaction): group killed while its blocks are being written, then
    # only dagster killed once the step says it writes
    log = _killed_then_clean(env, tmp_path, "space", "architecture_space", [
        ("group", "the store growing", _grew(store)),
        ("dagster", "the write starting", _says(tmp_path / "space-2.log", "writing the space")),
    ])
    assert "RUN_SUCCESS" in log
    assert _space_digest(store) == _space_digest(space_store)
    assert _space_digest(store)[0][:2] == (SPACE_SIZE, SPACE_SIZE)
    assert _rows(store, "SELECT key, value FROM nas_assets_meta WHERE key IN ('network_shape', "
                        "'space_format') "
                        "ORDER BY key") == [("network_shape", json.dumps(asdict(SO2SAT_SHAPE),
                                                                         sort_keys=True)),
                                           ("space_format", SPACE_FORMAT)]
    assert not store.with_name(f"{store.name}.wal").exists()
    _assert_clean(tmp_path, home, data)

    # the surrogates: the group killed while the first target is evaluated (its version directory
    # staged), only dagster killed once a version is written (the orphaned step kills itself)
    seed_trained_store(store, n=40, budgets=(1, 2))
    models, reports = data / "models", data / "reports"
    log = _killed_then_clean(env, tmp_path, "surrogates", "surrogate_model,surrogate_predictions", [
        ("group", "a surrogate version staged", glob_any(models, "*/.*.tmp")),
        ("dagster", "a surrogate version written", glob_any(models, "*/[0-9a-f]*/manifest.json")),
    ], config=LATER_STAGES)
    assert "RUN_SUCCESS" in log
    targets = _assert_one_version_per_target(models)
    assert _rows(store, "SELECT count(*), count(DISTINCT (arch_hash, metric, budget)) FROM "
                        "surrogate_predictions") == [
        (SPACE_SIZE * len(targets), SPACE_SIZE * len(targets))]
    _assert_clean(tmp_path, home, data)

    # the report: the group killed between two of its figures, then only dagster killed while
    # it rewrites them
    log = _killed_then_clean(env, tmp_path, "report", "footprint_report", [
        ("group", "the first figure of the report", glob_any(reports, "figures/*.png")),
        ("dagster", "a figure of the report rewritten", _rewritten(reports, "figures/*.png")),
    ], config=LATER_STAGES)
    assert "RUN_SUCCESS" in log
    _assert_report_of_one_run(reports)
    assert _rows(store, "SELECT count(*) = count(DISTINCT (landscape, metric)), count(DISTINCT landscape) "
                        "FROM footprints") == [(True, 2)]
    _assert_clean(tmp_path, home, data)
