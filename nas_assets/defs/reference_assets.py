"""The CIFAR-10 reference landscape: NAS-Bench-101's measurements, completed over the space."""

import os

from dagster import AssetExecutionContext, Failure, MaterializeResult, MetadataValue, asset

from nas_assets.core import store as db
from nas_assets.core.landscape.reference import (
    REFERENCE_MODELS,
    ReferenceLandscape,
    reference_fingerprint,
    reference_from_source,
    source_name,
)
from nas_assets.core.nb101.reader import ReferenceDataError
from nas_assets.core.store.predictions import refresh_space_predictions
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

    def predict(hashes, arrays) -> tuple[ReferenceLandscape, dict]:
        try:
            return reference_from_source(
                reference.path, hashes, arrays, config.budgets,
                os.path.join(artifacts.models_dir, REFERENCE_MODELS),
                config=SurrogateConfig(ensemble_size=config.ensemble_size, seed=config.seed),
                n_repeats=config.eval_repeats, seed=config.seed,
                workers=config.workers or min(2, os.cpu_count() or 1), nthread=os.cpu_count() or 1)
        except (ReferenceDataError, ValueError) as exc:
            raise Failure(description=str(exc), allow_retries=False) from None

    def write(conn, value: tuple[ReferenceLandscape, dict]) -> None:
        landscape, new_summary = value
        db.write_reference(conn, landscape.results, landscape.predictions, fingerprint, new_summary)

    done = refresh_space_predictions(store.connect, fingerprint, stored, predict, write)
    reused = done is None
    if done is not None:
        summary = done.value[1]
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
