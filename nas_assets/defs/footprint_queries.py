"""SQL of the footprint stage: each landscape's fitness as arrays, aligned the way core.landscape wants."""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd

from nas_assets.core.so2sat import CLASS_NAMES


def _pivot(long: pd.DataFrame, value: str) -> tuple[list[int], np.ndarray, np.ndarray]:
    """(budgets, hashes, (n_budgets, n) values) over architectures measured at every budget."""
    wide = long.pivot(index="arch_hash", columns="budget", values=value).dropna()
    wide = wide.reindex(sorted(wide.columns), axis=1)
    return [int(b) for b in wide.columns], wide.index.to_numpy(dtype=str), wide.to_numpy(dtype=float).T


def sampled_fitness(conn: duckdb.DuckDBPyConnection, run_key: str, metric: str) -> tuple[list[int], np.ndarray, np.ndarray]:
    """So2Sat trained sample: budgets, hashes and (n_budgets, n) metric values."""
    long = conn.execute(f"SELECT arch_hash, epoch AS budget, {metric} AS value FROM budget_metrics "
                        "WHERE run_key = ? AND value IS NOT NULL", [run_key]).df()
    return _pivot(long, "value")


def reference_fitness(conn: duckdb.DuckDBPyConnection) -> tuple[list[int], np.ndarray, np.ndarray]:
    """CIFAR-10 reference sample (NB101 measurements): budgets, hashes, (n_budgets, n) accuracies."""
    long = conn.execute("SELECT arch_hash, budget, val_accuracy FROM reference_results").df()
    return _pivot(long, "val_accuracy")


def predicted_fitness(conn: duckdb.DuckDBPyConnection, table: str, metric: str | None = None) -> tuple[list[int], np.ndarray]:
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


def per_class_accuracy(conn: duckdb.DuckDBPyConnection, run_key: str, epoch: int, hashes: list[str]) -> pd.DataFrame:
    """Validation accuracy per class (rows: LCZ class names) of the given architectures (columns)."""
    rows = conn.execute("SELECT arch_hash, class_index, val_accuracy FROM class_metrics "
                        "WHERE run_key = ? AND epoch = ? AND arch_hash IN (SELECT unnest(?))",
                        [run_key, epoch, hashes]).df()
    wide = rows.pivot(index="class_index", columns="arch_hash", values="val_accuracy").reindex(columns=hashes)
    wide.index = [CLASS_NAMES[i] if i < len(CLASS_NAMES) else f"class {i}" for i in wide.index]
    return wide


def table1_row(conn: duckdb.DuckDBPyConnection, run_key: str, epoch: int) -> dict[str, float]:
    """Mean macro and overall validation accuracy of the trained sample at ``epoch`` (the report's Table 1)."""
    macro, overall = conn.execute("SELECT avg(val_macro_accuracy), avg(val_overall_accuracy) FROM budget_metrics "
                                  "WHERE run_key = ? AND epoch = ?", [run_key, epoch]).fetchall()[0]
    return {"mean macro accuracy": macro, "mean overall accuracy": overall}
