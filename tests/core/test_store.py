"""The DuckDB store: idempotent transactional writes and refusal of files that are not ours."""

from __future__ import annotations

import subprocess
import sys
import time

import duckdb
import numpy as np
import pytest

from nas_assets.core import store
from nas_assets.core.cells.cost import SO2SAT_SHAPE
from nas_assets.core.cells.encoding import fla_neighbour_index
from nas_assets.core.cells.enumeration import enumerate_space
from nas_assets.core.cells.sampling import DesignConfig, sample_design
from nas_assets.core.cells.table import architecture_frame


@pytest.fixture(scope="module")
def small():
    space = enumerate_space(max_vertices=5, workers=1)
    fla = fla_neighbour_index(space)
    return space, fla, architecture_frame(space, SO2SAT_SHAPE, fla)


def snapshot(conn, table):
    return conn.execute(f"SELECT * FROM {table} ORDER BY ALL").fetchall()


def test_writes_are_idempotent(tmp_path, small):
    space, fla, frame = small
    design = sample_design(space.hashes, fla, DesignConfig(20, 2, 5, 3))
    db = tmp_path / "nas.duckdb"
    src, dst = fla.edges()
    for _ in range(2):
        with store.connect(db) as conn:
            store.write_architectures(conn, frame)
            store.write_neighbours(conn, "fla", src, dst)
            store.write_sampled(conn, design)
    with store.connect(db, read_only=True) as conn:
        assert store.table_count(conn, "architectures") == len(frame) == 2532
        assert store.table_count(conn, "neighbours") == dst.size
        assert store.table_count(conn, "sampled_architectures") == len(design)
        back = store.read_neighbour_index(conn, "fla", len(frame))
        first = snapshot(conn, "sampled_architectures")
        row = conn.execute("SELECT matrix, ops, params FROM architectures WHERE arch_index = 5").fetchall()[0]
    assert np.array_equal(back.indices, fla.indices) and np.array_equal(back.indptr, fla.indptr)
    assert row == (frame.matrix[5], frame.ops[5], frame.params[5])
    with store.connect(db) as conn:
        store.write_sampled(conn, design)
        assert snapshot(conn, "sampled_architectures") == first


def test_failed_write_keeps_previous_rows(tmp_path, small):
    space, fla, frame = small
    db = tmp_path / "nas.duckdb"
    design = sample_design(space.hashes, fla, DesignConfig(10, 0, 0, 0))
    with store.connect(db) as conn:
        store.write_architectures(conn, frame)
        store.write_sampled(conn, design)
        before_arch = store.table_count(conn, "architectures")
        before = snapshot(conn, "sampled_architectures")
        bad = design.copy()
        bad.loc[3, "arch_hash"] = "0" * 32
        with pytest.raises(ValueError, match="1 hashes are not in the architectures table"):
            store.write_sampled(conn, bad)
        broken = frame.copy()
        broken.loc[100, "ops"] = None  # violates NOT NULL half-way through the insert
        with pytest.raises(duckdb.ConstraintException):
            store.write_architectures(conn, broken)
        assert snapshot(conn, "sampled_architectures") == before
        assert store.table_count(conn, "architectures") == before_arch


def test_corrupt_file_is_refused_and_left_alone(tmp_path):
    db = tmp_path / "junk.duckdb"
    payload = b"this is not a database" * 100
    db.write_bytes(payload)
    with pytest.raises(store.StoreError, match=r"junk\.duckdb: not a readable DuckDB database"):
        with store.connect(db):
            pass
    assert db.read_bytes() == payload


def test_foreign_duckdb_is_refused(tmp_path):
    db = tmp_path / "other.duckdb"
    with duckdb.connect(str(db)) as conn:
        conn.execute("CREATE TABLE results (x INTEGER)")
        conn.execute("INSERT INTO results VALUES (1)")
    with pytest.raises(store.StoreError, match="did not create .*tables: results"):
        with store.connect(db):
            pass
    with duckdb.connect(str(db)) as conn:
        assert conn.execute("SELECT * FROM results").fetchall() == [(1,)]


def test_wrong_schema_version_is_refused(tmp_path):
    db = tmp_path / "old.duckdb"
    with store.connect(db) as conn:
        conn.execute(f"UPDATE {store.META_TABLE} SET value = '0' WHERE key = 'schema_version'")
    with pytest.raises(store.StoreError, match="schema version '0'"):
        with store.connect(db):
            pass


def test_missing_store_read_only(tmp_path):
    with pytest.raises(store.StoreError, match="no such store"):
        with store.connect(tmp_path / "absent.duckdb", read_only=True):
            pass


def test_lock_held_by_another_process_gives_clear_error(tmp_path):
    db = tmp_path / "locked.duckdb"
    with store.connect(db):
        pass
    holder = subprocess.Popen(
        [sys.executable, "-c",
         f"import duckdb, time; c = duckdb.connect({str(db)!r}); print('ok', flush=True); time.sleep(30)"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "ok"
        started = time.monotonic()
        with pytest.raises(store.StoreError, match=r"locked\.duckdb: the database is locked by another "
                                                   r"process \(held by .*PID \d+\)"):
            with store.connect(db, lock_timeout_s=0.5):
                pass
        assert time.monotonic() - started < 10
    finally:
        holder.kill()
        holder.wait()


def test_store_in_a_read_only_directory_says_so(tmp_path):
    from tests.unprivileged import call_unprivileged, shared_dir

    with shared_dir() as root:
        locked = root / "locked"  # the word in the path once passed for a lock conflict
        locked.mkdir()
        locked.chmod(0o555)
        path = locked / "nas.duckdb"

        def open_store() -> str:
            with store.connect(path):
                return "opened"

        text = call_unprivileged(open_store)
        assert not path.exists()
    assert text.startswith(f"StoreError: {path}: cannot create the store ("), text
    assert (f"the directory {locked} is not writable by this user: make it writable or point the store at "
            "another path (NAS_ASSETS_DB)." in text)
    assert "not a readable DuckDB database" not in text and "move it away" not in text


def test_store_below_a_file_says_so(tmp_path):
    (tmp_path / "file").write_text("")
    with pytest.raises(store.StoreError,
                       match=r"file/nas\.duckdb: cannot create the directory .*file \(File exists\); "
                             r"point the store at another path \(NAS_ASSETS_DB\)\."):
        with store.connect(tmp_path / "file" / "nas.duckdb"):
            pass


def test_package_reexports_each_modules_names():
    """``store.<name>`` is the very object its module defines: callers keep one import path."""
    from nas_assets.core.store import connection, errors, readers, schema, writers

    modules = (connection, errors, readers, schema, writers)
    for name in store.__all__:
        homes = [m for m in modules if getattr(m, name, None) is getattr(store, name)]
        assert homes, f"store.{name} is not defined by one of the store's modules"


def test_add_missing_columns_adds_later_columns_and_keeps_rows(tmp_path):
    from nas_assets.core.store import schema

    path = tmp_path / "old.duckdb"
    with store.connect(path):
        pass
    conn = duckdb.connect(str(path))
    conn.execute("INSERT INTO training_runs (arch_hash, run_key) VALUES ('a', 'k')")
    conn.execute("ALTER TABLE training_runs DROP COLUMN protocol")
    added = schema.add_missing_columns(conn, {"training_runs", "architectures"})
    assert added == {("training_runs", "protocol")}
    assert schema.add_missing_columns(conn, {"training_runs"}) == set()  # idempotent
    assert conn.execute("SELECT arch_hash, protocol FROM training_runs").fetchall() == [("a", None)]
    conn.close()
