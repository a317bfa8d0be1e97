"""Result files: validation with clear errors, idempotent transactional ingestion."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest

from nas_assets.core import store
from nas_assets.core.results import ResultError, load_result, result_frames, run_key, validate_result
from nas_assets.core.space import ArchSpec
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
            "SELECT val_overall_accuracy FROM budget_metrics WHERE arch_hash = ? AND epoch = 4", [SPECS[0].arch_hash]
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
        (lambda r: r["budgets"].pop(), r"budgets recorded for epochs \[4, 12, 36\], expected exactly \[4, 12, 36, 108\]"),
        (lambda r: r["budgets"][1]["val"].__setitem__("macro_accuracy", 1.5), r"budgets\[epoch=12\]\.val\.macro_accuracy = 1.5 is outside \[0, 1\]"),
        (lambda r: r["budgets"][0]["train"].__setitem__("loss", float("nan")), r"train\.loss is nan"),
        (lambda r: r["budgets"][0]["val"]["per_class_accuracy"].pop(), r"per_class_accuracy must list 17 values, got 16"),
        (lambda r: r["arch"].__setitem__("arch_hash", "0" * 32), "does not match its matrix/ops"),
        (lambda r: r.__setitem__("status", "running"), "status is 'running'"),
        (lambda r: r.__setitem__("schema_version", 9), "schema_version 9 not supported"),
        (lambda r: r["arch"].__setitem__("ops", "input,conv9x9,output"), "arch is not a valid cell: unknown op"),
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
