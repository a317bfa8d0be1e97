"""The footprint stage: landscapes of So2Sat (trained sample, surrogate) and CIFAR-10 (NB101
sample, surrogate) compared through the 8-metric fitness landscape footprint."""

import base64
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    Failure,
    MaterializeResult,
    MetadataValue,
    asset,
)

from nas_assets.core import store as db
from nas_assets.core.footprints import Landscape, footprint_rows, footprint_table, full_landscape, sampled_landscape
from nas_assets.core.landscape import check_footprint
from nas_assets.core.surrogate_artifacts import CV_PREDICTIONS, read_index
from nas_assets.defs import footprint_queries as fq
from nas_assets.defs import training_queries as q
from nas_assets.defs.config import FootprintConfig
from nas_assets.defs.reference_assets import cifar10_reference
from nas_assets.defs.resources import ArtifactsResource, StoreResource
from nas_assets.defs.space_assets import sampled_architectures
from nas_assets.defs.surrogate_assets import surrogate_predictions
from nas_assets.report import ReportData, footprint_markdown, published_footprints, write_report

FOOTPRINT_CHECK = AssetCheckSpec(
    "footprint_metrics_valid", asset="footprint_report",
    description="Every computed footprint metric is finite (τ may be +∞) and within its domain.",
)
SO2SAT_SAMPLE, SO2SAT_FULL = "So2Sat (trained sample)", "So2Sat (surrogate, full space)"
CIFAR_SAMPLE, CIFAR_FULL = "CIFAR-10 (NB101 sample)", "CIFAR-10 (surrogate, full space)"


def _neighbours(conn, kind: str, n: int):
    if kind == "fla":
        return db.read_neighbour_index(conn, "fla", n)
    from nas_assets.core.encoding import graph_edit_neighbour_index
    from nas_assets.core.enumeration import enumerate_space

    # rows follow arch_index (same enumeration); symmetrised so walks never reach a dead end
    return graph_edit_neighbour_index(enumerate_space()).symmetrised()


def _walks_fitness(walks: list[np.ndarray], hashes: np.ndarray, fitness: np.ndarray) -> list[np.ndarray]:
    """Fitness along the design's walks; steps whose architecture has no measurement are dropped."""
    lookup = pd.Series(fitness, index=hashes)
    return [lookup.reindex(w).dropna().to_numpy() for w in walks]


def _scatter(models_dir: str, target: str) -> dict | None:
    try:
        entry = next(t for t in read_index(models_dir)["targets"] if t["name"] == target)
    except (FileNotFoundError, ValueError, StopIteration):
        return None
    directory = Path(models_dir) / entry["directory"]
    cv = pd.read_csv(directory / CV_PREDICTIONS)
    pooled = json.loads((directory / "manifest.json").read_text())["metrics"].get("pooled", {})
    return {"measured": cv["measured"].to_numpy(), "predicted": cv["predicted_r0"].to_numpy(),
            "label": f"{target} (out-of-fold)", **{k: pooled[k] for k in ("kendall_tau", "spearman_rho", "r2", "rmse")
                                                    if k in pooled}, "n": len(cv)}


def _markdown_images(paths: dict[str, Path]) -> str:
    return "\n\n".join(f"**{name}**\n\n![{name}](data:image/png;base64,{base64.b64encode(p.read_bytes()).decode()})"
                       for name, p in paths.items() if name != "html")


@asset(group_name="footprint", kinds={"duckdb", "html"}, check_specs=[FOOTPRINT_CHECK],
       deps=[sampled_architectures, surrogate_predictions, cifar10_reference])
