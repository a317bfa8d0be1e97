"""Versioned surrogate artifacts on disk: evaluate + fit once per (training data, config).

Layout under a models directory::

    <models>/<target>/<version>/            one artifact (members + manifest), renamed into place whole
    <models>/<target>/<version>/cv_predictions.csv   the evaluation's out-of-fold mean and calibrated std
    <models>/index.json                     the current version of every target (atomic)

``<target>`` is ``<metric>@<budget>`` (e.g. ``val_macro_accuracy@108``); ``<version>`` is a
short hash of the training rows (hashes and values, in a canonical order), the surrogate
configuration and the evaluation protocol. The same inputs therefore map to the same directory
and are reused instead of refitted -- re-running a pipeline costs nothing when no new
architecture was trained.

The evaluation's out-of-fold predictions also calibrate the surrogate's std (``fit_surrogate(...,
oof=...)``), so calibration costs no extra fit here.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from nas_assets.core.cells.cost import NetworkShape
from nas_assets.core.cells.space import ArchSpec
from nas_assets.core.files import atomic_write, remove_dead_temps, replace_dir, staged_path
from nas_assets.core.so2sat import VALIDATION_METRICS
from nas_assets.core.surrogate.calibration import METHOD as CALIBRATION_METHOD
from nas_assets.core.surrogate.model import (
    OutOfFold,
    Surrogate,
    SurrogateConfig,
    _config_json,
    evaluate_surrogate,
    fit_surrogate,
)

INDEX = "index.json"
CV_PREDICTIONS = "cv_predictions.csv"
#: Metrics a target may name, and whether they are fractions in [0, 1) (fitted as -log(1 - y)).
TARGET_METRICS: dict[str, bool] = {
    "val_macro_accuracy": True,
    "val_overall_accuracy": True,
    "val_kappa": False,
    "val_accuracy": True,  # the CIFAR-10 reference (NB101 records one accuracy)
}


@dataclass(frozen=True)
class Target:
    """What one surrogate predicts: a validation metric at a training budget (epochs)."""

    metric: str
    budget: int

    @property
    def name(self) -> str:
        return f"{self.metric}@{self.budget}"


def parse_targets(items: Sequence[str], budgets: Sequence[int],
                  metrics: Sequence[str] = VALIDATION_METRICS) -> list[Target]:
    """Expand ``metric@budget`` strings; budget may be an integer, ``all`` or ``last``.

    Args:
        items: e.g. ``["val_macro_accuracy@all", "val_overall_accuracy@last"]``.
        budgets: the budgets the training setup records, in any order.
        metrics: the metrics a target may name.

    Raises:
        ValueError: unknown metric, malformed item or a budget that is not recorded.
    """
    recorded = sorted(int(b) for b in budgets)
    out: list[Target] = []
    for item in items:
        metric, sep, budget = str(item).partition("@")
        if not sep or metric not in metrics:
            raise ValueError(f"surrogate target {item!r}: expected '<metric>@<budget>' with metric one of "
                             f"{sorted(metrics)} and budget an epoch count, 'all' or 'last'")
        if budget == "all":
            chosen = recorded
        elif budget == "last":
            chosen = recorded[-1:]
        elif budget.isdigit() and int(budget) in recorded:
            chosen = [int(budget)]
        else:
            raise ValueError(f"surrogate target {item!r}: budget {budget!r} is not one of the recorded "
                             f"budgets {recorded} (or 'all', 'last')")
        out += [Target(metric, b) for b in chosen if Target(metric, b) not in out]
    return out


@dataclass
class FittedTarget:
    """A surrogate and its held-out evaluation, as stored in the artifact directory."""

    target: Target
    directory: Path
    surrogate: Surrogate
    evaluation: dict[str, Any]
    reused: bool
    cv_predictions: pd.DataFrame = field(repr=False, default_factory=pd.DataFrame)


def _version(hashes: Sequence[str], values: np.ndarray, config: SurrogateConfig, shape: NetworkShape,
             protocol: dict[str, Any]) -> str:
    order = np.argsort(np.asarray(hashes, dtype=object).astype(str))
    h = hashlib.sha256()
    h.update("\n".join(np.asarray(hashes)[order]).encode())
    h.update(np.ascontiguousarray(np.asarray(values, dtype=np.float64)[order]).tobytes())
    h.update(json.dumps({"config": _config_json(config), "shape": asdict(shape), "protocol": protocol},
                        sort_keys=True).encode())
    return h.hexdigest()[:16]


def fit_target(
    target: Target,
    frame: pd.DataFrame,
    models_dir: str | os.PathLike,
    *,
    config: SurrogateConfig,
    shape: NetworkShape,
    n_repeats: int = 3,
    n_folds: int = 5,
    seed: int = 0,
    data_info: dict[str, Any] | None = None,
) -> FittedTarget:
    """Evaluate (repeated k-fold) and fit one target's surrogate, or load it if already stored.

    The surrogate's std is calibrated on the evaluation's out-of-fold predictions (no refit);
    ``evaluation["calibration"]`` holds the ±1σ/±2σ coverage of the raw and the calibrated std
    on held-out cells, the calibration cross-fitted so that no cell's own residual set it.

    Args:
        target: metric and budget.
        frame: one row per trained architecture with columns ``arch_hash``, ``matrix``, ``ops``
            (the store's string formats) and ``value``.
        models_dir: root of the artifacts (see the module docstring).
        config: the surrogate configuration (``target_transform`` is set from the metric).
        shape: network skeleton of the cost features.
        n_repeats, n_folds: the evaluation protocol; folds are capped so that every test part
            holds at least 3 architectures.
        seed: seed of the evaluation splits.
        data_info: provenance for the manifest (database, run key, ...).

    Raises:
        ValueError: fewer than 6 architectures, non-finite values, or an accuracy outside [0, 1).
    """
    n = len(frame)
    if n < 6:
        raise ValueError(f"surrogate {target.name}: {n} trained architectures; at least 6 are needed "
                         "to evaluate and fit (train more partitions first)")
    values = frame["value"].to_numpy(dtype=np.float64)
    if TARGET_METRICS[target.metric]:
        bad = ~((values >= 0) & (values < 1))
        if bad.any():
            raise ValueError(f"surrogate {target.name}: values must be fractions in [0, 1); "
                             f"{int(bad.sum())} are not (e.g. {values[bad][:3].tolist()})")
    cfg = SurrogateConfig.from_kwargs(
        config, target_transform="neg_log_error" if TARGET_METRICS[target.metric] else "none")
    folds = max(2, min(n_folds, n // 3))
    # the calibration method is part of the version: an artifact from before it (or from another
    # method) is refitted rather than reused with a std of another meaning
    protocol = {"n_repeats": n_repeats, "n_folds": folds, "seed": seed, "calibration": CALIBRATION_METHOD}
    version = _version(frame["arch_hash"].tolist(), values, cfg, shape, protocol)
    directory = Path(models_dir) / target.name / version
    if (directory / "manifest.json").exists() and (directory / CV_PREDICTIONS).exists():
        surrogate = Surrogate.load(directory)
        return FittedTarget(target, directory, surrogate, surrogate.manifest["metrics"], True,
                            pd.read_csv(directory / CV_PREDICTIONS))
    specs = [ArchSpec.from_strings(m, o) for m, o in zip(frame["matrix"], frame["ops"])]
    pairs = [(s.matrix, s.ops) for s in specs]
    # the version directory is built in a staged sibling from the start and renamed into place
    # whole: a run killed while it evaluates, fits or writes leaves only the staged copy, which
    # the next writer of this version removes (its process is gone)
    directory.parent.mkdir(parents=True, exist_ok=True)
    remove_dead_temps(directory)
    staged = staged_path(directory)
    staged.mkdir()
    try:
        report = evaluate_surrogate(pairs, values, n_repeats=n_repeats, n_folds=folds, seed=seed, config=cfg,
                                    shape=shape)
        evaluation = {
            "protocol": report["protocol"],
            "per_fold_mean": report["mean"], "per_fold_std": report["std"],
            "pooled": report["pooled"], "pooled_std": report["pooled_std"],
            "calibration": report["calibration"],
            "n_train": n,
        }
        cv = pd.DataFrame({"arch_hash": frame["arch_hash"].to_numpy(), "measured": values})
        for r, row in enumerate(report["oof_predictions"]):
            cv[f"predicted_r{r}"] = row
        # calibrated std of each out-of-fold prediction (cross-fitted calibration): error bars
        for r, row in enumerate(report["oof_std_calibrated"]):
            cv[f"std_r{r}"] = row
        (staged / CV_PREDICTIONS).write_text(cv.to_csv(index=False))
        surrogate = fit_surrogate(pairs, values, config=cfg, shape=shape, target=target.name,
                                  data_info={**(data_info or {}), "target": target.name, "version": version},
                                  metrics=evaluation,
                                  oof=OutOfFold(report["oof_predictions"], report["oof_std"],
                                                report["protocol"]))
        surrogate.write_files(staged)
        replace_dir(staged, directory)
    except BaseException:
        shutil.rmtree(staged, ignore_errors=True)
        raise
    return FittedTarget(target, directory, surrogate, evaluation, False, cv)


def write_index(models_dir: str | os.PathLike, fitted: Sequence[FittedTarget], info: dict[str,
                                                                                          Any]) -> dict[str,
                                                                                                        Any]:
    """Record the current artifact of every target (atomically replaces the previous index).

    Returns:
        The index written to ``<models_dir>/index.json``.
    """
    root = Path(models_dir)
    root.mkdir(parents=True, exist_ok=True)
    index = {
        **info,
        "targets": [
            {"metric": f.target.metric, "budget": f.target.budget, "name": f.target.name,
             "directory": str(f.directory.relative_to(root)), "version": f.directory.name}
            for f in fitted
        ],
    }
    atomic_write(root / INDEX, json.dumps(index, indent=2, sort_keys=True) + "\n")
    return index


def read_index(models_dir: str | os.PathLike) -> dict[str, Any]:
    """The current index; raises FileNotFoundError naming the file when no model was fitted yet."""
    path = Path(models_dir) / INDEX
    if not path.exists():
        raise FileNotFoundError(f"{path}: no surrogate index; materialize surrogate_model first")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not valid JSON ({exc}); materialize surrogate_model again") from None


def load_current(models_dir: str | os.PathLike, nthread: int | None = None) -> tuple[dict[str, Any],
                                                                                     dict[Target, Surrogate]]:
    """The index and the surrogates it names (key: :class:`Target`), predicting with ``nthread``."""
    index = read_index(models_dir)
    root = Path(models_dir)
    return index, {Target(t["metric"], int(t["budget"])): Surrogate.load(root / t["directory"],
                                                                         nthread=nthread)
                   for t in index["targets"]}


def index_version(index: dict[str, Any]) -> str:
    """One string that changes whenever any target's artifact changes."""
    return ",".join(sorted(f"{t['name']}={t['version']}" for t in index["targets"]))


def cv_scatter(models_dir: str | os.PathLike, target: str) -> dict[str, Any] | None:
    """The current surrogate of ``target``: its out-of-fold predictions against the measured values
    and its pooled quality, for a scatter plot; None when there is no such surrogate."""
    try:
        entry = next(t for t in read_index(models_dir)["targets"] if t["name"] == target)
    except (FileNotFoundError, ValueError, StopIteration):
        return None
    directory = Path(models_dir) / entry["directory"]
    cv = pd.read_csv(directory / CV_PREDICTIONS)
    pooled = json.loads((directory / "manifest.json").read_text())["metrics"].get("pooled", {})
    quality = {k: pooled[k] for k in ("kendall_tau", "spearman_rho", "r2", "rmse") if k in pooled}
    return {"measured": cv["measured"].to_numpy(), "predicted": cv["predicted_r0"].to_numpy(),
            "label": f"{target} (out-of-fold)", **quality, "n": len(cv)}
