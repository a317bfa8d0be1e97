"""The DuckDB store: schema, safe opening, and the only code that writes tables.

One database file holds everything (architectures, neighbour indexes, the sampled design,
later training results). Rules:

* a file that is not a DuckDB database, or a DuckDB database made by something else, is
  refused with a message naming the file -- never initialised over or overwritten;
* every write replaces a table's rows (or one key's rows) inside one transaction, so re-running
  is idempotent and an interrupted write leaves the previous rows in place;
* a file locked by another process gives a clear error naming the holder.

Modules: ``schema`` (tables, the check a file is a store, migrations), ``connection`` (opening,
lock waits, transactions), ``writers`` (every write), ``readers`` (shared small reads); queries for
one purpose live in ``space``, ``training``, ``footprint``, ``configurations`` and ``results``.
This package re-exports the names callers use as ``store.<name>``.
"""

from __future__ import annotations

from nas_assets.core.store.connection import LOCK_WAITS, LockWaits, connect, scalar, transaction
from nas_assets.core.store.errors import StoreError
from nas_assets.core.store.readers import (
    config_key_sql,
    get_meta,
    read_neighbour_index,
    read_padded_space,
    read_reference_state,
    table_count,
)
from nas_assets.core.store.schema import (
    ARCHITECTURE_COLUMNS,
    META_TABLE,
    RESULT_TABLES,
    SAMPLED_COLUMNS,
    SCHEMA_NAME,
    SCHEMA_VERSION,
    TABLES,
    existing_tables,
)
from nas_assets.core.store.writers import (
    replace_table,
    set_meta,
    write_architectures,
    write_footprints,
    write_neighbours,
    write_predictions,
    write_reference,
    write_results,
    write_sampled,
    write_space,
)

__all__ = [
    "ARCHITECTURE_COLUMNS", "LOCK_WAITS", "META_TABLE", "RESULT_TABLES", "SAMPLED_COLUMNS", "SCHEMA_NAME",
    "SCHEMA_VERSION", "TABLES", "LockWaits", "StoreError", "config_key_sql", "connect", "existing_tables",
    "get_meta", "read_neighbour_index", "read_padded_space", "read_reference_state", "replace_table",
    "scalar", "set_meta", "table_count", "transaction", "write_architectures", "write_footprints",
    "write_neighbours", "write_predictions", "write_reference", "write_results", "write_sampled",
    "write_space",
]
