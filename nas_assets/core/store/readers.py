"""Small reads every layer shares: meta keys, row counts, the stored space and its neighbour
index, the reference landscape's state. (Queries for one purpose live in ``space``, ``training``,
``footprint`` and ``configurations``.)
"""

from __future__ import annotations

import json

import duckdb
import numpy as np

from nas_assets.core.store.connection import scalar
from nas_assets.core.store.schema import META_TABLE


def config_key_sql(conn: duckdb.DuckDBPyConnection, alias: str = "r") -> str:
    """SQL for a ``training_runs`` row's configuration key; a store opened read-only that predates
    the column reads each run key as its own configuration."""
    have = conn.execute("SELECT count(*) FROM information_schema.columns WHERE table_schema = 'main' "
                        "AND table_name = 'training_runs' AND column_name = 'config_key'").fetchall()[0][0]
    return f"coalesce({alias}.config_key, {alias}.run_key)" if have else f"{alias}.run_key"


def get_meta(conn: duckdb.DuckDBPyConnection, key: str) -> str | None:
    value = scalar(conn, f"SELECT value FROM {META_TABLE} WHERE key = ?", [key])
    return None if value is None else str(value)


def table_count(conn: duckdb.DuckDBPyConnection, table: str) -> int:
    return int(scalar(conn, f"SELECT count(*) FROM {table}"))


def read_reference_state(conn: duckdb.DuckDBPyConnection) -> tuple[str | None, dict]:
    """The stored reference landscape's version and summary; (None, {}) when none is stored."""
    if not table_count(conn, "reference_predictions"):
        return None, {}
    summary = get_meta(conn, "reference_summary")
    return get_meta(conn, "reference_version"), json.loads(summary) if summary else {}


def read_padded_space(conn: duckdb.DuckDBPyConnection) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray,
                                                                                  np.ndarray]]:
    """Hashes and padded (matrices, labels, n_vertices) of every stored cell, in ``arch_index`` order."""
    from nas_assets.core.cells.table import padded_arrays

    cells = conn.execute("SELECT arch_hash, matrix, ops FROM architectures ORDER BY arch_index").df()
    return cells["arch_hash"].to_numpy(), padded_arrays(cells["matrix"].tolist(), cells["ops"].tolist())


def read_neighbour_index(conn: duckdb.DuckDBPyConnection, kind: str, n: int):
    """Load a stored neighbour index as a :class:`~nas_assets.core.cells.encoding.NeighbourIndex`."""
    from nas_assets.core.cells.encoding import NeighbourIndex

    src, dst = (
        conn.execute("SELECT src, dst FROM neighbours WHERE kind = ? ORDER BY src, dst", [kind])
        .fetchnumpy()
        .values()
    )
    src = np.asarray(src, dtype=np.int64)
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(src, minlength=n), out=indptr[1:])
    return NeighbourIndex(indptr=indptr, indices=np.asarray(dst, dtype=np.int32), kind=kind)
