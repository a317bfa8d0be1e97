"""External systems as Dagster resources."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import duckdb
from dagster import ConfigurableResource
from pydantic import Field

from nas_assets.core import store


class StoreResource(ConfigurableResource):
    """The nas_assets DuckDB file (one writer: the Dagster step holding the connection).

    Not dagster-duckdb's ``DuckDBResource``: that one retries every IOException -- a
    corrupt file included -- for minutes, and does not close on errors; ``core.store.connect``
    refuses foreign or corrupt files at once with a message naming the file.
    """

    path: str = Field(description="Path of the DuckDB database file (created if absent).")
    lock_timeout_s: float = Field(
        default=30.0, description="Seconds to wait for another process's write lock before failing."
    )

    @contextmanager
    def connect(self, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        with store.connect(self.path, read_only=read_only, lock_timeout_s=self.lock_timeout_s) as conn:
            yield conn
