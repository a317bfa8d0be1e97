"""``python -m nas_assets demo``: the whole pipeline on the embedded default, recorded in the
Dagster instance of ``$DAGSTER_HOME`` (so the UI shows every run afterwards).

Runs in order: space and design, the (synthetic) dataset, one run per architecture partition
(reusing result files already on disk), the results table, the surrogates and their predictions
for the whole space, the CIFAR-10 reference landscape and the footprint report. Every stage
reuses what an earlier run computed from the same inputs, so running it again is fast.
"""

from __future__ import annotations

import time
import warnings
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pandas as pd
from dagster import AssetKey, DagsterInstance, materialize
from dagster._utils.warnings import PreviewWarning

from nas_assets.defs.definitions import ASSETS, CHECKS, defs
from nas_assets.defs.partitions import ARCHITECTURE_PARTITION_SET

#: Footprint columns the demo prints (table `footprints` has them all), with short headers.
DEMO_COLUMNS = {"n_architectures": "cells", "mean_fitness": "mean", "fitness_std": "std",
                "autocorrelation": "rho(1)", "local_optima": "optima", "local_optima_estimate": "N_hat",
                "knn_local_optima": "10NN_optima", "local_optima_extrapolated": "optima_extrap",
                "positive_persistence": "P+(25)", "negative_persistence": "P-(25)"}

#: the console shows this script's lines; every event is still in the instance (and the UI)
QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


def _run(instance: DagsterInstance, resources: Mapping[str, Any], selection: list[str],
         partition_key: str | None = None) -> float:
    t0 = time.perf_counter()
    result = materialize([*ASSETS, *CHECKS], instance=instance, resources=resources, selection=selection,
                         partition_key=partition_key, raise_on_error=True, run_config=QUIET)
    if not result.success:
        raise SystemExit(f"materialization of {selection} {partition_key or ''} failed")
    return time.perf_counter() - t0


#: footprint columns printed as whole numbers (not 2e+04)
_COUNT_COLUMNS = {"n_architectures", "local_optima", "local_optima_estimate", "knn_local_optima",
                  "local_optima_extrapolated"}


def _number(metric: str, value: float) -> str:
    if value is None or pd.isna(value):
        return "n/a"
    if np.isinf(value):
        return "inf"
    return f"{value:,.0f}" if metric in _COUNT_COLUMNS else f"{value:.3f}"


def footprint_table_text(long: pd.DataFrame) -> pd.DataFrame:
    """``value [low, high]`` per landscape (rows) and demo column, from ``footprints`` rows."""
    cells: dict[str, dict[str, str]] = {}
    for r in long.itertuples(index=False):
        text = _number(r.metric, r.value)
        if text != "n/a" and not pd.isna(r.ci_low):
            text += f" [{_number(r.metric, r.ci_low)}, {_number(r.metric, r.ci_high)}]"
        cells.setdefault(r.landscape, {})[DEMO_COLUMNS[r.metric]] = text
    return pd.DataFrame.from_dict(cells, orient="index").reindex(columns=list(DEMO_COLUMNS.values()))


def verdict_table_text(verdicts: pd.DataFrame) -> pd.DataFrame:
    """metric, both values, the difference, its 95 % interval and the verdict, from
    ``footprint_differences``."""
    rows = {r.metric: {"So2Sat": _number(r.metric, r.value_a), "CIFAR-10": _number(r.metric, r.value_b),
                       "difference": _number(r.metric, r.difference),
                       "95% interval": f"[{_number(r.metric, r.ci_low)}, {_number(r.metric, r.ci_high)}]",
                       "verdict": r.verdict}
            for r in verdicts.itertuples(index=False)}
    return pd.DataFrame.from_dict(rows, orient="index")


