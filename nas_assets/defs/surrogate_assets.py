"""Assets of the surrogate stage: XGBoost surrogates fitted on the trained sample, and their
predictions for every architecture of the space."""

import json
import os
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
from nas_assets.core.cells.cost import SO2SAT_SHAPE, NetworkShape
from nas_assets.core.store import training as q
from nas_assets.core.store.predictions import refresh_space_predictions
from nas_assets.core.surrogate.artifacts import (
    INDEX,
    fit_target,
    index_version,
    load_current,
    parse_targets,
    write_index,
)
from nas_assets.core.surrogate.model import SurrogateConfig, predict_many
from nas_assets.defs.config import SurrogateModelConfig
from nas_assets.defs.resources import ArtifactsResource, StoreResource
from nas_assets.defs.space_assets import architecture_space
from nas_assets.defs.training_assets import results_table

QUALITY_GATE = AssetCheckSpec(
    "surrogate_quality_gate", asset="surrogate_model",
    description="Every target's held-out quality (pooled out-of-fold, configurable metric) "
                "reaches the threshold.",
)


def _coverage(f, prefix: str) -> str:
    """'±1σ / ±2σ' out-of-fold coverage of the calibrated (prefix '') or raw ('raw_') std."""
    c = f.evaluation.get("calibration", {})
    keys = (f"{prefix}coverage_1sigma", f"{prefix}coverage_2sigma")
    return f"{c[keys[0]]:.2f} / {c[keys[1]]:.2f}" if set(keys) <= set(c) else "n/a"


