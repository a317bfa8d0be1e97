"""The CIFAR-10 reference landscape: NAS-Bench-101's measurements, completed over the space."""

import os
import time
from pathlib import Path

import numpy as np
import pandas as pd
from dagster import AssetExecutionContext, Failure, MaterializeResult, MetadataValue, asset

from nas_assets.core import store as db
from nas_assets.core.cost import CIFAR10_SHAPE
from nas_assets.core.nb101_data import ReferenceDataError, load_reference
from nas_assets.core.space import SPACE_SIZE
from nas_assets.core.surrogate import SurrogateConfig, predict_many
from nas_assets.core.surrogate_artifacts import Target, fit_target
from nas_assets.defs.config import ReferenceLandscapeConfig
from nas_assets.defs.resources import ArtifactsResource, ReferenceDataResource, StoreResource
from nas_assets.defs.space_assets import architecture_space


def _long_results(frame: pd.DataFrame, budgets: list[int], source: str) -> pd.DataFrame:
    return pd.concat([
        pd.DataFrame({"arch_hash": frame["arch_hash"], "budget": b, "val_accuracy": frame[f"val_accuracy_{b}"],
                      "test_accuracy": frame[f"test_accuracy_{b}"], "source": source})
        for b in budgets], ignore_index=True).dropna(subset=["val_accuracy"])


@asset(group_name="footprint", kinds={"duckdb", "xgboost"}, deps=[architecture_space])
def cifar10_reference(
    context: AssetExecutionContext,
    config: ReferenceLandscapeConfig,
    store: StoreResource,
    reference: ReferenceDataResource,
    artifacts: ArtifactsResource,
) -> MaterializeResult:
    """NAS-Bench-101 CIFAR-10 accuracies per budget, and a surrogate's predictions for the cells NB101 data lacks."""
    if not reference.path:
        return MaterializeResult(metadata={"available": False, "reason": "no NB101 data configured (NAS_ASSETS_NB101)"})
    t0 = time.perf_counter()
    try:
        frame = load_reference(reference.path, config.budgets)
    except (ReferenceDataError, ValueError) as exc:
        raise Failure(description=str(exc), allow_retries=False) from None
    source = Path(reference.path).name
    timings = {"load_s": time.perf_counter() - t0}
    complete = [b for b in config.budgets if frame[f"val_accuracy_{b}"].notna().sum() == SPACE_SIZE]
    model_cfg = SurrogateConfig(ensemble_size=config.ensemble_size, seed=config.seed)
    fitted = {}
    t0 = time.perf_counter()
    for b in config.budgets:
        known = frame.dropna(subset=[f"val_accuracy_{b}"])
        if b in complete or len(known) < 6:
            continue  # measured everywhere (full NB101 file) -- or too little to fit
        data = known[["arch_hash", "matrix", "ops"]].assign(value=known[f"val_accuracy_{b}"].to_numpy())
        fitted[Target("val_accuracy", b)] = fit_target(
            Target("val_accuracy", b), data, Path(artifacts.models_dir) / "cifar10", config=model_cfg,
            shape=CIFAR10_SHAPE, n_repeats=config.eval_repeats, seed=config.seed, data_info={"source": reference.path})
    timings["fit_s"] = time.perf_counter() - t0
    version = ",".join(f"{t.name}={f.directory.name}" for t, f in sorted(fitted.items(), key=lambda kv: kv[0].budget))
    version = f"{source}:{len(frame)}:{version}"
    with store.connect(read_only=True) as conn:
        reuse = db.get_meta(conn, "reference_version") == version and db.table_count(conn, "reference_predictions")
    if not reuse:
        t0 = time.perf_counter()
        with store.connect(read_only=True) as conn:
            hashes, arrays = db.read_padded_space(conn)
        models = {t: f.surrogate.set_nthread(os.cpu_count() or 1) for t, f in fitted.items()}
        predictions = predict_many(models, *arrays)
        measured = frame.set_index("arch_hash")
        parts = []
        for b in config.budgets:
            if b in complete:
                mean = measured[f"val_accuracy_{b}"].reindex(hashes).to_numpy()
                std = np.zeros(len(hashes))
            elif Target("val_accuracy", b) in predictions:
                mean, std = predictions[Target("val_accuracy", b)]
            else:
                continue
            parts.append(pd.DataFrame({"arch_hash": hashes, "budget": b, "mean": mean, "std": std}))
        timings["predict_s"] = time.perf_counter() - t0
        with store.connect() as conn:
            db.write_reference(conn, _long_results(frame, config.budgets, source),
                               pd.concat(parts, ignore_index=True), version)
    quality = "\n".join(
        ["| budget | n | τ (pooled) | ρ | R² |", "|---|---|---|---|---|"]
        + [f"| {t.budget} | {f.evaluation['n_train']} | {f.evaluation['pooled']['kendall_tau']:.3f} | "
           f"{f.evaluation['pooled']['spearman_rho']:.3f} | {f.evaluation['pooled']['r2']:.3f} |"
           for t, f in sorted(fitted.items(), key=lambda kv: kv[0].budget)])
    means = {b: round(float(frame[f"val_accuracy_{b}"].mean()), 4) for b in config.budgets}
    context.log.info(f"CIFAR-10 reference: {len(frame)} architectures from {reference.path}; reused={bool(reuse)}")
    return MaterializeResult(metadata={
        "available": True,
        "source": MetadataValue.path(reference.path),
        "architectures_measured": len(frame),
        "budgets_measured_everywhere": str(complete),
        "mean_val_accuracy": MetadataValue.json(means),
        "surrogate_quality": MetadataValue.md(quality),
        "reused_predictions": bool(reuse),
        **{k: round(v, 2) for k, v in timings.items()},
    })
