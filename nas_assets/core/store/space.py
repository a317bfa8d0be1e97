"""SQL over the space and the design: the cells, their counts, the design's hashes."""

from __future__ import annotations

import duckdb
import numpy as np

from nas_assets.core.store.connection import scalar


def cell_strings(conn: duckdb.DuckDBPyConnection, arch_hash: str) -> tuple[str, str] | None:
    """``(matrix, ops)`` strings of one cell of the ``architectures`` table; None if it is not there."""
    rows = conn.execute("SELECT matrix, ops FROM architectures WHERE arch_hash = ?", [arch_hash]).fetchall()
    return (rows[0][0], rows[0][1]) if rows else None


def cells_strings(conn: duckdb.DuckDBPyConnection, hashes: list[str]) -> dict[str, tuple[str, str]]:
    """``(matrix, ops)`` strings of the given cells that are in the ``architectures`` table, by hash."""
    rows = conn.execute("SELECT arch_hash, matrix, ops FROM architectures WHERE arch_hash IN (SELECT "
                        "unnest(?))",
                        [list(hashes)]).fetchall()
    return {h: (m, o) for h, m, o in rows}


def space_hashes(conn: duckdb.DuckDBPyConnection) -> np.ndarray:
    """Every cell's hash in architecture-index order."""
    return np.asarray(conn.execute("SELECT arch_hash FROM architectures ORDER BY arch_index")
                      .fetchnumpy()["arch_hash"])


def space_costs(conn: duckdb.DuckDBPyConnection):
    """DataFrame ``arch_hash, params, flops`` in architecture-index order."""
    return conn.execute("SELECT arch_hash, params, flops FROM architectures ORDER BY arch_index").df()


def space_counts(conn: duckdb.DuckDBPyConnection) -> tuple[int, dict[int, int]]:
    """(cells, cells per vertex number)."""
    total = int(scalar(conn, "SELECT count(*) FROM architectures"))
    per_v = conn.execute("SELECT n_vertices, count(*) FROM architectures GROUP BY 1").fetchall()
    return total, {int(v): int(c) for v, c in per_v}


def duplicated_hashes(conn: duckdb.DuckDBPyConnection) -> int:
    """Hashes that appear more than once in ``architectures``."""
    return int(scalar(conn, "SELECT count(*) FROM (SELECT arch_hash FROM architectures "
                            "GROUP BY 1 HAVING count(*) > 1)"))


def design_visits(conn: duckdb.DuckDBPyConnection) -> tuple[int, int]:
    """(visits of the design, visits whose hash is not in the space)."""
    n = int(scalar(conn, "SELECT count(*) FROM sampled_architectures"))
    unknown = int(scalar(conn, "SELECT count(*) FROM sampled_architectures s "
                               "ANTI JOIN architectures a USING (arch_hash)"))
    return n, unknown


def design_hashes(conn: duckdb.DuckDBPyConnection) -> set[str]:
    """The design's distinct hashes."""
    return {r[0] for r in conn.execute("SELECT DISTINCT arch_hash FROM sampled_architectures").fetchall()}
