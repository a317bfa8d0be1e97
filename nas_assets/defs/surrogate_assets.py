"""Assets of the surrogate stage: XGBoost models over the trained sample, predictions for the whole space."""

import time
from pathlib import Path

import numpy as np
import pandas as pd
from dagster import AssetCheckResult, AssetCheckSeverity, AssetCheckSpec, Config, MaterializeResult, MetadataValue, asset
from pydantic import Field

from nas_assets.core import store as db
from nas_assets.core.space_table import padded_arrays
from nas_assets.defs.resources import ArtifactsResource, StoreResource
from nas_assets.defs.space_assets import architecture_space
from nas_assets.defs.training_assets import results_table

TARGET_METRICS = ("val_macro_accuracy", "val_overall_accuracy", "val_kappa")


class SurrogateSettings(Config):
    """Targets, features and the quality gate of the surrogate."""

    metrics: list[str] = Field(default=list(TARGET_METRICS), description="Metrics to model, each at every trained budget.")
    feature_sets: list[str] = Field(default=["adjacency", "cost"], description="'fla' (289), 'adjacency' (36), 'cost'.")
    ensemble_size: int = Field(default=5, description="Models per target (seeds), for mean and std.")
    n_repeats: int = Field(default=3, description="Repeats of the held-out evaluation.")
    seed: int = Field(default=0, description="Seed of fits and evaluation splits.")
    min_kendall_tau: float = Field(
        default=0.0, description="Quality gate: held-out Kendall tau of the primary target (first metric, last budget)."
    )


def _training_table(conn) -> pd.DataFrame:
    """Mean over repeats (seeds) of every trained architecture's metrics per budget."""
    return conn.execute(f"""
        SELECT b.arch_hash, b.epoch, a.matrix, a.ops, {", ".join(f"avg(b.{m}) AS {m}" for m in TARGET_METRICS)}
        FROM budget_metrics b JOIN architectures a USING (arch_hash)
        GROUP BY b.arch_hash, b.epoch, a.matrix, a.ops ORDER BY b.arch_hash, b.epoch""").df()


@asset(group_name="surrogate", kinds={"xgboost"}, deps=[results_table],
       check_specs=[AssetCheckSpec("surrogate_quality_gate", asset="surrogate_model",
                                   description="Held-out Kendall tau of the primary target above the configured floor.")])
def surrogate_model(config: SurrogateSettings, store: StoreResource, artifacts: ArtifactsResource) -> MaterializeResult:
    """XGBoost ensembles from architecture features to each metric x budget, with honest held-out quality."""
    from nas_assets.core.surrogate import evaluate_surrogate, fit_surrogate

    with store.connect(read_only=True) as conn:
        table = _training_table(conn)
    if table.empty:
        raise RuntimeError(f"{store.path}: no training results yet; materialize trained_architecture partitions first")
    budgets = sorted(table["epoch"].unique().tolist())
    rows, primary = [], None
    for metric in config.metrics:
        for budget in budgets:
            part = table[table["epoch"] == budget]
            specs = [(m, o) for m, o in zip(part["matrix"], part["ops"])]
            specs = [_spec(m, o) for m, o in specs]
            targets = part[metric].to_numpy(dtype=float)
            t0 = time.perf_counter()
            quality = (evaluate_surrogate(specs, targets, n_repeats=config.n_repeats, seed=config.seed,
                                          feature_sets=tuple(config.feature_sets), ensemble_size=1)
                       if len(specs) >= 10 else {})
            model = fit_surrogate(specs, targets, feature_sets=tuple(config.feature_sets),
                                  ensemble_size=config.ensemble_size, seed=config.seed)
            target = f"{metric}@{budget}"
            model.manifest.update(target=target, n_train=len(specs), evaluation=_jsonable(quality))
            model.save(Path(artifacts.path) / target)
            row = {"target": target, "n_train": len(specs), "fit_s": round(time.perf_counter() - t0, 2)}
            row.update({k: round(float(v), 4) for k, v in quality.items() if isinstance(v, (int, float, np.floating))})
            rows.append(row)
            if metric == config.metrics[0] and budget == budgets[-1]:
                primary = row
    summary = pd.DataFrame(rows)
    tau = primary.get("kendall_tau_mean") if primary else None
    return MaterializeResult(
        metadata={"targets": len(rows), "n_architectures": int(table["arch_hash"].nunique()),
                  "artifacts": MetadataValue.path(artifacts.path), "quality": MetadataValue.md(summary.to_markdown(index=False))},
        check_results=[AssetCheckResult(
            check_name="surrogate_quality_gate",
            passed=tau is not None and tau >= config.min_kendall_tau,
            severity=AssetCheckSeverity.WARN,
            metadata={"kendall_tau": float(tau) if tau is not None else -1.0, "floor": config.min_kendall_tau,
                      "target": primary["target"] if primary else ""},
        )],
    )


def _spec(matrix: str, ops: str):
    from nas_assets.core.space import string_to_matrix

    return string_to_matrix(matrix), ops.split(",")


def _jsonable(d: dict) -> dict:
    out = {}
    for k, v in d.items():
        if isinstance(v, (np.floating, float, int, np.integer)):
            out[k] = float(v)
        elif isinstance(v, (list, tuple, np.ndarray)):
            out[k] = [float(x) for x in np.asarray(v, dtype=float).ravel()]
    return out


@asset(group_name="surrogate", kinds={"xgboost", "duckdb"}, deps=[surrogate_model, architecture_space])
def surrogate_predictions(store: StoreResource, artifacts: ArtifactsResource) -> MaterializeResult:
    """Mean and std of every fitted target for all 423,624 architectures (table `surrogate_predictions`)."""
    from nas_assets.core.surrogate import Surrogate

    t0 = time.perf_counter()
    with store.connect(read_only=True) as conn:
        space = conn.execute("SELECT arch_hash, matrix, ops FROM architectures ORDER BY arch_index").df()
    matrices, labels, n_vertices = padded_arrays(space["matrix"], space["ops"])
    load_s = time.perf_counter() - t0
    frames, timings = [], {}
    for directory in sorted(p for p in Path(artifacts.path).iterdir() if p.is_dir()):
        metric, budget = directory.name.split("@")
        t1 = time.perf_counter()
        mean, std = Surrogate.load(directory).predict_arrays(matrices, labels, n_vertices)
        timings[directory.name] = round(time.perf_counter() - t1, 2)
        frames.append(pd.DataFrame({"arch_hash": space["arch_hash"], "metric": metric, "budget": int(budget),
                                    "mean": mean.astype(float), "std": std.astype(float)}))
    predictions = pd.concat(frames, ignore_index=True)
    t2 = time.perf_counter()
    with store.connect() as conn:
        db.replace_table(conn, "surrogate_predictions", predictions)
    return MaterializeResult(
        metadata={"dagster/row_count": len(predictions), "targets": len(frames), "load_s": round(load_s, 2),
                  "predict_s_per_target": MetadataValue.json(timings), "write_s": round(time.perf_counter() - t2, 2)}
    )
