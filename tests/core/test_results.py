"""Result files: validation with clear errors, idempotent transactional ingestion."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest

from nas_assets.core import run_keys, store
from nas_assets.core.cells.space import ArchSpec
from nas_assets.core.store.results import (
    ResultError,
    config_key,
    load_result,
    result_frames,
    run_key,
    validate_result,
)
from tests.factories import fake_result

SPECS = [
    ArchSpec.from_spec([[0, 1, 1], [0, 0, 1], [0, 0, 0]], ["input", "conv3x3-bn-relu", "output"]),
    ArchSpec.from_spec([[0, 1, 0], [0, 0, 1], [0, 0, 0]], ["input", "maxpool3x3", "output"]),
]


def _ingest(db, records):
    with store.connect(db) as conn:
        return store.write_results(conn, result_frames(records))


def _counts(db):
    with store.connect(db, read_only=True) as conn:
        return {t: store.table_count(conn, t) for t in store.RESULT_TABLES}


def test_valid_record_round_trip_and_idempotent_ingest(tmp_path):
    db = tmp_path / "nas.duckdb"
    records = [(fake_result(s, seed=i), f"r{i}.json") for i, s in enumerate(SPECS)]
    assert _ingest(db, records) == 2
    assert _counts(db) == {"training_runs": 2, "budget_metrics": 8, "class_metrics": 2 * 4 * 17}
    _ingest(db, records)  # again: replaced, not duplicated
    assert _counts(db) == {"training_runs": 2, "budget_metrics": 8, "class_metrics": 2 * 4 * 17}
    changed = copy.deepcopy(records[0][0])
    changed["budgets"][0]["val"]["overall_accuracy"] = 0.123
    _ingest(db, [(changed, "r0.json")])
    with store.connect(db, read_only=True) as conn:
        got = conn.execute(
            "SELECT val_overall_accuracy FROM budget_metrics WHERE arch_hash = ? AND epoch = 4",
            [SPECS[0].arch_hash]
        ).fetchall()
    assert got == [(0.123,)]
    # another seed is another run of the same architecture (a repeat), not a replacement
    _ingest(db, [(fake_result(SPECS[0], seed=99), "r99.json")])
    assert _counts(db)["training_runs"] == 3


def test_run_key_ignores_runtime_knobs():
    a = fake_result(SPECS[0])
    b = copy.deepcopy(a)
    b["config"]["compile"] = True
    b["environment"]["world_size"] = 4
    assert run_key(a) == run_key(b)
    b["config"]["seed"] = 5
    assert run_key(a) != run_key(b)


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda r: r["budgets"].pop(), r"budgets recorded for epochs \[4, 12, 36\], expected exactly "
                                       r"\[4, 12, 36, 108\]"),
        (lambda r: r["budgets"][1]["val"].__setitem__("macro_accuracy",
                                                      1.5), r"budgets\[epoch=12\]\.val\.macro_accuracy = 1.5 "
                                                            r"is outside \[0, 1\]"),
        (lambda r: r["budgets"][0]["train"].__setitem__("loss", float("nan")), r"train\.loss is nan"),
        (lambda r: r["budgets"][0]["val"]["per_class_accuracy"].pop(), r"per_class_accuracy must list "
                                                                       r"17 values, got 16"),
        (lambda r: r["arch"].__setitem__("arch_hash", "0" * 32), "does not match its matrix/ops"),
        (lambda r: r.__setitem__("status", "running"), "status is 'running'"),
        (lambda r: r.__setitem__("schema_version", 9), "schema_version 9 not supported"),
        (lambda r: r["arch"].__setitem__("ops", "input,conv9x9,output"),
         "arch is not a valid cell: unknown op"),
    ],
)
def test_malformed_records_are_rejected_with_the_field_named(mutate, message):
    record = fake_result(SPECS[0])
    mutate(record)
    with pytest.raises(ResultError, match=message):
        validate_result(record, "x.json")


def test_partial_file_fails_and_tables_stay_untouched(tmp_path):
    db = tmp_path / "nas.duckdb"
    _ingest(db, [(fake_result(SPECS[0]), "a.json")])
    before = _counts(db)
    path = tmp_path / "partial.json"
    path.write_text(json.dumps(fake_result(SPECS[1]))[:500])
    with pytest.raises(ResultError, match=r"partial\.json: not valid JSON .*partial or corrupt"):
        load_result(path)
    with pytest.raises(ResultError, match="result file not found"):
        load_result(tmp_path / "missing.json")
    assert _counts(db) == before


def test_failed_insert_rolls_back_everything(tmp_path):
    db = tmp_path / "nas.duckdb"
    _ingest(db, [(fake_result(SPECS[0]), "a.json")])
    before = _counts(db)
    frames = result_frames([(fake_result(SPECS[0], seed=0), "a.json"), (fake_result(SPECS[1]), "b.json")])
    frames["class_metrics"].loc[5, "class_index"] = frames["class_metrics"].loc[4, "class_index"]  # PK clash
    with store.connect(db) as conn:
        with pytest.raises(Exception):
            store.write_results(conn, frames)
    assert _counts(db) == before
    assert np.isfinite(before["training_runs"])


#: A schema-1 record's identity (only what run_key reads); its key was computed before
#: protocols existed and must never change, or re-ingesting old files would duplicate runs.
SCHEMA1_IDENTITY = {
    "config": {"budgets": [4, 12, 36, 108], "recipe": "sgd", "lr": None, "batch_size": 256,
               "stem_channels": 128, "num_stacks": 3, "cells_per_stack": 3, "augment": True, "seed": 0,
               "precision": "auto"},
    "data": {"name": "so2sat-v2-fusion"},
    "network": {"in_channels": 18, "num_classes": 17, "input_size": 32},
}


def with_budget_tests(record: dict) -> dict:
    """``record`` as schema 2 writes it: a test split in every budget record, the last one on top."""
    record = copy.deepcopy(record)
    record["schema_version"] = 2
    record["config"]["protocol"] = "nb101"
    for k, budget in enumerate(record["budgets"]):
        budget["test"] = {**copy.deepcopy(budget["val"]), "overall_accuracy": 0.5 + 0.01 * k,
                          "per_class_accuracy": [0.3 + 0.01 * k] * 17}
    record["test"] = {"epoch": record["budgets"][-1]["epoch"], **record["budgets"][-1]["test"]}
    return record


def test_old_snapshot_records_keep_their_run_key_and_protocols_differ():
    assert run_key(SCHEMA1_IDENTITY) == "dfe00d176e882420"  # computed by the schema-1 code
    snapshot = copy.deepcopy(SCHEMA1_IDENTITY)
    snapshot["config"]["protocol"] = "snapshot"
    assert run_key(snapshot) == "dfe00d176e882420"
    nb101 = copy.deepcopy(SCHEMA1_IDENTITY)
    nb101["config"]["protocol"] = "nb101"
    assert run_key(nb101) == "12996083b1689264" != run_key(snapshot)


def test_test_metrics_at_every_budget_reach_the_tables(tmp_path):
    db = tmp_path / "nas.duckdb"
    new = with_budget_tests(fake_result(SPECS[0]))
    validate_result(new, "new.json")
    old = fake_result(SPECS[1])  # schema 1: test at the last budget only
    _ingest(db, [(new, "new.json"), (old, "old.json")])
    with store.connect(db, read_only=True) as conn:
        budgets = conn.execute("SELECT arch_hash, epoch, test_overall_accuracy FROM budget_metrics "
                               "ORDER BY arch_hash, epoch").fetchall()
        classes = conn.execute("SELECT arch_hash, epoch, count(test_accuracy), min(test_accuracy) FROM "
                               "class_metrics GROUP BY ALL ORDER BY arch_hash, epoch").fetchall()
        protocols = dict(conn.execute("SELECT arch_hash, protocol FROM training_runs").fetchall())
    got = {(h, e): v for h, e, v in budgets}
    for k, epoch in enumerate((4, 12, 36, 108)):
        assert got[SPECS[0].arch_hash, epoch] == pytest.approx(0.5 + 0.01 * k)
        assert got[SPECS[1].arch_hash, epoch] == (old["test"]["overall_accuracy"] if epoch == 108 else None)
    per_class = {(h, e): (n, lo) for h, e, n, lo in classes}
    for k, epoch in enumerate((4, 12, 36, 108)):
        assert per_class[SPECS[0].arch_hash, epoch] == (17, pytest.approx(0.3 + 0.01 * k))
        assert per_class[SPECS[1].arch_hash, epoch][0] == (17 if epoch == 108 else 0)
    assert protocols == {SPECS[0].arch_hash: "nb101", SPECS[1].arch_hash: "snapshot"}


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda r: r["budgets"][1]["test"].__setitem__("kappa", -2.0), r"budgets\[epoch=12\]\.test\.kappa = "
                                                                       r"-2.0 is outside \[-1, 1\]"),
        (lambda r: r["budgets"][0]["test"].pop("loss"), r"budgets\[epoch=4\]\.test\.loss is missing"),
        (lambda r: r["config"].__setitem__("protocol", "nb201"), r"config\.protocol 'nb201' unknown "
                                                                 r"\(expected one of "
                                                                 r"\['snapshot', 'nb101'\]\)"),
    ],
)
def test_malformed_schema2_records_are_rejected_with_the_field_named(mutate, message):
    record = with_budget_tests(fake_result(SPECS[0]))
    mutate(record)
    with pytest.raises(ResultError, match=message):
        validate_result(record, "x.json")


def test_a_store_made_before_the_protocol_column_gets_it_and_keeps_its_rows(tmp_path):
    db = tmp_path / "old.duckdb"
    _ingest(db, [(fake_result(SPECS[0]), "a.json")])
    with store.connect(db) as conn:  # make it look like a store written by the previous schema
        conn.execute("ALTER TABLE training_runs DROP COLUMN protocol")
    with store.connect(db, read_only=True) as conn:
        assert "protocol" not in conn.execute("SELECT * FROM training_runs").df().columns
    _ingest(db, [(with_budget_tests(fake_result(SPECS[1])), "b.json")])
    with store.connect(db, read_only=True) as conn:
        rows = dict(conn.execute("SELECT arch_hash, protocol FROM training_runs").fetchall())
    assert rows == {SPECS[0].arch_hash: None, SPECS[1].arch_hash: "nb101"}  # NULL: ingested before protocols


def _naming_its_data(record: dict) -> dict:
    """``record`` as the So2Sat trainer writes it: the data settings the run key covers."""
    record = copy.deepcopy(record)
    record["data"].update(source="/data/so2sat", sensor="fusion", s1_transform="signed_log", stats="train")
    return record


def test_a_record_naming_its_data_is_keyed_by_the_one_run_key():
    record = _naming_its_data(fake_result(SPECS[0]))
    assert run_key(record) == run_keys.run_key(record["config"], record["data"])
    assert config_key(record) == run_keys.config_key(record["config"], record["data"])
    assert run_key(record) != run_keys.legacy_run_key(record)
    other_stats = copy.deepcopy(record)
    other_stats["data"]["stats"] = "spec"  # the old key missed the normalisation
    assert run_key(other_stats) != run_key(record)
    assert run_keys.legacy_run_key(other_stats) == run_keys.legacy_run_key(record)


def test_rows_under_the_old_run_key_are_replaced_when_the_file_is_ingested_again(tmp_path):
    db = tmp_path / "nas.duckdb"
    record = _naming_its_data(fake_result(SPECS[0]))
    _ingest(db, [(record, "r.json")])
    old = run_keys.legacy_run_key(record)
    with store.connect(db) as conn:  # what an older version left: the same run under its key
        for table in store.RESULT_TABLES:
            conn.execute(f"UPDATE {table} SET run_key = ?", [old])
        conn.execute("UPDATE training_runs SET config_key = ?", [run_keys.legacy_config_key(record)])
    _ingest(db, [(record, "r.json")])
    assert _counts(db) == {"training_runs": 1, "budget_metrics": 4, "class_metrics": 4 * 17}
    with store.connect(db, read_only=True) as conn:
        for table in store.RESULT_TABLES:
            assert conn.execute(f"SELECT DISTINCT run_key FROM {table}").fetchall() == [(run_key(record),)]
        assert conn.execute("SELECT config_key FROM training_runs").fetchall() == [(config_key(record),)]
