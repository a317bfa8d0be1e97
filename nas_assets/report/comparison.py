"""Which landscapes the footprint report compares, read from the store, and the report assembled from them (no
Dagster here).

With the same fitness on both sides (a metric per side at one epoch budget):

* **So2Sat (trained sample)** and **CIFAR-10 (design cells)**: the same cells -- the So2Sat
  trained design -- with CIFAR-10's accuracy measured where NB101 has the cell and predicted
  elsewhere; ruggedness along the same design walks, persistence over the same cells, sampled
  local optima (k nearest sampled neighbours) on both, and So2Sat's count extrapolated from the
  ratio and CIFAR-10's N-hat, as the authors did.
* **So2Sat / CIFAR-10 (surrogate, full space)**: every cell predicted; exact local optima and N-hat.
* **CIFAR-10 (NB101 measured cells)** beside **CIFAR-10 (surrogate on measured cells)**: the
  truth where it is known and the surrogate's out-of-fold predictions of the same cells, so a
  reader sees how much the surrogate smooths the landscape.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from nas_assets.core import store as db
from nas_assets.core.landscape.landscapes import (
    Landscape,
    extrapolate_optima,
    footprint_rows,
    footprint_table,
    full_landscape,
    interval_table,
    match_budgets,
    paired_verdicts,
    sampled_landscape,
    with_intervals,
    with_ratio_intervals,
)
from nas_assets.core.landscape.metrics import KNN_OPTIMA_K, check_footprint
from nas_assets.core.landscape.reference import reference_artifact, tau_per_budget
from nas_assets.core.store import footprint as fq
from nas_assets.core.store import training as q
from nas_assets.core.surrogate.artifacts import cv_scatter
from nas_assets.report.data import PUBLISHED_CAVEATS, ReportData, metric_descriptions, published_footprints
from nas_assets.report.html import write_report

SO2SAT_SAMPLE, SO2SAT_FULL = "So2Sat (trained sample)", "So2Sat (surrogate, full space)"
CIFAR_DESIGN, CIFAR_FULL = "CIFAR-10 (design cells)", "CIFAR-10 (surrogate, full space)"
CIFAR_MEASURED, CIFAR_OOF = "CIFAR-10 (NB101 measured cells)", "CIFAR-10 (surrogate on measured cells)"


class FootprintInputError(ValueError):
    """The store cannot give the requested landscapes; the message says what to materialize."""


@dataclass
class Comparison:
    """The landscapes and what the report says about how they were built."""

    landscapes: list[Landscape]
    fitness_labels: dict[str, str]
    notes: list[str]
    table1: pd.DataFrame
    config_key: str
    budget: int
    cifar10_budget: int | None
    best: tuple[str, float] | None = None
    median: tuple[str, float] | None = None
    per_class: pd.DataFrame | None = None
    protocol: str | None = None
    verdicts: pd.DataFrame | None = None
    descriptions: dict[str, str] = field(default_factory=dict)
    extra: dict = field(default_factory=dict)


def _walks_fitness(walks: list[np.ndarray], hashes: np.ndarray, fitness: np.ndarray) -> list[np.ndarray]:
    """Fitness along the design's walks; steps whose architecture has no measurement are dropped."""
    lookup = pd.Series(fitness, index=hashes)
    return [lookup.reindex(w).dropna().to_numpy() for w in walks]


def _neighbours(conn: duckdb.DuckDBPyConnection, kind: str, n: int):
    if kind == "fla":
        return db.read_neighbour_index(conn, "fla", n)
    from nas_assets.core.cells.encoding import graph_edit_neighbour_index
    from nas_assets.core.cells.enumeration import enumerate_space

    # rows follow arch_index (same enumeration); symmetrised so walks never reach a dead end
    return graph_edit_neighbour_index(enumerate_space()).symmetrised()


def _label(side: str, metric: str, budget: int) -> str:
    return f"{side} {metric} @ {budget} epochs"


def _member_fitness(directory: Path | None, arrays) -> np.ndarray | None:
    """(members, N) predictions of the surrogate artifact in ``directory`` over the padded space."""
    if directory is None or not (directory / "manifest.json").exists():
        return None
    from nas_assets.core.surrogate.model import Surrogate

    return Surrogate.load(directory).predict_members_arrays(*arrays)


