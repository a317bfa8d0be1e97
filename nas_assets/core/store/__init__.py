"""The DuckDB store: schema, safe opening, and the only code that writes tables.

One database file holds everything (architectures, neighbour indexes, the sampled design,
later training results). Rules:

* a file that is not a DuckDB database, or a DuckDB database made by something else, is
  refused with a message naming the file -- never initialised over or overwritten;
* every write replaces a table's rows (or one key's rows) inside one transaction, so re-running
  is idempotent and an interrupted write leaves the previous rows in place;
* a file locked by another process gives a clear error naming the holder.
"""

from __future__ import annotations

import json
import re
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import duckdb
import numpy as np
import pandas as pd

SCHEMA_NAME = "nas_assets"
SCHEMA_VERSION = "1"
META_TABLE = "nas_assets_meta"

TABLES: dict[str, str] = {
    META_TABLE: "key VARCHAR PRIMARY KEY, value VARCHAR NOT NULL",
    "architectures": (
        "arch_index INTEGER NOT NULL UNIQUE, arch_hash VARCHAR PRIMARY KEY, n_vertices TINYINT NOT NULL, "
        "n_edges TINYINT NOT NULL, matrix VARCHAR NOT NULL, ops VARCHAR NOT NULL, "
        "params BIGINT NOT NULL, flops BIGINT NOT NULL, params_cifar10 BIGINT NOT NULL, "
        "flops_cifar10 BIGINT NOT NULL, n_fla_neighbours SMALLINT NOT NULL"
    ),
    "neighbours": "kind VARCHAR NOT NULL, src INTEGER NOT NULL, dst INTEGER NOT NULL",
    "sampled_architectures": (
        "visit INTEGER PRIMARY KEY, arch_index INTEGER NOT NULL, arch_hash VARCHAR NOT NULL, "
        "stage VARCHAR NOT NULL, walk_id INTEGER, step INTEGER NOT NULL, parent_hash VARCHAR, "
        "is_new BOOLEAN NOT NULL"
    ),
    "training_runs": (
        "arch_hash VARCHAR NOT NULL, run_key VARCHAR NOT NULL, dataset VARCHAR, seed INTEGER, recipe "
        "VARCHAR, "
        "protocol VARCHAR, max_epochs INTEGER, params BIGINT, flops BIGINT, train_seconds DOUBLE, "
        "eval_seconds DOUBLE, images_per_second DOUBLE, world_size INTEGER, device VARCHAR, hostname "
        "VARCHAR, slurm_job_id VARCHAR, "
        "launcher VARCHAR, test_overall_accuracy DOUBLE, test_macro_accuracy DOUBLE, test_kappa DOUBLE, "
        "config VARCHAR, result_path VARCHAR, ingested_at TIMESTAMP DEFAULT current_timestamp, config_key "
        "VARCHAR, "
        "PRIMARY KEY (arch_hash, run_key)"
    ),
    "budget_metrics": (
        "arch_hash VARCHAR NOT NULL, run_key VARCHAR NOT NULL, epoch INTEGER NOT NULL, train_seconds DOUBLE, "
        "train_overall_accuracy DOUBLE, train_macro_accuracy DOUBLE, train_kappa DOUBLE, train_loss DOUBLE, "
        "val_overall_accuracy DOUBLE, val_macro_accuracy DOUBLE, val_kappa DOUBLE, val_loss DOUBLE, "
        "test_overall_accuracy DOUBLE, test_macro_accuracy DOUBLE, test_kappa DOUBLE, test_loss DOUBLE, "
        "PRIMARY KEY (arch_hash, run_key, epoch)"
    ),
    "class_metrics": (
        "arch_hash VARCHAR NOT NULL, run_key VARCHAR NOT NULL, epoch INTEGER NOT NULL, class_index SMALLINT "
        "NOT NULL, "
        "train_accuracy DOUBLE, val_accuracy DOUBLE, test_accuracy DOUBLE, "
        "PRIMARY KEY (arch_hash, run_key, epoch, class_index)"
    ),
    "surrogate_predictions": (
        "arch_hash VARCHAR NOT NULL, metric VARCHAR NOT NULL, budget INTEGER NOT NULL, "
        "mean DOUBLE NOT NULL, std DOUBLE NOT NULL"
    ),
    # the CIFAR-10 reference landscape: NB101's measured accuracies and a surrogate over the space
    "reference_results": (
        "arch_hash VARCHAR NOT NULL, budget INTEGER NOT NULL, val_accuracy DOUBLE, test_accuracy DOUBLE, "
        "source VARCHAR NOT NULL, predicted DOUBLE, PRIMARY KEY (arch_hash, budget)"
    ),
    "reference_predictions": (
        "arch_hash VARCHAR NOT NULL, budget INTEGER NOT NULL, mean DOUBLE NOT NULL, std DOUBLE NOT NULL"
    ),
    "footprints": (
        "landscape VARCHAR NOT NULL, metric VARCHAR NOT NULL, value DOUBLE, fitness VARCHAR NOT NULL, "
        "computed_at TIMESTAMP NOT NULL, ci_low DOUBLE, ci_high DOUBLE, ci_method VARCHAR, "
        "PRIMARY KEY (landscape, metric)"
    ),
    # paired bootstrap of So2Sat's trained sample minus CIFAR-10 on the same cells, per metric
    "footprint_differences": (
        "metric VARCHAR PRIMARY KEY, landscape_a VARCHAR NOT NULL, landscape_b VARCHAR NOT NULL, value_a "
        "DOUBLE, "
        "value_b DOUBLE, difference DOUBLE, ci_low DOUBLE, ci_high DOUBLE, verdict VARCHAR NOT NULL, "
        "method VARCHAR NOT NULL, computed_at TIMESTAMP NOT NULL"
    ),
}
RESULT_TABLES = ("training_runs", "budget_metrics", "class_metrics")


