"""SQL of the training stage: the ``results`` view, per-partition checks, summaries, trained values."""

from __future__ import annotations

import duckdb

from nas_assets.core.so2sat import VALIDATION_METRICS
from nas_assets.core.store.configurations import (  # noqa: F401
    configurations,
    in_config,
    main_config,
    resolve_config,
)
from nas_assets.core.store.connection import scalar
from nas_assets.core.store.schema import existing_tables

#: ``results_all_configurations``: one row per trained run (architecture x configuration x seed);
#: ``results``: the runs of the main configuration only (the one with the most trained
#: architectures, ties to the latest ingested), so no query mixes two training setups by accident.
RESULTS_VIEW = """
CREATE OR REPLACE VIEW results_all_configurations AS
SELECT a.arch_hash, a.n_vertices, a.n_edges, a.matrix, a.ops, a.params, a.flops,
       r.config_key, r.run_key, r.dataset, r.seed, r.max_epochs, r.train_seconds, r.device, r.world_size,
       r.launcher,
       b.train_overall_accuracy, b.train_macro_accuracy,
       b.val_overall_accuracy, b.val_macro_accuracy, b.val_kappa, b.val_loss,
       r.test_overall_accuracy, r.test_macro_accuracy, r.test_kappa,
       s.stage, s.walk_id, s.step, s.parent_hash
FROM training_runs r
JOIN architectures a USING (arch_hash)
JOIN budget_metrics b ON b.arch_hash = r.arch_hash AND b.run_key = r.run_key AND b.epoch = r.max_epochs
LEFT JOIN (SELECT * FROM sampled_architectures WHERE is_new) s ON s.arch_hash = r.arch_hash;
CREATE OR REPLACE VIEW results AS
SELECT * FROM results_all_configurations WHERE config_key = (
    SELECT config_key FROM training_runs GROUP BY config_key
    ORDER BY count(DISTINCT arch_hash) DESC, max(ingested_at) DESC LIMIT 1)
"""


def partition_checks(
    conn: duckdb.DuckDBPyConnection, arch_hash: str, run_key: str, budgets: list[int], num_classes: int
) -> dict[str, tuple[bool, dict]]:
    """The three per-partition checks, read back from the tables just written."""
    key = [arch_hash, run_key]
    out_of_range = scalar(conn, """
        SELECT count(*) FROM budget_metrics WHERE arch_hash = ? AND run_key = ? AND NOT (
            train_overall_accuracy BETWEEN 0 AND 1 AND val_overall_accuracy BETWEEN 0 AND 1
            AND train_macro_accuracy BETWEEN 0 AND 1 AND val_macro_accuracy BETWEEN 0 AND 1
            AND val_kappa BETWEEN -1 AND 1 AND train_kappa BETWEEN -1 AND 1)""", key)
    bad_classes = scalar(conn, """
        SELECT count(*) FROM class_metrics WHERE arch_hash = ? AND run_key = ?
          AND (train_accuracy NOT BETWEEN 0 AND 1 OR val_accuracy NOT BETWEEN 0 AND 1)""", key)
    epochs = [r[0] for r in conn.execute(
        "SELECT epoch FROM budget_metrics WHERE arch_hash = ? AND run_key = ? ORDER BY epoch",
        key).fetchall()]
    class_rows = scalar(conn, "SELECT count(*) FROM class_metrics WHERE arch_hash = ? AND run_key = ?", key)
    expected_rows = len(budgets) * num_classes
    return {
        "metrics_in_range": (out_of_range == 0 and bad_classes == 0,
                             {"budget_rows_out_of_range": int(out_of_range),
                              "class_rows_out_of_range": int(bad_classes)}),
        "all_budgets_present": (epochs == sorted(budgets),
                                {"epochs": str(epochs), "expected": str(sorted(budgets))}),
        "per_class_rows_complete": (class_rows == expected_rows,
                                    {"rows": int(class_rows), "expected": expected_rows}),
    }


def budget_table(record: dict) -> str:
    """Markdown table of a result record's metrics per budget."""
    lines = ["| epoch | train acc | val acc | val macro | val kappa | train s |", "|---|---|---|---|---|---|"]
    for b in record["budgets"]:
        lines.append(f"| {b['epoch']} | {b['train']['overall_accuracy']:.4f} | "
                     f"{b['val']['overall_accuracy']:.4f} | {b['val']['macro_accuracy']:.4f} | "
                     f"{b['val']['kappa']:.4f} | {b['train_seconds']:.1f} |")
    return "\n".join(lines)


