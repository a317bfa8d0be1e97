"""The only code that writes the store's tables.

Every write replaces a table's rows (or one key's rows) inside one transaction, so re-running is
idempotent and an interrupted write leaves the previous rows in place.
"""

from __future__ import annotations

import json

import duckdb
import numpy as np
import pandas as pd

from nas_assets.core.store.connection import scalar, transaction
from nas_assets.core.store.schema import (
    ARCHITECTURE_COLUMNS,
    META_TABLE,
    RESULT_TABLES,
    SAMPLED_COLUMNS,
    TABLES,
)


def _replace(conn: duckdb.DuckDBPyConnection, table: str, frame: pd.DataFrame, where: str = "",
             params=()) -> None:
    """Replace all rows (or those matching ``where``) by ``frame`` in one transaction.

    A full replacement re-creates the table: deleting 400k primary keys and inserting them
    again costs DuckDB ~5x more than a fresh table.
    """
    with transaction(conn):
        _replace_rows(conn, table, frame, where, params)


def _replace_rows(conn: duckdb.DuckDBPyConnection, table: str, frame: pd.DataFrame, where: str = "",
                  params=()) -> None:
    """:func:`_replace` inside the caller's transaction."""
    if where:
        conn.execute(f"DELETE FROM {table} {where}", list(params))
    else:
        conn.execute(f"DROP TABLE {table}")
        conn.execute(f"CREATE TABLE {table} ({TABLES[table]})")
    _insert(conn, table, frame)


def _insert(conn: duckdb.DuckDBPyConnection, table: str, frame: pd.DataFrame) -> None:
    # no try/finally: after a failed INSERT the transaction is aborted and even unregister
    # fails, masking the real error; the next register replaces a stale view anyway
    conn.register("_incoming", frame)
    cols = ", ".join(frame.columns)
    conn.execute(f"INSERT INTO {table} ({cols}) SELECT {cols} FROM _incoming")
    conn.unregister("_incoming")


def set_meta(conn: duckdb.DuckDBPyConnection, key: str, value: object) -> None:
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    conn.execute(f"INSERT OR REPLACE INTO {META_TABLE} VALUES (?, ?)", [key, text])


def _check_columns(frame: pd.DataFrame, expected: list[str], table: str) -> None:
    missing = [c for c in expected if c not in frame.columns]
    if missing:
        raise ValueError(f"{table}: frame lacks columns {missing}; expected {expected}")


def _architecture_rows(frame: pd.DataFrame) -> pd.DataFrame:
    _check_columns(frame, ARCHITECTURE_COLUMNS, "architectures")
    if frame["arch_hash"].duplicated().any():
        raise ValueError("architectures: duplicate arch_hash values in the frame")
    return frame[ARCHITECTURE_COLUMNS]