class StoreError(RuntimeError):
    """The database file cannot be used as a nas_assets store; the message says why and what to do."""


_LOCK_RE = re.compile(r"Conflicting lock is held in (.*?\(PID \d+\))")
_LOCK_CONFLICT_RE = re.compile(r"could not set lock|conflicting lock", re.IGNORECASE)


@dataclass
class LockWaits:
    """Waits of this process for another process's lock on a store (read by the orchestration
    benchmark and the training asset's metadata): how many opens had to wait, and for how long."""

    opens: int = 0
    seconds: float = 0.0


#: Totals for this process since it started.
LOCK_WAITS = LockWaits()


def _open(path: Path, read_only: bool, lock_timeout_s: float) -> duckdb.DuckDBPyConnection:
    start = time.monotonic()
    deadline = start + lock_timeout_s
    waited = False
    while True:
        try:
            conn = duckdb.connect(str(path), read_only=read_only)
            if waited:
                LOCK_WAITS.opens += 1
                LOCK_WAITS.seconds += time.monotonic() - start
            return conn
        except duckdb.IOException as exc:
            text = str(exc)
            if _LOCK_CONFLICT_RE.search(text):  # not any "lock": a path may hold the word
                if time.monotonic() < deadline:
                    waited = True
                    time.sleep(0.2)
                    continue
                holder = _LOCK_RE.search(text)
                raise StoreError(
                    f"{path}: the database is locked by another process "
                    f"({'held by ' + holder.group(1) if holder else text.strip()}). DuckDB allows one "
                    "writer: "
                    "stop that process (e.g. another Dagster run or a python shell) or wait for it to finish."
                ) from None
            if not path.exists():  # nothing to refuse: the file could not be created
                raise StoreError(
                    f"{path}: cannot create the store ({text.strip()}); the directory {path.parent} is not "
                    "writable by this user: make it writable or point the store at another path "
                    "(NAS_ASSETS_DB)."
                ) from None
            if "permission denied" in text.lower():
                raise StoreError(
                    f"{path}: permission denied ({text.strip()}); this user cannot "
                    f"{'read' if read_only else 'read and write'} the file: fix its permissions or point the "
                    "store at another path (NAS_ASSETS_DB)."
                ) from None
            raise StoreError(
                f"{path}: not a readable DuckDB database ({text.strip()}). Refusing to touch it: "
                "move it away or point the store at another path."
            ) from None
        except duckdb.Error as exc:
            raise StoreError(
                f"{path}: not a readable DuckDB database ({str(exc).strip()}). Refusing to touch it: "
                "move it away or point the store at another path."
            ) from None


