"""Training configurations in the store: which runs belong to one, and which one answers by default.

A configuration (``training_runs.config_key``) is everything that changes what a run measures,
without the seed (:func:`nas_assets.core.store.results.config_key`); its runs with different seeds are
repeats. Every reader -- the query API, the ``results`` view, the surrogate's training rows, the
footprint -- uses one configuration, explicit or the main one (the most trained architectures,
ties to the latest ingested), so two training setups are never averaged as if they were repeats.
"""

from __future__ import annotations

import duckdb
import pandas as pd

from nas_assets.core.store.readers import config_key_sql


def in_config(conn: duckdb.DuckDBPyConnection, alias: str = "") -> str:
    """``<alias>run_key IN (...)``: the runs of one configuration (bind its key as the parameter)."""
    return (f"{alias}run_key IN (SELECT run_key FROM training_runs r "
            f"WHERE {config_key_sql(conn, 'r')} = ?)")


def configurations(conn: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """One row per training configuration, the main one first: ``config_key, architectures, runs,
    seeds, protocol, recipe, last_ingested`` (main = the most trained architectures, ties to the
    latest ingested)."""
    key = config_key_sql(conn, "r")
    return conn.execute(f"""
        SELECT {key} AS config_key, count(DISTINCT arch_hash) AS architectures, count(*) AS runs,
               count(DISTINCT seed) AS seeds, any_value(protocol) AS protocol, any_value(recipe) AS recipe,
               max(ingested_at) AS last_ingested
        FROM training_runs r GROUP BY ALL ORDER BY architectures DESC, last_ingested DESC""").df()


def main_config(conn: duckdb.DuckDBPyConnection) -> tuple[str | None, dict[str, int]]:
    """The configuration key with the most trained architectures (ties: the latest ingested) and
    every configuration's count of trained architectures."""
    frame = configurations(conn)
    counts = {str(k): int(n) for k, n in zip(frame["config_key"], frame["architectures"])}
    return (str(frame["config_key"].iloc[0]) if len(frame) else None), counts


def resolve_config(conn: duckdb.DuckDBPyConnection, wanted: str | None) -> tuple[str | None, dict[str, int]]:
    """``wanted`` (a configuration key, or a run key of one of its runs), else the main configuration.

    Raises:
        LookupError: ``wanted`` names no configuration or run of the store.
    """
    main, counts = main_config(conn)
    if wanted is None:
        return main, counts
    if wanted in counts:
        return wanted, counts
    hit = conn.execute(f"SELECT {config_key_sql(conn, 'r')} FROM training_runs r WHERE run_key = ? LIMIT 1",
                       [wanted]).fetchall()
    if hit:
        return str(hit[0][0]), counts
    raise LookupError(f"no training configuration or run key {wanted!r} in the store (configurations: "
                      f"{counts or 'none'})")