def _neighbour_rows(kind: str, src: np.ndarray, dst: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame({"kind": kind, "src": src.astype(np.int32), "dst": dst.astype(np.int32)})


def write_architectures(conn: duckdb.DuckDBPyConnection, frame: pd.DataFrame) -> None:
    """Replace the ``architectures`` table (one row per cell of the space)."""
    _replace(conn, "architectures", _architecture_rows(frame))


def write_neighbours(conn: duckdb.DuckDBPyConnection, kind: str, src: np.ndarray, dst: np.ndarray) -> None:
    """Replace one neighbour index (``kind`` = 'fla' or 'graph_edit'), as arch_index pairs."""
    _replace(conn, "neighbours", _neighbour_rows(kind, src, dst), "WHERE kind = ?", [kind])


def write_space(conn: duckdb.DuckDBPyConnection, frame: pd.DataFrame, src: np.ndarray, dst: np.ndarray,
                meta: dict[str, object]) -> None:
    """Replace the space -- ``architectures``, the FLA neighbour index and the ``meta`` keys that
    say what it was computed for -- in one transaction.

    An interrupted rewrite (for another network shape, say) leaves the previous tables *with*
    their meta: the meta never describes rows it was not written with.
    """
    rows = _architecture_rows(frame)
    with transaction(conn):
        _replace_rows(conn, "architectures", rows)
        _replace_rows(conn, "neighbours", _neighbour_rows("fla", src, dst), "WHERE kind = ?", ["fla"])
        for key, value in meta.items():
            set_meta(conn, key, value)


def write_sampled(conn: duckdb.DuckDBPyConnection, design: pd.DataFrame) -> None:
    """Replace the sampled design; every hash must exist in ``architectures``."""
    _check_columns(design, SAMPLED_COLUMNS, "sampled_architectures")
    conn.register("_design", design[["arch_hash"]])
    unknown = scalar(conn, "SELECT count(*) FROM _design d ANTI JOIN architectures a USING (arch_hash)")
    conn.unregister("_design")
    if unknown:
        raise ValueError(f"sampled_architectures: {unknown} hashes are not in the architectures table")
    _replace(conn, "sampled_architectures", design[SAMPLED_COLUMNS])


def replace_table(conn: duckdb.DuckDBPyConnection, table: str, frame: pd.DataFrame) -> None:
    """Replace all rows of one of the store's tables, in one transaction."""
    if table not in TABLES:
        raise ValueError(f"unknown table {table!r}")
    _replace(conn, table, frame)


def write_footprints(conn: duckdb.DuckDBPyConnection, footprints: pd.DataFrame,
                     differences: pd.DataFrame) -> None:
    """Replace ``footprints`` and ``footprint_differences`` together, in one transaction."""
    with transaction(conn):
        for table, frame in (("footprints", footprints), ("footprint_differences", differences)):
            conn.execute(f"DROP TABLE {table}")
            conn.execute(f"CREATE TABLE {table} ({TABLES[table]})")
            if len(frame):
                _insert(conn, table, frame)


def write_predictions(conn: duckdb.DuckDBPyConnection, frame: pd.DataFrame, version: str) -> None:
    """Replace ``surrogate_predictions`` and record the surrogate version, in one transaction."""
    _check_columns(frame, ["arch_hash", "metric", "budget", "mean", "std"], "surrogate_predictions")
    with transaction(conn):
        conn.execute("DROP TABLE surrogate_predictions")
        conn.execute(f"CREATE TABLE surrogate_predictions ({TABLES['surrogate_predictions']})")
        _insert(conn, "surrogate_predictions", frame)
        set_meta(conn, "surrogate_predictions_version", version)


def write_reference(conn: duckdb.DuckDBPyConnection, results: pd.DataFrame, predictions: pd.DataFrame,
                    version: str, summary: dict | None = None) -> None:
    """Replace the CIFAR-10 reference landscape (measured rows and whole-space predictions) and
    record its version (the source fingerprint) and summary, in one transaction."""
    _check_columns(results, ["arch_hash", "budget", "val_accuracy", "test_accuracy", "source"],
                   "reference_results")
    _check_columns(predictions, ["arch_hash", "budget", "mean", "std"], "reference_predictions")
    with transaction(conn):
        for table, frame in (("reference_results", results), ("reference_predictions", predictions)):
            conn.execute(f"DROP TABLE {table}")
            conn.execute(f"CREATE TABLE {table} ({TABLES[table]})")
            _insert(conn, table, frame)
        set_meta(conn, "reference_version", version)
        set_meta(conn, "reference_summary", summary or {})


def write_results(conn: duckdb.DuckDBPyConnection, frames: dict[str, pd.DataFrame]) -> int:
    """Upsert validated result rows (see ``core.results.result_frames``) in one transaction.

    Every (arch_hash, run_key) present in ``frames`` loses its old rows in all three result
    tables first, so re-ingesting a run replaces it and never duplicates it; so do the keys in
    ``frames["superseded_runs"]`` (the same runs under the key an older version gave them).

    Returns:
        Number of runs written.
    """
    runs = frames["training_runs"]
    if runs.empty:
        return 0
    if runs[["arch_hash", "run_key"]].duplicated().any():
        raise ValueError("training_runs: the same (arch_hash, run_key) appears twice in one ingest")
    with transaction(conn):
        replaced = [runs[["arch_hash", "run_key"]]]
        if "superseded_runs" in frames:
            replaced.append(frames["superseded_runs"][["arch_hash", "run_key"]])
        conn.register("_keys", pd.concat(replaced, ignore_index=True))
        for table in RESULT_TABLES:
            conn.execute(f"DELETE FROM {table} WHERE (arch_hash, run_key) IN (SELECT (arch_hash, run_key) "
                         "FROM _keys)")
        conn.unregister("_keys")
        for table in RESULT_TABLES:
            if not frames[table].empty:
                _insert(conn, table, frames[table])
    return len(runs)