def existing_tables(conn: duckdb.DuckDBPyConnection) -> set[str]:
    rows = conn.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main'"
    ).fetchall()
    return {r[0] for r in rows}


def _check_or_init(conn: duckdb.DuckDBPyConnection, path: Path, read_only: bool) -> None:
    tables = existing_tables(conn)
    if META_TABLE not in tables:
        if tables:
            raise StoreError(
                f"{path}: a DuckDB database that nas_assets did not create (tables: "
                f"{', '.join(sorted(tables))}; "
                f"no {META_TABLE} table). Refusing to write into it: choose another store path."
            )
        if read_only:
            raise StoreError(f"{path}: empty database; materialize the architecture_space asset first.")
        conn.execute("BEGIN")
        for name, columns in TABLES.items():
            conn.execute(f"CREATE TABLE {name} ({columns})")
        conn.execute(
            f"INSERT INTO {META_TABLE} VALUES ('schema', ?), ('schema_version', ?)", [SCHEMA_NAME,
                                                                                      SCHEMA_VERSION]
        )
        conn.execute("COMMIT")
        return
    meta = dict(conn.execute(f"SELECT key, value FROM {META_TABLE}").fetchall())
    if meta.get("schema") != SCHEMA_NAME:
        raise StoreError(f"{path}: {META_TABLE}.schema is {meta.get('schema')!r}, expected {SCHEMA_NAME!r}.")
    if meta.get("schema_version") != SCHEMA_VERSION:
        raise StoreError(
            f"{path}: store schema version {meta.get('schema_version')!r}, this nas_assets expects "
            f"{SCHEMA_VERSION!r}. Re-create the store (move the file away) or use the matching version."
        )
    missing = [t for t in TABLES if t not in tables]
    if missing and not read_only:
        for name in missing:
            conn.execute(f"CREATE TABLE {name} ({TABLES[name]})")
    if not read_only and ("training_runs", "config_key") in _add_missing_columns(conn, tables):
        # runs ingested before configuration keys: each run key its own configuration (never mixed);
        # ingesting their result files again gives them the real key
        conn.execute("UPDATE training_runs SET config_key = run_key WHERE config_key IS NULL")


def _add_missing_columns(conn: duckdb.DuckDBPyConnection, tables: set[str]) -> set[tuple[str, str]]:
    """Give tables of an older store the nullable columns added since (e.g. ``training_runs.protocol``).

    Additive changes need no schema-version bump: old rows read NULL there, old readers ignore
    the column. Only name and type are added; constraints of later columns cannot apply to old rows.

    Returns:
        The (table, column) pairs added.
    """
    added: set[tuple[str, str]] = set()
    for name in tables & TABLES.keys():
        have = {r[0] for r in conn.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = 'main' "
            "AND table_name = ?", [name]).fetchall()}
        for column in re.split(r",\s*(?![^()]*\))", TABLES[name]):  # commas outside PRIMARY KEY (a, b)
            col_name, col_type = column.split()[:2]
            if col_name.upper() not in ("PRIMARY", "UNIQUE") and col_name not in have:
                conn.execute(f"ALTER TABLE {name} ADD COLUMN IF NOT EXISTS {col_name} {col_type}")
                added.add((name, col_name))
    return added