def results_summary(conn: duckdb.DuckDBPyConnection) -> dict:
    """Counts and the report's Table 1 numbers (mean macro and overall accuracy) of the main
    training configuration (the ``results`` view)."""
    row = conn.execute("""
        SELECT count(DISTINCT arch_hash), count(*), avg(val_macro_accuracy), avg(val_overall_accuracy),
               avg(test_macro_accuracy), avg(test_overall_accuracy), avg(val_kappa)
        FROM results""").fetchall()[0]
    per_budget = conn.execute("""
        SELECT epoch, count(*), avg(val_macro_accuracy), avg(val_overall_accuracy), avg(val_kappa)
        FROM budget_metrics WHERE run_key IN (SELECT run_key FROM results)
        GROUP BY epoch ORDER BY epoch""").fetchall()
    md = ["| epoch | runs | mean val macro | mean val overall | mean val kappa |", "|---|---|---|---|---|"]
    md += [f"| {e} | {n} | {m:.4f} | {o:.4f} | {k:.4f} |" for e, n, m, o, k in per_budget]
    fmt = lambda v: None if v is None else round(float(v), 4)  # noqa: E731
    return {
        "architectures": int(row[0]),
        "runs": int(row[1]),
        "mean_val_macro_accuracy": fmt(row[2]),
        "mean_val_overall_accuracy": fmt(row[3]),
        "mean_test_macro_accuracy": fmt(row[4]),
        "mean_test_overall_accuracy": fmt(row[5]),
        "mean_val_kappa": fmt(row[6]),
        "per_budget_md": "\n".join(md),
    }


def trained_values(conn: duckdb.DuckDBPyConnection, config_key: str, metric: str, epoch: int):
    """``arch_hash, matrix, ops, value, seeds`` of every architecture trained in configuration
    ``config_key``, at ``epoch``: the value is the mean over the configuration's seeds."""
    if metric not in VALIDATION_METRICS:
        raise ValueError(f"unknown metric {metric!r}")
    return conn.execute(f"""
        SELECT b.arch_hash, any_value(a.matrix) AS matrix, any_value(a.ops) AS ops, avg(b.{metric}) AS value,
               count(*) AS seeds
        FROM budget_metrics b JOIN architectures a USING (arch_hash)
        WHERE {in_config(conn, "b.")} AND b.epoch = ? AND b.{metric} IS NOT NULL
        GROUP BY b.arch_hash ORDER BY b.arch_hash""", [config_key, epoch]).df()


def top_results(conn: duckdb.DuckDBPyConnection, k: int):
    """The ``k`` best rows of the ``results`` view by validation macro accuracy (DataFrame)."""
    return conn.execute("SELECT * FROM results ORDER BY val_macro_accuracy DESC LIMIT ?", [k]).df()


def seed_count(conn: duckdb.DuckDBPyConnection, config_key: str) -> int:
    """Distinct seeds trained in one configuration."""
    return int(conn.execute(f"SELECT count(DISTINCT seed) FROM training_runs WHERE {in_config(conn)}",
                            [config_key]).fetchall()[0][0])


def config_protocol(conn: duckdb.DuckDBPyConnection, config_key: str) -> str | None:
    """The budget protocol of a configuration's runs (None: ingested before protocols were recorded)."""
    columns = {r[0] for r in conn.execute("SELECT column_name FROM information_schema.columns "
                                          "WHERE table_name = 'training_runs'").fetchall()}
    if "protocol" not in columns:
        return None
    return conn.execute(f"SELECT any_value(protocol) FROM training_runs WHERE {in_config(conn)}",
                        [config_key]).fetchall()[0][0]


def config_budgets(conn: duckdb.DuckDBPyConnection, config_key: str) -> list[int]:
    """The epochs a configuration recorded metrics at, ascending."""
    return [int(r[0]) for r in conn.execute(
        f"SELECT DISTINCT epoch FROM budget_metrics WHERE {in_config(conn)} ORDER BY epoch",
        [config_key]).fetchall()]


def trained_means(conn: duckdb.DuckDBPyConnection, config_key: str | None, metrics: tuple[str, ...]):
    """Per cell, budget and metric of one configuration: mean and sample std over its seeds, and
    how many runs (DataFrame ``arch_hash, epoch, metric, mean, std, repeats``)."""
    return conn.execute(f"""
        SELECT arch_hash, epoch, metric, avg(value) AS mean, coalesce(stddev_samp(value), 0) AS std,
               count(*) AS repeats
        FROM (UNPIVOT (SELECT * FROM budget_metrics WHERE {in_config(conn)})
              ON {", ".join(metrics)} INTO NAME metric VALUE value)
        GROUP BY ALL""", [config_key]).df()


def surrogate_predictions(conn: duckdb.DuckDBPyConnection):
    """Every stored prediction (``arch_hash, metric, budget, mean, std``); empty in a store from
    before the surrogate stage."""
    import pandas as pd

    if "surrogate_predictions" not in existing_tables(conn):
        return pd.DataFrame(columns=["arch_hash", "metric", "budget", "mean", "std"])
    return conn.execute("SELECT arch_hash, metric, budget, mean, std FROM surrogate_predictions").df()
