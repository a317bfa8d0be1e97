"""The footprint stage: landscapes of So2Sat (trained sample, surrogate) and CIFAR-10 (NB101
sample, surrogate) compared through the 8-metric fitness landscape footprint."""

import base64
import json
import time
from pathlib import Path

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
from nas_assets.core.landscape.landscapes import footprint_rows, footprint_table, interval_table
from nas_assets.core.landscape.metrics import check_footprint
from nas_assets.core.surrogate.artifacts import CV_PREDICTIONS, read_index
from nas_assets.defs.config import FootprintConfig
from nas_assets.defs.footprint_landscapes import SO2SAT_SAMPLE, FootprintInputError, compare_landscapes
from nas_assets.defs.reference_assets import cifar10_reference
from nas_assets.defs.resources import ArtifactsResource, StoreResource
from nas_assets.defs.space_assets import sampled_architectures
from nas_assets.defs.surrogate_assets import surrogate_predictions
from nas_assets.report import (
    ReportData,
    footprint_markdown,
    published_footprints,
    verdict_markdown,
    write_report,
)
from nas_assets.report.data import PUBLISHED_CAVEATS

FOOTPRINT_CHECK = AssetCheckSpec(
    "footprint_metrics_valid", asset="footprint_report",
    description="Every computed footprint metric is finite (τ may be +∞) and within its domain.",
)


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


def _difference_rows(verdicts: pd.DataFrame | None, now: pd.Timestamp) -> pd.DataFrame:
    columns = ["metric", "landscape_a", "landscape_b", "value_a", "value_b", "difference", "ci_low", "ci_high",
               "verdict", "method", "computed_at"]
    if verdicts is None or verdicts.empty:
        return pd.DataFrame(columns=columns)
    return (verdicts.rename(columns={"a": "value_a", "b": "value_b"})
            .assign(landscape_a=verdicts.attrs["a"], landscape_b=verdicts.attrs["b"], computed_at=now)[columns])


def _markdown_images(paths: dict[str, Path]) -> str:
    return "\n\n".join(f"**{name}**\n\n![{name}](data:image/png;base64,{base64.b64encode(p.read_bytes()).decode()})"
                       for name, p in paths.items() if name != "html")


@asset(group_name="footprint", kinds={"duckdb", "html"}, check_specs=[FOOTPRINT_CHECK],
       deps=[sampled_architectures, surrogate_predictions, cifar10_reference])
def footprint_report(
    context: AssetExecutionContext, config: FootprintConfig, store: StoreResource, artifacts: ArtifactsResource
) -> MaterializeResult:
    """The 8-metric fitness landscape footprint of So2Sat vs CIFAR-10 on the same fitness and cells, as a DuckDB table, figures and an HTML report."""
    t_start = time.perf_counter()
    try:
        with store.connect(read_only=True) as conn:
            comparison = compare_landscapes(conn, config, store.path, artifacts.models_dir)
    except (FootprintInputError, LookupError) as exc:
        raise Failure(description=str(exc), allow_retries=False) from None
    landscapes, label = comparison.landscapes, comparison.fitness_labels[SO2SAT_SAMPLE]
    best, median = comparison.best, comparison.median
    frame = footprint_table(landscapes)
    report = ReportData(
        footprints=frame,
        fitness_label=label,
        fitness_labels=comparison.fitness_labels,
        fitness={ls.name: ls.fitness for ls in landscapes},
        persistence_curves={ls.name: ls.persistence for ls in landscapes if ls.persistence is not None},
        correlograms={ls.name: ls.correlogram for ls in landscapes if ls.correlogram is not None},
        walk_autocorrelations={ls.name: ls.walk_rho for ls in landscapes if ls.walk_rho is not None},
        per_class=comparison.per_class,
        per_class_titles={"best": f"{best[0][:8]} ({best[1]:.3f})", "median": f"{median[0][:8]} ({median[1]:.3f})"},
        surrogate_scatter=_scatter(artifacts.models_dir, f"{config.metric}@{comparison.budget}"),
        table1=comparison.table1,
        published=published_footprints(),
        title="Fitness landscape footprint: So2Sat LCZ42 vs CIFAR-10",
        notes=comparison.notes + list(PUBLISHED_CAVEATS),
        intervals=interval_table(landscapes),
        verdicts=comparison.verdicts,
        metric_descriptions=comparison.descriptions,
    )
    paths = write_report(report, Path(artifacts.reports_dir))
    now = pd.Timestamp.now(tz="UTC").tz_localize(None)
    rows = footprint_rows(landscapes).assign(computed_at=now)
    differences = _difference_rows(comparison.verdicts, now)
    with store.connect() as conn:
        db.write_footprints(conn, rows, differences)
    problems = {ls.name: check_footprint(ls.footprint) for ls in landscapes}
    bad = {k: v for k, v in problems.items() if v}
    return MaterializeResult(
        metadata={
            "footprints": MetadataValue.md(footprint_markdown(report)),
            "verdicts": MetadataValue.md(verdict_markdown(report) or "no paired comparison (no CIFAR-10 reference)"),
            "table1": MetadataValue.md(report.table1.round(4).to_markdown()),
            "figures": MetadataValue.md(_markdown_images(paths)),
            "report": MetadataValue.path(str(paths["html"])),
            "landscapes": len(landscapes),
            "fitness": label,
            "budget_match": comparison.notes[1],
            "budget_protocol": comparison.protocol,
            "seconds": round(time.perf_counter() - t_start, 1),
        },
        check_results=[AssetCheckResult(check_name="footprint_metrics_valid", passed=not bad,
                                        severity=AssetCheckSeverity.ERROR,
                                        metadata={"violations": MetadataValue.json(bad or {})})],
    )