def footprint_report(
    context: AssetExecutionContext, config: FootprintConfig, store: StoreResource, artifacts: ArtifactsResource
) -> MaterializeResult:
    """The 8-metric fitness landscape footprint of So2Sat vs CIFAR-10, as a DuckDB table, figures and an HTML report."""
    t_start = time.perf_counter()
    landscapes: list[Landscape] = []
    notes = [f"database: {store.path}"]
    with store.connect(read_only=True) as conn:
        run_key, run_keys = q.main_run_key(conn)
        if run_key is None:
            raise Failure(description=f"no trained architectures in {store.path}; train partitions first",
                          allow_retries=False)
        budgets, hashes, by_budget = fq.sampled_fitness(conn, run_key, config.metric)
        budget = config.budget or budgets[-1]
        if budget not in budgets:
            raise Failure(description=f"fitness budget {budget} was not recorded (budgets {budgets})", allow_retries=False)
        label = f"{config.metric} @ {budget} epochs"
        fitness = by_budget[budgets.index(budget)]
        walks = _walks_fitness(fq.design_walks(conn), hashes, fitness)
        landscapes.append(sampled_landscape(SO2SAT_SAMPLE, label, fitness, by_budget, walks, budgets=budgets))
        n = db.table_count(conn, "architectures")
        neighbours = _neighbours(conn, config.neighbourhood, n)
        p_budgets, predicted = fq.predicted_fitness(conn, "surrogate_predictions", config.metric)
        if not db.table_count(conn, "surrogate_predictions"):
            raise Failure(description=f"surrogate_predictions in {store.path} is empty; materialize surrogate_model "
                                      "and surrogate_predictions first", allow_retries=False)
        if budget not in p_budgets:
            raise Failure(description=f"surrogate_predictions has no {config.metric}@{budget} (has budgets {p_budgets}); "
                                      f"add the target to surrogate_model's config", allow_retries=False)
        full = dict(n_walks=config.n_walks, walk_length=config.walk_length,
                    estimator_repeats=config.estimator_repeats, seed=config.seed)
        landscapes.append(full_landscape(SO2SAT_FULL, label + " (predicted)", predicted[p_budgets.index(budget)],
                                         neighbours, predicted, budgets=p_budgets, **full))
        table1 = {SO2SAT_SAMPLE: fq.table1_row(conn, run_key, budget)}
        overall = conn.execute("SELECT avg(mean) FROM surrogate_predictions WHERE metric = 'val_overall_accuracy' "
                               "AND budget = ?", [budget]).fetchall()[0][0]
        table1[SO2SAT_FULL] = {"mean macro accuracy": float(predicted[p_budgets.index(budget)].mean())
                               if config.metric == "val_macro_accuracy" else np.nan, "mean overall accuracy": overall}
        c_budgets, c_hashes, c_by_budget = fq.reference_fitness(conn)
        if c_budgets:
            c_label = f"NB101 validation accuracy @ {c_budgets[-1]} epochs"
            landscapes.append(sampled_landscape(CIFAR_SAMPLE, c_label, c_by_budget[-1], c_by_budget, budgets=c_budgets))
            cp_budgets, c_pred = fq.predicted_fitness(conn, "reference_predictions")
            if cp_budgets:
                landscapes.append(full_landscape(CIFAR_FULL, c_label + " (predicted)", c_pred[-1], neighbours,
                                                 c_pred, budgets=cp_budgets, **full))
                table1[CIFAR_FULL] = {"mean macro accuracy": np.nan, "mean overall accuracy": float(c_pred[-1].mean())}
            table1[CIFAR_SAMPLE] = {"mean macro accuracy": np.nan, "mean overall accuracy": float(c_by_budget[-1].mean())}
            notes.append(f"CIFAR-10: {len(c_hashes)} NB101 architectures, budgets {c_budgets}; "
                         "NB101 records one accuracy, so its 'macro' column is n/a")
        else:
            notes.append("CIFAR-10: no NB101 reference data configured (set NAS_ASSETS_NB101); columns left out")
        order = np.argsort(fitness)
        best, median = hashes[order[-1]], hashes[order[len(order) // 2]]
        per_class = fq.per_class_accuracy(conn, run_key, budget, [best, median])
        per_class.columns = ["best", "median"]
    notes += [f"So2Sat: run key {run_key} ({run_keys[run_key]} architectures trained), budgets {budgets}, "
              f"{len(hashes)} measured at every budget; fitness = {label}",
              f"neighbourhood: {config.neighbourhood}; full landscapes: {config.n_walks} walks x {config.walk_length} steps, "
              f"estimator {config.estimator_repeats} repeats, seed {config.seed}",
              "trained sample: ruggedness along the design's random walks; local optima are counted on full landscapes only",
              "published columns: the authors' numbers (kappa / test accuracy at 36 epochs), not recomputed"]
    for ls in landscapes:
        if ls.kind == "full":
            notes.append(f"{ls.name}: birthday-paradox estimate / exact local optima = {ls.details['estimate_over_exact']:.3f}")
    frame = footprint_table(landscapes)
    report = ReportData(
        footprints=frame,
        fitness_label=label,
        fitness={ls.name: ls.fitness for ls in landscapes},
        persistence_curves={ls.name: ls.persistence for ls in landscapes if ls.persistence is not None},
        correlograms={ls.name: ls.correlogram for ls in landscapes if ls.correlogram is not None},
        walk_autocorrelations={ls.name: ls.walk_rho for ls in landscapes if ls.walk_rho is not None},
        per_class=per_class,
        per_class_titles={"best": f"{best[:8]} ({fitness[order[-1]]:.3f})",
                          "median": f"{median[:8]} ({fitness[order[len(order) // 2]]:.3f})"},
        surrogate_scatter=_scatter(artifacts.models_dir, f"{config.metric}@{budget}"),
        table1=pd.DataFrame(table1).T,
        published=published_footprints(),
        title="Fitness landscape footprint: So2Sat LCZ42 vs CIFAR-10",
        notes=notes,
    )
    paths = write_report(report, Path(artifacts.reports_dir))
    rows = footprint_rows(landscapes).assign(computed_at=pd.Timestamp.now(tz="UTC").tz_localize(None))
    with store.connect() as conn:
        db.replace_table(conn, "footprints", rows)
    problems = {ls.name: check_footprint(ls.footprint) for ls in landscapes}
    bad = {k: v for k, v in problems.items() if v}
    return MaterializeResult(
        metadata={
            "footprints": MetadataValue.md(footprint_markdown(report)),
            "table1": MetadataValue.md(report.table1.round(4).to_markdown()),
            "figures": MetadataValue.md(_markdown_images(paths)),
            "report": MetadataValue.path(str(paths["html"])),
            "landscapes": len(landscapes),
            "fitness": label,
            "seconds": round(time.perf_counter() - t_start, 1),
        },
        check_results=[AssetCheckResult(check_name="footprint_metrics_valid", passed=not bad,
                                        severity=AssetCheckSeverity.ERROR,
                                        metadata={"violations": MetadataValue.json(bad or {})})],
    )