@contextmanager
def connect(path: str | Path, read_only: bool = False,
            lock_timeout_s: float = 5.0) -> Iterator[duckdb.DuckDBPyConnection]:
    """Open (creating if absent) a nas_assets store and check it is one.

    Args:
        path: the database file; parent directories are created.
        read_only: open without write access (several readers may share the file).
        lock_timeout_s: how long to wait for another process's lock before failing.

    Raises:
        StoreError: not a DuckDB file, a foreign database, a wrong schema version, or locked.
    """
    path = Path(path)
    if read_only and not path.exists():
        raise StoreError(f"{path}: no such store; materialize the architecture_space asset first.")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreError(
            f"{path}: cannot create the directory {path.parent} ({exc.strerror or exc}); point the store at "
            "another path (NAS_ASSETS_DB)."
        ) from None
    conn = _open(path, read_only, lock_timeout_s)
    try:
        _check_or_init(conn, path, read_only)
        yield conn
    finally:
        conn.close()


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


@contextmanager
def transaction(conn: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """BEGIN ... COMMIT, or ROLLBACK on any error or interruption (Ctrl-C included)."""
    conn.execute("BEGIN")
    try:
        yield
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def _insert(conn: duckdb.DuckDBPyConnection, table: str, frame: pd.DataFrame) -> None:
    # no try/finally: after a failed INSERT the transaction is aborted and even unregister
    # fails, masking the real error; the next register replaces a stale view anyway
    conn.register("_incoming", frame)
    cols = ", ".join(frame.columns)
    conn.execute(f"INSERT INTO {table} ({cols}) SELECT {cols} FROM _incoming")
    conn.unregister("_incoming")


def config_key_sql(conn: duckdb.DuckDBPyConnection, alias: str = "r") -> str:
    """SQL for a ``training_runs`` row's configuration key; a store opened read-only that predates
    the column reads each run key as its own configuration."""
    have = conn.execute("SELECT count(*) FROM information_schema.columns WHERE table_schema = 'main' "
                        "AND table_name = 'training_runs' AND column_name = 'config_key'").fetchall()[0][0]
    return f"coalesce({alias}.config_key, {alias}.run_key)" if have else f"{alias}.run_key"


def scalar(conn: duckdb.DuckDBPyConnection, sql: str, params: list | tuple = ()) -> Any:
    """First value of a query's first row (None if no row).

    Uses ``fetchall``: DuckDB 2 streams results, and a ``fetchone`` leaves the result open,
    which blocks the next statement on the same connection.
    """
    rows = conn.execute(sql, list(params)).fetchall()
    return rows[0][0] if rows else None


def set_meta(conn: duckdb.DuckDBPyConnection, key: str, value: object) -> None:
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    conn.execute(f"INSERT OR REPLACE INTO {META_TABLE} VALUES (?, ?)", [key, text])


def get_meta(conn: duckdb.DuckDBPyConnection, key: str) -> str | None:
    value = scalar(conn, f"SELECT value FROM {META_TABLE} WHERE key = ?", [key])
    return None if value is None else str(value)


ARCHITECTURE_COLUMNS = [c.split()[0] for c in TABLES["architectures"].split(", ")]
SAMPLED_COLUMNS = [c.split()[0] for c in TABLES["sampled_architectures"].split(", ")]


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


def read_reference_state(conn: duckdb.DuckDBPyConnection) -> tuple[str | None, dict]:
    """The stored reference landscape's version and summary; (None, {}) when none is stored."""
    if not table_count(conn, "reference_predictions"):
        return None, {}
    summary = get_meta(conn, "reference_summary")
    return get_meta(conn, "reference_version"), json.loads(summary) if summary else {}


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


def table_count(conn: duckdb.DuckDBPyConnection, table: str) -> int:
    return int(scalar(conn, f"SELECT count(*) FROM {table}"))