def main() -> int:
    # Dagster flags the Pipes API it uses for progress as "preview" on every run; not for users
    warnings.filterwarnings("ignore", category=PreviewWarning)
    instance = DagsterInstance.get()
    resources: Mapping[str, Any] = defs.resources or {}
    t_start = time.perf_counter()
    print("1/7 architecture space + sampled design ...", flush=True)
    seconds = _run(instance, resources, ["architecture_space", "sampled_architectures"])
    print(f"    {seconds:.1f} s", flush=True)
    print("2/7 So2Sat-format dataset + cache ...", flush=True)
    print(f"    {_run(instance, resources, ['so2sat_dataset']):.1f} s", flush=True)
    keys = instance.get_dynamic_partitions(ARCHITECTURE_PARTITION_SET)
    done = instance.get_materialized_partitions(AssetKey("trained_architecture"))
    print(f"3/7 training {len(keys)} architectures ({len(set(keys) & done)} already trained) ...", flush=True)
    for i, key in enumerate(keys, 1):
        seconds = _run(instance, resources, ["trained_architecture"], partition_key=key)
        print(f"    [{i:>2}/{len(keys)}] {key}  {seconds:.1f} s", flush=True)
    print("4/7 results table ...", flush=True)
    _run(instance, resources, ["results_table"])
    print("5/7 surrogate models (repeated k-fold evaluation + fit) ...", flush=True)
    print(f"    {_run(instance, resources, ['surrogate_model']):.1f} s", flush=True)
    print("6/7 surrogate predictions for all 423,624 architectures + CIFAR-10 reference landscape ...",
          flush=True)
    print(f"    {_run(instance, resources, ['surrogate_predictions', 'cifar10_reference']):.1f} s",
          flush=True)
    print("7/7 footprint report ...", flush=True)
    print(f"    {_run(instance, resources, ['footprint_report']):.1f} s", flush=True)
    store = resources["store"].path
    from nas_assets.core import store as db
    from nas_assets.core.landscape.reference import tau_per_budget
    from nas_assets.core.store import footprint as fq
    from nas_assets.core.store import training as q

    with db.connect(store, read_only=True) as conn:
        summary = q.results_summary(conn)
        footprints = fq.stored_footprints(conn, DEMO_COLUMNS)
        verdicts = fq.stored_differences(conn)
        fitness = fq.landscape_fitness(conn)
        _, reference = db.read_reference_state(conn)
    print(f"\ndone in {time.perf_counter() - t_start:.0f} s: {summary['architectures']} architectures "
          f"trained; mean val macro accuracy {summary['mean_val_macro_accuracy']}, overall "
          f"{summary['mean_val_overall_accuracy']}")
    with pd.option_context("display.width", 250, "display.max_columns", 12, "display.max_colwidth", 40):
        print("\nfootprints with their 95 % intervals (table `footprints`, columns ci_low/ci_high/ci_method; "
              f"n/a = not defined for that landscape):\n{footprint_table_text(footprints).to_string()}\n")
        if len(verdicts):
            print(f"verdicts: paired bootstrap, {verdicts['landscape_a'].iloc[0]} minus "
                  f"{verdicts['landscape_b'].iloc[0]} on the same cells (table "
                  f"`footprint_differences`):\n{verdict_table_text(verdicts).to_string()}\n")
    print("fitness of each landscape:")
    for name, label in fitness:
        print(f"  {name:<40} {label}")
    if reference:
        taus = tau_per_budget(reference)
        print(f"\nCIFAR-10 reference: {reference['architectures_measured']:,} NB101 cells measured "
              f"({reference['source']}); surrogate Kendall tau on cells it did not see (pooled out-of-fold), "
              f"per budget: {taus or 'n/a'}")
    print()
    print(f"DuckDB store : {store}")
    print(f"  SQL        : .venv/bin/python -c \"import duckdb; print(duckdb.connect('{store}', "
          "read_only=True).sql('SELECT * FROM results'))\"")
    report = Path(resources["artifacts"].reports_dir) / "footprint_report.html"
    print(f"Report       : {report}  (open in a browser; figures in {report.parent / 'figures'})")
    print("Dagster UI   : make ui, then open http://127.0.0.1:3000 (asset lineage, runs, metadata)")
    return 0
