"""One training configuration per answer: a store holding two configurations of the same cells
answers each query from one of them (seeds within it are repeats) and says which."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from nas_assets import Benchmark
from nas_assets.core import store
from nas_assets.core.cells.space import ArchSpec
from nas_assets.core.store import footprint as fq
from nas_assets.core.store import training as q
from nas_assets.core.store.configurations import configurations, resolve_config
from nas_assets.core.store.results import config_key, result_frames, run_key
from tests.factories import fake_result


def _other_recipe(record: dict) -> dict:
    out = copy.deepcopy(record)
    out["config"]["lr"] = 0.05  # another training setup of the same cell
    for b in out["budgets"]:
        b["val"]["macro_accuracy"] = 0.05  # far from config A's values: a mix would show
    return out


@pytest.fixture(scope="module")
def two_configs(space, space_store, tmp_path_factory):
    import shutil

    path = tmp_path_factory.mktemp("configs") / "nas.duckdb"
    shutil.copy(space_store, path)
    cells = [ArchSpec.from_spec(space.matrix(i), space.ops(i)) for i in (10, 20, 30)]
    main = [(fake_result(s, seed=seed), f"{s.arch_hash}-a{seed}.json") for s in cells for seed in (0, 1)]
    other = [(_other_recipe(fake_result(cells[0], seed=seed)), f"{cells[0].arch_hash}-b{seed}.json")
             for seed in (0, 1, 2)]
    with store.connect(path) as conn:
        store.write_results(conn, result_frames(main + other))
        conn.execute(q.RESULTS_VIEW)
    return path, cells, main, other


def test_config_key_leaves_the_seed_out_and_run_key_keeps_it():
    spec = ArchSpec.from_spec([[0, 1], [0, 0]], ["input", "output"])
    a, b = fake_result(spec, seed=0), fake_result(spec, seed=1)
    assert config_key(a) == config_key(b) and run_key(a) != run_key(b)
    assert config_key(_other_recipe(a)) != config_key(a)


def test_store_lists_both_configurations_main_first(two_configs):
    path, cells, main, other = two_configs
    with store.connect(path, read_only=True) as conn:
        frame = configurations(conn)
        assert list(frame["architectures"]) == [3, 1] and list(frame["seeds"]) == [2, 3]
        chosen, counts = resolve_config(conn, None)
        assert chosen == config_key(main[0][0]) and counts == {chosen: 3, config_key(other[0][0]): 1}
        # a run key of one of a configuration's runs names that configuration
        assert resolve_config(conn, run_key(other[1][0]))[0] == config_key(other[0][0])
        with pytest.raises(LookupError, match="no training configuration or run key 'nope'"):
            resolve_config(conn, "nope")


def test_query_answers_from_one_configuration_and_names_it(two_configs):
    path, cells, main, other = two_configs
    bench = Benchmark.open(path)
    out = bench.query_hash(cells[0].arch_hash, 108, "val_macro_accuracy")
    expected = [r["budgets"][-1]["val"]["macro_accuracy"] for r, _ in main[:2]]
    assert out["config_key"] == config_key(main[0][0]) == bench.config_key
    assert out["repeats"] == 2 and out["value"] == pytest.approx(np.mean(expected))  # no 0.05 mixed in
    alt = Benchmark.open(path, config_key=config_key(other[0][0])).query_hash(cells[0].arch_hash, 108,
                                                                              "val_macro_accuracy")
    assert alt["repeats"] == 3 and alt["value"] == pytest.approx(0.05)
    top = bench.top(3, 108, "val_macro_accuracy", source="trained")
    assert set(top["config_key"]) == {bench.config_key}
    with pytest.raises(LookupError, match="nope"):
        Benchmark.open(path, config_key="nope")


def test_results_view_surrogate_rows_and_footprint_use_one_configuration(two_configs):
    path, cells, main, other = two_configs
    key = config_key(main[0][0])
    with store.connect(path, read_only=True) as conn:
        view = conn.execute("SELECT DISTINCT config_key, count(*) OVER () FROM results").fetchall()
        assert view == [(key, 6)]  # 3 cells x 2 seeds of the main configuration
        assert conn.execute("SELECT count(*) FROM results_all_configurations").fetchall()[0][0] == 9
        rows = q.trained_values(conn, key, "val_macro_accuracy", 108).set_index("arch_hash")
        assert list(rows["seeds"]) == [2, 2, 2] and rows.loc[cells[0].arch_hash, "value"] > 0.3
        _, hashes, values = fq.sampled_fitness(conn, key, "val_macro_accuracy")
        assert len(hashes) == 3 and values.min() > 0.3
        _, hashes_b, values_b = fq.sampled_fitness(conn, config_key(other[0][0]), "val_macro_accuracy")
        assert list(hashes_b) == [cells[0].arch_hash] and values_b[-1, 0] == pytest.approx(0.05)


def test_a_store_from_before_configuration_keys_reads_each_run_key_as_its_own(tmp_path):
    import duckdb

    from nas_assets.core.store.configurations import main_config

    path = tmp_path / "old.duckdb"
    with store.connect(path):
        pass
    with duckdb.connect(str(path)) as conn:  # what an older version left: no config_key column
        conn.execute("ALTER TABLE training_runs DROP COLUMN config_key")
        conn.executemany("INSERT INTO training_runs (arch_hash, run_key, seed) VALUES (?, ?, ?)",
                         [["a" * 32, "run0", 0], ["b" * 32, "run0", 0], ["a" * 32, "run1", 1]])
    with store.connect(path, read_only=True) as conn:
        assert main_config(conn) == ("run0", {"run0": 2, "run1": 1})
    with store.connect(path) as conn:  # a writable open adds the column and fills it
        assert conn.execute("SELECT DISTINCT run_key = config_key FROM training_runs").fetchall() == [(True,)]
        assert main_config(conn) == ("run0", {"run0": 2, "run1": 1})
