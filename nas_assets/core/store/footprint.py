"""SQL of the footprint stage: each landscape's fitness as arrays, aligned the way core.landscape.metrics
wants."""

from __future__ import annotations

from collections.abc import Iterable

import duckdb
import numpy as np
import pandas as pd

from nas_assets.core.so2sat import CLASS_NAMES
from nas_assets.core.store.configurations import in_config


def _pivot(long: pd.DataFrame, value: str) -> tuple[list[int], np.ndarray, np.ndarray]:
    """(budgets, hashes, (n_budgets, n) values) over architectures measured at every budget."""
    wide = long.pivot(index="arch_hash", columns="budget", values=value).dropna()
    wide = wide.reindex(sorted(wide.columns), axis=1)
    return [int(b) for b in wide.columns], wide.index.to_numpy(dtype=str), wide.to_numpy(dtype=float).T


def sampled_fitness(conn: duckdb.DuckDBPyConnection, config_key: str,
                    metric: str) -> tuple[list[int], np.ndarray, np.ndarray]:
    """So2Sat trained sample of one configuration: budgets, hashes and (n_budgets, n) metric values
    (each the mean over the configuration's seeds)."""
    long = conn.execute(f"SELECT arch_hash, epoch AS budget, avg({metric}) AS value FROM budget_metrics "
                        f"WHERE {in_config(conn)} AND {metric} IS NOT NULL GROUP BY ALL", [config_key]).df()
    return _pivot(long, "value")


def reference_fitness(conn: duckdb.DuckDBPyConnection) -> tuple[list[int], np.ndarray, np.ndarray]:
    """CIFAR-10 reference sample (NB101 measurements): budgets, hashes, (n_budgets, n) accuracies."""
    long = conn.execute("SELECT arch_hash, budget, val_accuracy FROM reference_results").df()
    return _pivot(long, "val_accuracy")


def predicted_fitness(conn: duckdb.DuckDBPyConnection, table: str,
                      metric: str | None = None) -> tuple[list[int], np.ndarray]:
    """A full landscape: budgets and (n_budgets, N) predictions in ``arch_index`` order.

    Raises:
        LookupError: the table has no complete prediction for some budget.
    """
    where = "WHERE p.metric = ?" if metric else ""
    long = conn.execute(f"""
        SELECT a.arch_index, p.budget, p.mean FROM {table} p JOIN architectures a USING (arch_hash)
        {where}""", [metric] if metric else []).df()
    if long.empty:
        return [], np.empty((0, 0))
    n = int(conn.execute("SELECT count(*) FROM architectures").fetchall()[0][0])
    budgets = sorted(int(b) for b in long["budget"].unique())
    out = np.full((len(budgets), n), np.nan)
    for k, b in enumerate(budgets):
        part = long[long["budget"] == b]
        out[k, part["arch_index"].to_numpy()] = part["mean"].to_numpy()
    if np.isnan(out).any():
        raise LookupError(f"{table}: predictions miss {int(np.isnan(out).any(axis=0).sum())} architectures; "
                          "materialize the predictions asset again")
    return budgets, out


def design_walks(conn: duckdb.DuckDBPyConnection) -> list[np.ndarray]:
    """Hashes along each random walk of the design, in step order."""
    walks = conn.execute("SELECT walk_id, arch_hash FROM sampled_architectures WHERE stage = 'walk' "
                         "ORDER BY walk_id, step").df()
    return [g["arch_hash"].to_numpy(dtype=str) for _, g in walks.groupby("walk_id", sort=True)]


def per_class_accuracy(conn: duckdb.DuckDBPyConnection, config_key: str, epoch: int,
                       hashes: list[str]) -> pd.DataFrame:
    """Validation accuracy per class (rows: LCZ class names) of the given architectures (columns),
    the mean over the configuration's seeds."""
    rows = conn.execute("SELECT arch_hash, class_index, avg(val_accuracy) AS val_accuracy FROM class_metrics "
                        f"WHERE {in_config(conn)} AND epoch = ? AND arch_hash IN (SELECT "
                        "unnest(?)) GROUP BY ALL",
                        [config_key, epoch, hashes]).df()
    wide = rows.pivot(index="class_index", columns="arch_hash", values="val_accuracy").reindex(columns=hashes)
    wide.index = [CLASS_NAMES[i] if i < len(CLASS_NAMES) else f"class {i}" for i in wide.index]
    return wide


def table1_row(conn: duckdb.DuckDBPyConnection, config_key: str, epoch: int) -> dict[str, float]:
    """Mean macro and overall validation accuracy of the trained sample at ``epoch``
    (the report's Table 1)."""
    macro, overall = conn.execute("SELECT avg(val_macro_accuracy), avg(val_overall_accuracy) FROM "
                                  f"budget_metrics WHERE {in_config(conn)} AND epoch = ?",
                                  [config_key, epoch]).fetchall()[0]
    return {"mean macro accuracy": macro, "mean overall accuracy": overall}


def reference_budgets(conn: duckdb.DuckDBPyConnection) -> list[int]:
    """Budgets of the stored CIFAR-10 reference landscape (empty when none is stored)."""
    return [int(r[0]) for r in conn.execute("SELECT DISTINCT budget FROM reference_predictions "
                                            "ORDER BY budget").fetchall()]


