"""Opening a store safely: waiting for another process's lock (and counting the waits), refusing
files that are not nas_assets stores with a message naming the file, and transactions.
"""

from __future__ import annotations

import re
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import duckdb

from nas_assets.core.store.errors import StoreError
from nas_assets.core.store.schema import check_or_init

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
        check_or_init(conn, path, read_only)
        yield conn
    finally:
        conn.close()


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


def scalar(conn: duckdb.DuckDBPyConnection, sql: str, params: list | tuple = ()) -> Any:
    """First value of a query's first row (None if no row).

    Uses ``fetchall``: DuckDB 2 streams results, and a ``fetchone`` leaves the result open,
    which blocks the next statement on the same connection.
    """
    rows = conn.execute(sql, list(params)).fetchall()
    return rows[0][0] if rows else None