def _evaluation_table(fitted: list) -> str:
    lines = ["| target | n | version | reused | τ (pooled) | sparse τ | ρ | R² | RMSE | τ per fold "
             "| ±1σ/±2σ calibrated | ±1σ/±2σ raw |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for f in fitted:
        p, m, s = f.evaluation["pooled"], f.evaluation["per_fold_mean"], f.evaluation["per_fold_std"]
        lines.append(f"| {f.target.name} | {f.evaluation['n_train']} | {f.directory.name} | {f.reused} | "
                     f"{p['kendall_tau']:.3f} | {p['sparse_kendall_tau']:.3f} | {p['spearman_rho']:.3f} | "
                     f"{p['r2']:.3f} | {p['rmse']:.4f} | {m['kendall_tau']:.3f} ± {s['kendall_tau']:.3f} | "
                     f"{_coverage(f, '')} | {_coverage(f, 'raw_')} |")
    return "\n".join(lines)


def _calibration_summary(fitted: list) -> dict:
    """Per target: held-out coverage of the calibrated and raw std, and the fitted calibration."""
    out = {}
    for f in fitted:
        cal = f.surrogate.calibration
        held_out = {k: v for k, v in f.evaluation.get("calibration", {}).items() if "coverage" in k}
        out[f.target.name] = {"calibrated": cal.calibrated, "scale": round(cal.scale, 4),
                              "floor": round(cal.floor, 5), **held_out, "note": cal.note or None}
    return out


@asset(group_name="surrogate", kinds={"xgboost"}, deps=[results_table], check_specs=[QUALITY_GATE])
def surrogate_model(
    context: AssetExecutionContext,
    config: SurrogateModelConfig,
    store: StoreResource,
    artifacts: ArtifactsResource,
) -> MaterializeResult:
    """XGBoost ensembles per metric x budget (calibrated std), evaluated by repeated k-fold, saved as
    versioned artifacts."""
    with store.connect(read_only=True) as conn:
        stored_shape = db.get_meta(conn, "network_shape")
        shape = NetworkShape(**json.loads(stored_shape)) if stored_shape else SO2SAT_SHAPE
        try:
            config_key, counts = q.resolve_config(conn, config.config_key)
        except LookupError as exc:
            raise Failure(description=f"{store.path}: {exc}", allow_retries=False) from None
        if config_key is None:
            raise Failure(description=f"no trained architectures in {store.path}; train partitions first",
                          allow_retries=False)
        budgets = q.config_budgets(conn, config_key)
        try:
            targets = parse_targets(config.targets, budgets)
        except ValueError as exc:
            raise Failure(description=f"{exc} (training configuration {config_key})",
                          allow_retries=False) from None
        frames = {t: q.trained_values(conn, config_key, t.metric, t.budget) for t in targets}
    model_cfg = SurrogateConfig(feature_sets=tuple(config.feature_sets), ensemble_size=config.ensemble_size,
                                n_estimators=config.n_estimators, max_depth=config.max_depth,
                                learning_rate=config.learning_rate, seed=config.seed)
    info = {"database": store.path, "config_key": config_key}
    context.log.info(f"fitting on training configuration {config_key} ({counts[config_key]} architectures, "
                     f"seeds averaged per cell; all configurations: {counts})")
    fitted = []
    for target in targets:
        t0 = time.perf_counter()
        try:
            fitted.append(fit_target(target, frames[target], artifacts.models_dir, config=model_cfg,
                                     shape=shape,
                                     n_repeats=config.eval_repeats, n_folds=config.eval_folds,
                                     seed=config.seed, data_info=info))
        except ValueError as exc:
            raise Failure(description=f"{exc} (training configuration {config_key}, database {store.path})",
                          allow_retries=False) from None
        context.log.info(f"{target.name}: {'reused' if fitted[-1].reused else 'fitted'} in "
                         f"{time.perf_counter() - t0:.1f} s")
    index = write_index(artifacts.models_dir, fitted, info)
    worst = min(fitted, key=lambda f: f.evaluation["pooled"][config.gate_metric])
    worst_value = worst.evaluation["pooled"][config.gate_metric]
    return MaterializeResult(
        metadata={
            "targets": len(fitted),
            "config_key": config_key,
            "configurations": MetadataValue.json(counts),
            "n_train": fitted[0].evaluation["n_train"],
            "evaluation": MetadataValue.md(_evaluation_table(fitted)),
            # honest: out-of-fold predictions, calibration cross-fitted without the cell's own fold
            "std_coverage": MetadataValue.json(_calibration_summary(fitted)),
            "std_coverage_protocol": fitted[0].evaluation.get("calibration", {}).get("protocol", "n/a"),
            "protocol": fitted[0].evaluation["protocol"],
            "index": MetadataValue.path(str(Path(artifacts.models_dir) / INDEX)),
            "version": index_version(index),
        },
        check_results=[AssetCheckResult(
            check_name="surrogate_quality_gate",
            passed=bool(worst_value >= config.gate_min),  # NaN (constant predictions) fails too
            severity=AssetCheckSeverity.WARN,
            metadata={"metric": config.gate_metric, "threshold": config.gate_min,
                      "worst_target": worst.target.name, "worst_value": float(worst_value),
                      "values": MetadataValue.json({f.target.name: f.evaluation["pooled"][config.gate_metric]
                                                    for f in fitted})},
        )],
    )


@asset(group_name="surrogate", kinds={"xgboost", "duckdb"}, deps=[surrogate_model, architecture_space])
def surrogate_predictions(store: StoreResource, artifacts: ArtifactsResource) -> MaterializeResult:
    """Predicted mean and calibrated std (±2 std ≈ 95 % of errors) of every surrogate target, all 423,624
    cells."""
    try:
        # all cores: fitting uses one thread (tiny data), predicting 423,624 rows gains from more
        index, surrogates = load_current(artifacts.models_dir, nthread=os.cpu_count() or 1)
    except (FileNotFoundError, ValueError) as exc:
        raise Failure(description=str(exc), allow_retries=False) from None
    version = index_version(index)
    with store.connect(read_only=True) as conn:
        stored = db.get_meta(conn, "surrogate_predictions_version")
        rows = db.table_count(conn, "surrogate_predictions")

    def predict(hashes, arrays) -> pd.DataFrame:
        return pd.concat([
            pd.DataFrame({"arch_hash": hashes, "metric": t.metric, "budget": t.budget, "mean": mean,
                          "std": std})
            for t, (mean, std) in predict_many(surrogates, *arrays).items()
        ], ignore_index=True)

    done = refresh_space_predictions(store.connect, version, stored if rows else None, predict,
                                     lambda conn, frame: db.write_predictions(conn, frame, version))
    if done is None:
        return MaterializeResult(metadata={"reused": True, "version": version, "dagster/row_count": rows})
    frame, timings = done.value, done.timings
    summary = frame.groupby(["metric", "budget"])[["mean", "std"]].agg(["mean", "min", "max"])
    summary.columns = [f"{a}_{b}" for a, b in summary.columns]
    return MaterializeResult(
        metadata={
            "reused": False,
            "version": version,
            "dagster/row_count": len(frame),
            "architectures": done.n_architectures,
            "targets": len(surrogates),
            "std_calibrated": MetadataValue.json({t.name: s.calibration.calibrated or s.calibration.note
                                                  for t, s in surrogates.items()}),
            **{k: round(v, 2) for k, v in timings.items()},
            "total_s": round(sum(timings.values()), 2),
            "summary": MetadataValue.md(summary.round(4).reset_index().to_markdown(index=False)),
        }
    )