def reference_on_cells(conn: duckdb.DuckDBPyConnection, hashes: np.ndarray,
                       budgets: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """CIFAR-10 validation accuracy of given cells per budget: NB101's measurement where it has
    the cell, the reference surrogate's prediction elsewhere.

    Returns:
        (n_budgets, n) fitness and a same-shaped bool mask, True where measured.
    """
    frame = conn.execute("""
        SELECT c.pos, p.budget, coalesce(r.val_accuracy, p.mean) AS value,
               r.val_accuracy IS NOT NULL AS measured
        FROM (SELECT unnest(?) AS arch_hash, generate_subscripts(?, 1) - 1 AS pos) c
        JOIN reference_predictions p USING (arch_hash)
        LEFT JOIN reference_results r ON r.arch_hash = c.arch_hash AND r.budget = p.budget
        """, [list(map(str, hashes)), list(map(str, hashes))]).df()
    values = np.full((len(budgets), len(hashes)), np.nan)
    measured = np.zeros((len(budgets), len(hashes)), dtype=bool)
    for k, b in enumerate(budgets):
        part = frame[frame["budget"] == b]
        values[k, part["pos"].to_numpy()] = part["value"].to_numpy()
        measured[k, part["pos"].to_numpy()] = part["measured"].to_numpy(dtype=bool)
    if np.isnan(values).any():
        raise LookupError(f"reference_predictions lacks {int(np.isnan(values).any(axis=0).sum())} of the "
                          "design's cells; materialize cifar10_reference again")
    return values, measured


def reference_measured(conn: duckdb.DuckDBPyConnection,
                       column: str = "val_accuracy") -> tuple[list[int], np.ndarray, np.ndarray]:
    """The CIFAR-10 cells NB101 measured at every stored budget: budgets, hashes, (n_budgets, n)
    ``column`` (``val_accuracy``, ``test_accuracy`` or ``predicted``: the surrogate's out-of-fold
    prediction of the same cells)."""
    long = conn.execute(f"SELECT arch_hash, budget, {column} AS value FROM reference_results").df()
    return _pivot(long, "value")


def fla_codes(conn: duckdb.DuckDBPyConnection, hashes: np.ndarray) -> np.ndarray:
    """(n, 289) FLA encodings of the given cells, in the given order."""
    from nas_assets.core.cells.encoding import encode_fla_batch
    from nas_assets.core.cells.table import padded_arrays

    cells = conn.execute("""
        SELECT a.matrix, a.ops FROM (SELECT unnest(?) AS arch_hash, generate_subscripts(?, 1) AS pos) c
        JOIN architectures a USING (arch_hash) ORDER BY c.pos""",
                         [list(map(str, hashes)), list(map(str, hashes))]).df()
    if len(cells) != len(hashes):
        raise LookupError(f"{len(hashes) - len(cells)} sampled cells are not in the architectures table")
    matrices, labels, _ = padded_arrays(cells["matrix"].tolist(), cells["ops"].tolist())
    return encode_fla_batch(matrices, labels)


def arch_indices(conn: duckdb.DuckDBPyConnection, hashes: np.ndarray) -> np.ndarray:
    """``arch_index`` of each given hash, in the given order."""
    lookup = conn.execute("SELECT arch_hash, arch_index FROM architectures WHERE arch_hash IN "
                          "(SELECT unnest(?))",
                          [list(map(str, hashes))]).df().set_index("arch_hash")["arch_index"]
    return lookup.reindex(list(map(str, hashes))).to_numpy(dtype=np.int64)


def measured_everywhere(conn: duckdb.DuckDBPyConnection, column: str) -> tuple[list[int], np.ndarray]:
    """Budgets at which the reference measured ``column`` on every cell of the space, and those
    values as (n_budgets, N) in ``arch_index`` order (empty when no budget is complete)."""
    n = int(conn.execute("SELECT count(*) FROM architectures").fetchall()[0][0])
    long = conn.execute(f"""SELECT a.arch_index, r.budget, r.{column} AS value FROM reference_results r
                            JOIN architectures a USING (arch_hash) WHERE r.{column} IS NOT NULL""").df()
    budgets = sorted(int(b) for b, g in long.groupby("budget") if len(g) == n)
    out = np.full((len(budgets), n), np.nan)
    for k, b in enumerate(budgets):
        part = long[long["budget"] == b]
        out[k, part["arch_index"].to_numpy()] = part["value"].to_numpy()
    return budgets, out


def stored_footprints(conn: duckdb.DuckDBPyConnection, metrics: Iterable[str]) -> pd.DataFrame:
    """Rows of the ``footprints`` table for these metrics (``landscape, metric, value, ci_low, ci_high``)."""
    return conn.execute("SELECT landscape, metric, value, ci_low, ci_high FROM footprints "
                        "WHERE list_contains(?, metric) ORDER BY landscape", [list(metrics)]).df()


def stored_differences(conn: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """The ``footprint_differences`` table (paired verdicts), by metric."""
    return conn.execute("SELECT * FROM footprint_differences ORDER BY metric").df()


def landscape_fitness(conn: duckdb.DuckDBPyConnection) -> list[tuple[str, str]]:
    """(landscape, fitness label) of every stored footprint."""
    return conn.execute("SELECT DISTINCT landscape, fitness FROM footprints ORDER BY landscape").fetchall()
