"""The footprint stage: landscapes of So2Sat (trained sample, surrogate) and CIFAR-10 (NB101
sample, surrogate) compared through the 8-metric fitness landscape footprint."""

import time

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
from nas_assets.defs.config import FootprintConfig
from nas_assets.defs.reference_assets import cifar10_reference
from nas_assets.defs.resources import ArtifactsResource, StoreResource
from nas_assets.defs.space_assets import sampled_architectures
from nas_assets.defs.surrogate_assets import surrogate_predictions
from nas_assets.report import footprint_markdown, verdict_markdown
from nas_assets.report.comparison import FootprintInputError, compare_landscapes, write_comparison_report
from nas_assets.report.html import markdown_images

FOOTPRINT_CHECK = AssetCheckSpec(
    "footprint_metrics_valid", asset="footprint_report",
    description="Every computed footprint metric is finite (τ may be +∞) and within its domain.",
)


@asset(group_name="footprint", kinds={"duckdb", "html"}, check_specs=[FOOTPRINT_CHECK],
       deps=[sampled_architectures, surrogate_predictions, cifar10_reference])
def footprint_report(
    context: AssetExecutionContext, config: FootprintConfig, store: StoreResource,
    artifacts: ArtifactsResource
) -> MaterializeResult:
    """The 8-metric fitness landscape footprint of So2Sat vs CIFAR-10 on the same fitness and cells, as a
    DuckDB table, figures and an HTML report."""
    t_start = time.perf_counter()
    try:
        with store.connect(read_only=True) as conn:
            comparison = compare_landscapes(conn, config, store.path, artifacts.models_dir)
    except (FootprintInputError, LookupError) as exc:
        raise Failure(description=str(exc), allow_retries=False) from None
    written = write_comparison_report(comparison, config.metric, artifacts.models_dir, artifacts.reports_dir)
    with store.connect() as conn:
        db.write_footprints(conn, written.footprint_rows, written.difference_rows)
    report, paths, bad = written.report, written.paths, written.violations
    return MaterializeResult(
        metadata={
            "footprints": MetadataValue.md(footprint_markdown(report)),
            "verdicts": MetadataValue.md(verdict_markdown(report)
                                         or "no paired comparison (no CIFAR-10 reference)"),
            "table1": MetadataValue.md(comparison.table1.round(4).to_markdown()),
            "figures": MetadataValue.md(markdown_images(paths)),
            "report": MetadataValue.path(str(paths["html"])),
            "landscapes": len(comparison.landscapes),
            "fitness": report.fitness_label,
            "budget_match": comparison.notes[1],
            "budget_protocol": comparison.protocol,
            "seconds": round(time.perf_counter() - t_start, 1),
        },
        check_results=[AssetCheckResult(check_name="footprint_metrics_valid", passed=not bad,
                                        severity=AssetCheckSeverity.ERROR,
                                        metadata={"violations": MetadataValue.json(bad or {})})],
    )