def _so2sat_artifact(models_dir: str | None, metric: str, budget: int) -> Path | None:
    if models_dir is None:
        return None
    from nas_assets.core.surrogate.artifacts import read_index

    try:
        entry = next(t for t in read_index(models_dir)["targets"] if t["metric"] == metric
                     and int(t["budget"]) == budget)
    except (FileNotFoundError, ValueError, StopIteration):
        return None
    return Path(models_dir) / entry["directory"]


def _reference_artifact(conn: duckdb.DuckDBPyConnection, models_dir: str | None, budget: int) -> Path | None:
    if models_dir is None:
        return None
    _, summary = db.read_reference_state(conn)
    version = (summary.get("quality") or {}).get(str(budget), {}).get("version")
    return None if version is None else reference_artifact(models_dir, budget, version)


def compare_landscapes(conn: duckdb.DuckDBPyConnection, config, store_path: str,
                       models_dir: str | None = None) -> Comparison:
    """Build every landscape of the report from the store (see the module docstring).

    Args:
        conn: a read-only connection to the store.
        config: a ``FootprintConfig`` (metric, cifar10_metric, budget, cifar10_budget,
            neighbourhood, n_walks, walk_length, estimator_repeats, seed).
        store_path: named in error messages.
        models_dir: the surrogate artifacts; each ensemble member's landscape gives the interval
            of a full landscape's exact local optima (left out without it).

    Raises:
        FootprintInputError: nothing trained, a budget not recorded, predictions missing.
    """
    for name, default in (("bootstrap_resamples", 1000), ("full_space_cell_resamples", 200)):
        if getattr(config, name) < 1:
            raise FootprintInputError(f"{name} must be >= 1 ({default} is the default), got "
                                      f"{getattr(config, name)}")
    try:
        config_key, config_counts = q.resolve_config(conn, config.config_key)
    except LookupError as exc:
        raise FootprintInputError(f"{store_path}: {exc}") from None
    if config_key is None:
        raise FootprintInputError(f"no trained architectures in {store_path}; train partitions first")
    seeds = q.seed_count(conn, config_key)
    budgets, hashes, by_budget = fq.sampled_fitness(conn, config_key, config.metric)
    if not budgets:
        raise FootprintInputError(f"{config.metric} is not recorded for configuration {config_key} in "
                                  f"{store_path} (test metrics need a data set with a test split)")
    c_budgets = fq.reference_budgets(conn)
    try:
        budget, c_budget, match_note = match_budgets(budgets, c_budgets, config.budget, config.cifar10_budget)
    except ValueError as exc:
        raise FootprintInputError(str(exc)) from None
    protocol = q.config_protocol(conn, config_key)
    label = _label("So2Sat", config.metric, budget)
    labels: dict[str, str] = {}
    notes = [f"database: {store_path}", match_note]
    fitness = by_budget[budgets.index(budget)]
    walks = fq.design_walks(conn)
    codes = fq.fla_codes(conn, hashes)
    landscapes = [sampled_landscape(SO2SAT_SAMPLE, label, fitness, by_budget,
                                    _walks_fitness(walks, hashes, fitness),
                                    budgets=budgets, codes=codes,
                                    details={"protocol": protocol or "snapshot"})]
    labels[SO2SAT_SAMPLE] = label
    table1 = {SO2SAT_SAMPLE: fq.table1_row(conn, config_key, budget)}

    n = db.table_count(conn, "architectures")
    neighbours = _neighbours(conn, config.neighbourhood, n)
    full = dict(n_walks=config.n_walks, walk_length=config.walk_length,
                estimator_repeats=config.estimator_repeats, seed=config.seed)
    space_arrays = db.read_padded_space(conn)[1] if models_dir is not None else None
    if not db.table_count(conn, "surrogate_predictions"):
        raise FootprintInputError(f"surrogate_predictions in {store_path} is empty; materialize "
                                  "surrogate_model and surrogate_predictions first")
    if config.metric.startswith("val_"):
        p_budgets, predicted = fq.predicted_fitness(conn, "surrogate_predictions", config.metric)
        if budget not in p_budgets:
            raise FootprintInputError(f"surrogate_predictions has no {config.metric}@{budget} (has budgets "
                                      f"{p_budgets}); add '{config.metric}@{budget}' to "
                                      "surrogate_model's targets")
        members = _member_fitness(_so2sat_artifact(models_dir, config.metric, budget), space_arrays)
        landscapes.append(full_landscape(SO2SAT_FULL, label + " (predicted)",
                                         predicted[p_budgets.index(budget)],
                                         neighbours, predicted, budgets=p_budgets, member_fitness=members,
                                         **full))
        labels[SO2SAT_FULL] = label + " (predicted)"
        table1[SO2SAT_FULL] = {"mean overall accuracy": float(predicted[p_budgets.index(budget)].mean())
                               if config.metric == "val_overall_accuracy" else np.nan,
                               "mean macro accuracy": float(predicted[p_budgets.index(budget)].mean())
                               if config.metric == "val_macro_accuracy" else np.nan}
    else:
        notes.append(f"{SO2SAT_FULL}: left out -- {config.metric} has no surrogate (surrogates predict "
                     "validation metrics)")

    c_nhat = None
    if c_budget is not None:
        c_label = _label("CIFAR-10", config.cifar10_metric, c_budget)
        if config.cifar10_metric == "test_accuracy":
            # NB101's test accuracy has no surrogate: only a reference measured on every cell has it
            # everywhere
            cp_budgets, c_pred = fq.measured_everywhere(conn, "test_accuracy")
            if c_budget not in cp_budgets:
                raise FootprintInputError(
                    f"cifar10_metric test_accuracy @ {c_budget} needs NB101's test accuracy on every cell "
                    "(set NAS_ASSETS_NB101 to nasbench_full.tfrecord); the stored reference has it at "
                    f"budgets {cp_budgets or 'none'} -- or use val_accuracy")
            design = c_pred[:, fq.arch_indices(conn, hashes)]
            measured = np.ones_like(design, dtype=bool)
            c_budgets = cp_budgets
        else:
            design, measured = fq.reference_on_cells(conn, hashes, c_budgets)
            cp_budgets, c_pred = fq.predicted_fitness(conn, "reference_predictions")
        k = c_budgets.index(c_budget)
        n_measured = int(measured[k].sum())
        design_index = len(landscapes)
        landscapes.append(sampled_landscape(
            CIFAR_DESIGN, c_label, design[k], design, _walks_fitness(walks, hashes, design[k]),
            budgets=c_budgets,
            codes=codes, details={"measured": n_measured, "predicted": int(len(hashes) - n_measured)}))
        labels[CIFAR_DESIGN] = c_label + f" ({n_measured} measured, {len(hashes) - n_measured} predicted)"
        table1[CIFAR_DESIGN] = {"mean overall accuracy": float(design[k].mean()),
                                "mean macro accuracy": np.nan}
        notes.append(f"{CIFAR_DESIGN}: the {len(hashes)} So2Sat cells, CIFAR-10 accuracy measured by NB101 "
                     f"on {n_measured} and predicted by the reference surrogate on "
                     f"{len(hashes) - n_measured}")
        c_members = None
        if config.cifar10_metric == "val_accuracy":  # a budget measured on every cell has no surrogate
            c_members = _member_fitness(_reference_artifact(conn, models_dir, c_budget), space_arrays)
        landscapes.append(full_landscape(CIFAR_FULL, c_label + " (predicted)",
                                         c_pred[cp_budgets.index(c_budget)],
                                         neighbours, c_pred, budgets=cp_budgets, member_fitness=c_members,
                                         **full))
        labels[CIFAR_FULL] = c_label + " (predicted)"
        c_nhat = landscapes[-1].footprint.local_optima_estimate
        notes.append(_reference_quality_note(conn))
        table1[CIFAR_FULL] = {"mean overall accuracy": float(c_pred[cp_budgets.index(c_budget)].mean()),
                              "mean macro accuracy": np.nan}
        m_budgets, m_hashes, m_values = fq.reference_measured(conn, config.cifar10_metric)
        if c_budget in m_budgets:
            km = m_budgets.index(c_budget)
            landscapes.append(sampled_landscape(CIFAR_MEASURED, c_label + " (measured)", m_values[km],
                                                m_values, budgets=m_budgets))
            labels[CIFAR_MEASURED] = c_label + f" (measured, {len(m_hashes)} cells)"
            o_budgets, o_hashes, o_values = fq.reference_measured(conn, "predicted")
            if (config.cifar10_metric == "val_accuracy" and o_budgets == m_budgets
                    and len(o_hashes) == len(m_hashes)):
                landscapes.append(sampled_landscape(CIFAR_OOF, c_label + " (out-of-fold predictions)",
                                                    o_values[km], o_values, budgets=o_budgets))
                labels[CIFAR_OOF] = c_label + " (surrogate, out-of-fold)"
        landscapes[0] = extrapolate_optima(landscapes[0], landscapes[design_index], c_nhat)
        design_pair = (landscapes[0], landscapes[design_index], landscapes[design_index + 1])
    else:
        design_pair = None
        notes.append("CIFAR-10: no NB101 reference in the store (materialize cifar10_reference); "
                     "columns left out")

    order = np.argsort(fitness)
    best, median = hashes[order[-1]], hashes[order[len(order) // 2]]
    per_class = fq.per_class_accuracy(conn, config_key, budget, [best, median])
    per_class.columns = ["best", "median"]
    others = {k: v for k, v in config_counts.items() if k != config_key}
    chosen = ("; chosen by config_key" if config.config_key
              else "; the configuration with the most trained architectures")
    left_out = f"; other configurations left out: {others}" if others else ""
    notes += [f"So2Sat: training configuration {config_key} ({config_counts[config_key]} architectures "
              f"trained, {seeds} seed(s) averaged per cell{chosen}{left_out}), budget protocol "
              f"{protocol or 'snapshot'}, budgets {budgets}, {len(hashes)} measured at every budget",
              f"neighbourhood: {config.neighbourhood}; full landscapes: {config.n_walks} walks x "
              f"{config.walk_length} steps, estimator {config.estimator_repeats} repeats, seed {config.seed}",
              "sampled landscapes: ruggedness along the design's random walks; local optima = cells fitter "
              f"than all of their {KNN_OPTIMA_K} nearest sampled cells (FLA Hamming distance); So2Sat's "
              "extrapolated count = (So2Sat / CIFAR-10 sampled optima on the same cells) x CIFAR-10's N̂",
              "published columns: the authors' numbers, each on its own fitness (see its "
              "header), not recomputed"]
    for ls in landscapes:
        if ls.kind == "full":
            notes.append(f"{ls.name}: birthday-paradox estimate / exact local optima = "
                         f"{ls.details['estimate_over_exact']:.3f}")
    resamples = config.bootstrap_resamples
    with_intervals(landscapes, resamples, config.seed, config.full_space_cell_resamples)
    verdicts = None
    if design_pair is not None:
        with_ratio_intervals(design_pair[0], design_pair[1], design_pair[2], resamples, config.seed)
        verdicts = paired_verdicts(design_pair[0], design_pair[1], resamples, config.seed)
    notes.append(f"intervals: 95 % percentile bootstrap, {resamples} resamples (seed {config.seed}; "
                 f"{config.full_space_cell_resamples} for the cell metrics of full-space landscapes): over "
                 "cells for mean, spread, persistence and sampled optima, over walks for ρ̄(1) and τ, over "
                 "the estimator's repeats for N̂; exact local optima of a surrogate landscape: the range over "
                 "its ensemble members' landscapes. On a full landscape the cell bootstrap measures how the "
                 "metric varies over the space's cells, not the surrogate's error.")
    if verdicts is not None:
        notes.append(f"verdicts: paired bootstrap of {SO2SAT_SAMPLE} − {CIFAR_DESIGN} on the same cells and "
                     "walks; 'differs' when the 95 % interval of the difference excludes 0, "
                     "else 'within noise'")
    descriptions = metric_descriptions(
        neighbourhood=config.neighbourhood, n_walks=config.n_walks, walk_length=config.walk_length,
        design_walks=len(walks), estimator_repeats=config.estimator_repeats, knn_k=KNN_OPTIMA_K,
        budgets={"So2Sat": budgets, **({"CIFAR-10": c_budgets} if c_budget is not None else {})})
    return Comparison(landscapes, labels, notes, pd.DataFrame(table1).T, config_key, budget, c_budget,
                      (best, float(fitness[order[-1]])), (median, float(fitness[order[len(order) // 2]])),
                      per_class, protocol or "snapshot", verdicts, descriptions)


def _reference_quality_note(conn: duckdb.DuckDBPyConnection) -> str:
    """The CIFAR-10 reference surrogates' quality per budget, on cells they did not see."""
    _, summary = db.read_reference_state(conn)
    per_budget = tau_per_budget(summary)
    return (f"CIFAR-10 reference ({summary.get('source', 'NB101')}, "
            f"{summary.get('architectures_measured', '?')} cells measured): surrogate Kendall tau on cells "
            "it did not see (pooled 5-fold out-of-fold), per budget: "
            f"{per_budget or 'every budget measured on every cell, nothing predicted'}")


def difference_rows(verdicts: pd.DataFrame | None, now: pd.Timestamp) -> pd.DataFrame:
    """The paired verdicts as rows of the ``footprint_differences`` table."""
    columns = ["metric", "landscape_a", "landscape_b", "value_a", "value_b", "difference", "ci_low",
               "ci_high", "verdict", "method", "computed_at"]
    if verdicts is None or verdicts.empty:
        return pd.DataFrame(columns=columns)
    return (verdicts.rename(columns={"a": "value_a", "b": "value_b"})
            .assign(landscape_a=verdicts.attrs["a"], landscape_b=verdicts.attrs["b"],
                    computed_at=now)[columns])


def comparison_report(comparison: Comparison, metric: str, models_dir: str) -> ReportData:
    """Everything the footprint report shows, from the compared landscapes (``metric``: So2Sat's fitness)."""
    landscapes = comparison.landscapes
    best, median = comparison.best, comparison.median
    if best is None or median is None:
        raise ValueError("the comparison has no trained cells to name as best and median")
    return ReportData(
        footprints=footprint_table(landscapes),
        fitness_label=comparison.fitness_labels[SO2SAT_SAMPLE],
        fitness_labels=comparison.fitness_labels,
        fitness={ls.name: ls.fitness for ls in landscapes},
        persistence_curves={ls.name: ls.persistence for ls in landscapes if ls.persistence is not None},
        correlograms={ls.name: ls.correlogram for ls in landscapes if ls.correlogram is not None},
        walk_autocorrelations={ls.name: ls.walk_rho for ls in landscapes if ls.walk_rho is not None},
        per_class=comparison.per_class,
        per_class_titles={"best": f"{best[0][:8]} ({best[1]:.3f})",
                          "median": f"{median[0][:8]} ({median[1]:.3f})"},
        surrogate_scatter=cv_scatter(models_dir, f"{metric}@{comparison.budget}"),
        table1=comparison.table1,
        published=published_footprints(),
        title="Fitness landscape footprint: So2Sat LCZ42 vs CIFAR-10",
        notes=comparison.notes + list(PUBLISHED_CAVEATS),
        intervals=interval_table(landscapes),
        verdicts=comparison.verdicts,
        metric_descriptions=comparison.descriptions,
    )


@dataclass
class WrittenReport:
    """A written footprint report: what it shows, its files, and the rows stored for it."""

    report: ReportData
    paths: dict[str, Path]
    footprint_rows: pd.DataFrame
    difference_rows: pd.DataFrame
    violations: dict[str, list[str]]


def write_comparison_report(comparison: Comparison, metric: str, models_dir: str,
                            reports_dir: str) -> WrittenReport:
    """Write the HTML report and its figures; return them with the ``footprints`` and
    ``footprint_differences`` rows to store and each landscape's domain violations (empty = valid)."""
    report = comparison_report(comparison, metric, models_dir)
    paths = write_report(report, Path(reports_dir))
    now = pd.Timestamp.now(tz="UTC").tz_localize(None)
    problems = {ls.name: check_footprint(ls.footprint) for ls in comparison.landscapes}
    return WrittenReport(report, paths, footprint_rows(comparison.landscapes).assign(computed_at=now),
                         difference_rows(comparison.verdicts, now), {k: v for k, v in problems.items() if v})
