"""The CIFAR-10 reference landscape: NAS-Bench-101's measurements, completed over the space."""

import os
import time

from dagster import AssetExecutionContext, Failure, MaterializeResult, MetadataValue, asset

from nas_assets.core import store as db
from nas_assets.core.landscape.reference import (
    REFERENCE_MODELS,
    build_reference_landscape,
    reference_fingerprint,
    source_name,
)
from nas_assets.core.nb101.reader import ReferenceDataError, load_reference, load_shipped_reference
from nas_assets.core.surrogate.model import SurrogateConfig
from nas_assets.defs.config import ReferenceLandscapeConfig
from nas_assets.defs.resources import ArtifactsResource, ReferenceDataResource, StoreResource
from nas_assets.defs.space_assets import architecture_space


def _quality_markdown(quality: dict) -> str:
    head = ["| budget | cells | τ (pooled, out-of-fold) | ρ | R² | ±1σ | ±2σ |",
            "|---|---|---|---|---|---|---|"]
    rows = [f"| {b} | {q['n_train']} | {q.get('kendall_tau', float('nan')):.3f} | "
            f"{q.get('spearman_rho', float('nan')):.3f} | {q.get('r2', float('nan')):.3f} | "
            f"{q.get('coverage_1sigma', float('nan')):.2f} | {q.get('coverage_2sigma', float('nan')):.2f} |"
            for b, q in quality.items()]
    return "\n".join(head + rows)


@asset(group_name="footprint", kinds={"duckdb", "xgboost"}, deps=[architecture_space])
def cifar10_reference(
    context: AssetExecutionContext,
    config: ReferenceLandscapeConfig,
    store: StoreResource,
    reference: ReferenceDataResource,
    artifacts: ArtifactsResource,
) -> MaterializeResult:
    """NAS-Bench-101 CIFAR-10 accuracies per budget (shipped 20,001 cells by default), and per-budget
    surrogate predictions for every cell."""
    if not reference.enabled:
        return MaterializeResult(metadata={"available": False,
                                           "reason": "reference disabled (enabled: false)"})
    settings = {"budgets": sorted(config.budgets), "ensemble_size": config.ensemble_size,
                "eval_repeats": config.eval_repeats, "seed": config.seed}
    source = source_name(reference.path)
    try:
        with store.connect(read_only=True) as conn:
            n_space = db.table_count(conn, "architectures")
            stored, summary = db.read_reference_state(conn)
        fingerprint = reference_fingerprint(reference.path, settings, n_space)
    except OSError as exc:
        raise Failure(description=f"NB101 reference {reference.path}: {exc.strerror or exc}; set "
                                  "NAS_ASSETS_NB101 to an NB101 .json export or .tfrecord, or unset it for "
                                  "the shipped 20k cells",
                      allow_retries=False) from None
    reused = stored == fingerprint
    if not reused:
        t0 = time.perf_counter()
        try:
            frame = (load_shipped_reference(config.budgets) if reference.path is None
                     else load_reference(reference.path, config.budgets))
        except (ReferenceDataError, ValueError) as exc:
            raise Failure(description=str(exc), allow_retries=False) from None
        load_s = time.perf_counter() - t0
        with store.connect(read_only=True) as conn:
            hashes, arrays = db.read_padded_space(conn)
        t0 = time.perf_counter()
        landscape = build_reference_landscape(
            frame, hashes, arrays, config.budgets, os.path.join(artifacts.models_dir, REFERENCE_MODELS),
            config=SurrogateConfig(ensemble_size=config.ensemble_size, seed=config.seed),
            n_repeats=config.eval_repeats, seed=config.seed, source=source,
            workers=config.workers or min(2, os.cpu_count() or 1), nthread=os.cpu_count() or 1)
        summary = {
            "source": source, "path": reference.path, "architectures_measured": len(frame),
            "budgets_measured_everywhere": landscape.measured_everywhere, "quality": landscape.quality,
            "mean_val_accuracy": {str(b): round(float(frame[f"val_accuracy_{b}"].mean()), 4)
                                  for b in config.budgets},
            "load_s": round(load_s, 2), "fit_predict_s": round(time.perf_counter() - t0, 2),
        }
        with store.connect() as conn:
            db.write_reference(conn, landscape.results, landscape.predictions, fingerprint, summary)
    context.log.info(f"CIFAR-10 reference: {summary['architectures_measured']} architectures from {source}; "
                     f"reused={reused}")
    return MaterializeResult(metadata={
        "available": True,
        "source": source,
        "path": MetadataValue.path(reference.path) if reference.path else "shipped with the package",
        "fingerprint": fingerprint,
        "architectures_measured": summary["architectures_measured"],
        "budgets_measured_everywhere": str(summary["budgets_measured_everywhere"]),
        "mean_val_accuracy": MetadataValue.json(summary["mean_val_accuracy"]),
        "surrogate_quality": MetadataValue.md(_quality_markdown(summary["quality"])),
        "kendall_tau": MetadataValue.json({b: round(q.get("kendall_tau", float("nan")), 4)
                                           for b, q in summary["quality"].items()}),
        "reused": reused,
        "load_s": summary["load_s"], "fit_predict_s": summary["fit_predict_s"],
    })
