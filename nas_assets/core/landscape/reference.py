"""The CIFAR-10 reference landscape: NAS-Bench-101's measurements, completed over the space.

NB101 measured a subset of the cells (the shipped 20,001, or every cell in the full TFRecord).
Per budget, the measured cells are stored as measured, and an XGBoost surrogate fitted on them
predicts every cell of the space; its quality is the pooled out-of-fold Kendall tau of a k-fold
evaluation (cells it did not see), and those out-of-fold predictions are kept beside the
measurements so the report can show how the surrogate smooths the measured landscape. A budget
measured on every cell of the space is used as measured, with nothing fitted.

Pure library: no Dagster. :func:`reference_fingerprint` says when a source must be read again.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from nas_assets.core.cells.cost import CIFAR10_SHAPE
from nas_assets.core.nb101.reader import load_reference, load_shipped_reference
from nas_assets.core.nb101.shipped import SHIPPED_NAME, shipped_fingerprint
from nas_assets.core.surrogate.artifacts import CV_PREDICTIONS, FittedTarget, Target, fit_target
from nas_assets.core.surrogate.model import Surrogate, SurrogateConfig, predict_many

#: Bump when what this module writes changes, so stored landscapes are rebuilt once.
LANDSCAPE_FORMAT = 2
#: NB101 records one accuracy per run; the surrogate targets are named after it.
REFERENCE_METRIC = "val_accuracy"
#: Folder of the reference surrogates' artifacts below the models directory.
REFERENCE_MODELS = "cifar10"


def reference_artifact(models_dir: str | os.PathLike, budget: int, version: str) -> Path:
    """The artifact directory of one budget's reference surrogate (``_quality``'s ``version``)."""
    return Path(models_dir) / REFERENCE_MODELS / Target(REFERENCE_METRIC, budget).name / version
#: Fewer measured cells than this at a budget: no surrogate for it (nothing sensible to fit).
MIN_CELLS = 6


@dataclass
class ReferenceLandscape:
    """What the store keeps of the CIFAR-10 reference.

    Attributes:
        results: long frame, one row per measured (cell, budget): ``arch_hash``, ``budget``,
            ``val_accuracy``, ``test_accuracy``, ``predicted`` (the surrogate's out-of-fold
            prediction of that cell; NaN where the budget is measured everywhere), ``source``.
        predictions: long frame over the whole space: ``arch_hash``, ``budget``, ``mean``,
            ``std`` (measured value and 0 where the budget is measured on every cell).
        quality: per budget (as a string key, JSON-ready) the surrogate's held-out evaluation.
        measured_everywhere: budgets measured on every cell of the space.
    """

    results: pd.DataFrame
    predictions: pd.DataFrame
    quality: dict[str, dict[str, Any]] = field(default_factory=dict)
    measured_everywhere: list[int] = field(default_factory=list)


def reference_fingerprint(path: str | None, settings: dict[str, Any], n_architectures: int) -> str:
    """A short id that changes whenever the reference landscape would change.

    The source is identified without reading it: the shipped file by its sha256 (0.7 MB), a
    user's file by resolved path, size and modification time (hashing NB101's 5 GB TFRecord on
    every materialization is what the fingerprint avoids).

    Args:
        path: the user's NB101 file, or None for the shipped reference.
        settings: everything else that shapes the landscape (budgets, surrogate settings, seed).
        n_architectures: cells in the store's space (the predictions cover them all).
    """
    if path is None:
        source: dict[str, Any] = {"shipped": shipped_fingerprint()}
    else:
        stat = Path(path).stat()
        source = {"path": str(Path(path).resolve()), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}
    basis = {"source": source, "settings": settings, "n": int(n_architectures), "format": LANDSCAPE_FORMAT}
    return hashlib.sha256(json.dumps(basis, sort_keys=True).encode()).hexdigest()[:16]


def source_name(path: str | None) -> str:
    """How a reference source is named in the store and the report."""
    return SHIPPED_NAME if path is None else Path(path).name


def _fit_one(args: tuple) -> tuple[Target, str]:
    """Fit one budget's surrogate into its artifact directory (runs in a worker process)."""
    target, data, models_dir, config, n_repeats, seed, info = args
    fitted = fit_target(target, data, models_dir, config=config, shape=CIFAR10_SHAPE, n_repeats=n_repeats,
                        seed=seed, data_info=info)
    return target, str(fitted.directory)


def fit_reference_surrogates(
    frame: pd.DataFrame,
    budgets: Sequence[int],
    models_dir: str | os.PathLike,
    *,
    config: SurrogateConfig,
    n_repeats: int = 1,
    seed: int = 0,
    source: str = "",
    skip: Sequence[int] = (),
    workers: int = 1,
) -> dict[int, FittedTarget]:
    """Evaluate and fit one surrogate per budget on the measured cells (artifacts are reused).

    Budgets are fitted in ``workers`` processes at once (one XGBoost thread each: on a 2-core
    machine two processes halve the wall time, two OpenMP threads in one process do not).

    Returns:
        ``{budget: FittedTarget}`` (loaded back from the artifact directories).
    """
    jobs = []
    for b in budgets:
        known = frame.dropna(subset=[f"val_accuracy_{b}"])
        if b in skip or len(known) < MIN_CELLS:
            continue
        data = known[["arch_hash", "matrix", "ops"]].assign(value=known[f"val_accuracy_{b}"].to_numpy())
        jobs.append((Target(REFERENCE_METRIC, b), data, str(models_dir), config, n_repeats, seed,
                     {"source": source}))
    if workers > 1 and len(jobs) > 1:
        # spawn, not fork: the parent may hold DuckDB/OpenMP threads that a fork would copy locked
        with ProcessPoolExecutor(min(workers, len(jobs)),
                                 mp_context=multiprocessing.get_context("spawn")) as pool:
            done = list(pool.map(_fit_one, jobs))
    else:
        done = [_fit_one(job) for job in jobs]
    out = {}
    for target, directory in done:
        surrogate = Surrogate.load(directory)
        cv = pd.read_csv(Path(directory) / CV_PREDICTIONS)
        out[target.budget] = FittedTarget(target, Path(directory), surrogate, surrogate.manifest["metrics"],
                                          True, cv)
    return out


def _quality(fitted: FittedTarget) -> dict[str, Any]:
    evaluation = fitted.evaluation
    pooled = evaluation.get("pooled", {})
    out: dict[str, Any] = {"n_train": int(evaluation.get("n_train", len(fitted.cv_predictions))),
           **{k: float(pooled[k]) for k in ("kendall_tau", "spearman_rho", "r2", "rmse") if k in pooled}}
    calibration = evaluation.get("calibration") or fitted.surrogate.manifest.get("calibration")
    if isinstance(calibration, dict):
        for k in ("coverage_1sigma", "coverage_2sigma"):
            if k in calibration:
                out[k] = float(calibration[k])
    out["version"] = fitted.directory.name
    return out


def build_reference_landscape(
    frame: pd.DataFrame,
    hashes: np.ndarray,
    arrays: tuple[np.ndarray, np.ndarray, np.ndarray],
    budgets: Sequence[int],
    models_dir: str | os.PathLike,
    *,
    config: SurrogateConfig,
    n_repeats: int = 1,
    seed: int = 0,
    source: str = "",
    workers: int = 1,
    nthread: int = 1,
) -> ReferenceLandscape:
    """Measured rows plus per-budget surrogate predictions for every cell of the space.

    Args:
        frame: the normalised reference frame (``nb101_data.load_reference``).
        hashes: every cell of the space, in ``arch_index`` order; ``arrays`` their padded
            (matrices, labels, n_vertices) (``store.read_padded_space``).
        budgets: epoch budgets to keep.
        models_dir: where the per-budget surrogate artifacts go (reused when unchanged).
        config, n_repeats, seed: surrogate settings and the evaluation protocol.
        source: the source's name, stored with each measured row.
        workers: processes fitting budgets at once; nthread: XGBoost threads for predicting.
    """
    n_space = len(hashes)
    complete = [b for b in budgets if int(frame[f"val_accuracy_{b}"].notna().sum()) == n_space]
    fitted = fit_reference_surrogates(frame, budgets, models_dir, config=config, n_repeats=n_repeats,
                                      seed=seed, source=source, skip=complete, workers=workers)
    models = {b: f.surrogate.set_nthread(nthread) for b, f in fitted.items()}
    predicted = predict_many(models, *arrays) if models else {}
    measured = frame.set_index("arch_hash")
    parts, rows = [], []
    for b in budgets:
        if b in complete:
            mean, std = measured[f"val_accuracy_{b}"].reindex(hashes).to_numpy(), np.zeros(n_space)
        elif b in predicted:
            mean, std = predicted[b]
        else:
            continue
        parts.append(pd.DataFrame({"arch_hash": hashes, "budget": b, "mean": mean, "std": std}))
        known = frame.dropna(subset=[f"val_accuracy_{b}"])
        oof = np.full(len(known), np.nan)
        if b in fitted:
            cv = fitted[b].cv_predictions.set_index("arch_hash")
            oof = cv["predicted_r0"].reindex(known["arch_hash"]).to_numpy()
        rows.append(pd.DataFrame({
            "arch_hash": known["arch_hash"].to_numpy(), "budget": b,
            "val_accuracy": known[f"val_accuracy_{b}"].to_numpy(),
            "test_accuracy": known[f"test_accuracy_{b}"].to_numpy(),
            "predicted": oof, "source": source}))
    empty = pd.DataFrame(columns=["arch_hash", "budget", "val_accuracy", "test_accuracy", "predicted",
                                  "source"])
    return ReferenceLandscape(
        results=pd.concat(rows, ignore_index=True) if rows else empty,
        predictions=pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(
            columns=["arch_hash", "budget", "mean", "std"]),
        quality={str(b): _quality(f) for b, f in sorted(fitted.items())},
        measured_everywhere=complete,
    )


def reference_from_source(
    path: str | None,
    hashes: np.ndarray,
    arrays: tuple[np.ndarray, np.ndarray, np.ndarray],
    budgets: Sequence[int],
    models_dir: str | os.PathLike,
    *,
    config: SurrogateConfig,
    n_repeats: int = 1,
    seed: int = 0,
    workers: int = 1,
    nthread: int = 1,
) -> tuple[ReferenceLandscape, dict[str, Any]]:
    """Read NB101's measurements and complete them over the space (:func:`build_reference_landscape`).

    Args:
        path: an NB101 .json export or .tfrecord; None for the cells shipped with the package.
        hashes, arrays, budgets, models_dir, config, n_repeats, seed, workers, nthread: as for
            :func:`build_reference_landscape`.

    Returns:
        The landscape, and the summary stored beside it (``store.write_reference``): source, path,
        cells measured, budgets measured everywhere, surrogate quality, mean validation accuracy per
        budget, and the seconds spent loading (``load_s``) and fitting and predicting
        (``fit_predict_s``).

    Raises:
        ReferenceDataError, ValueError: the source cannot be read as an NB101 reference.
        OSError: the file cannot be read.
    """
    t0 = time.perf_counter()
    frame = load_shipped_reference(budgets) if path is None else load_reference(path, budgets)
    load_s = time.perf_counter() - t0
    source = source_name(path)
    t0 = time.perf_counter()
    landscape = build_reference_landscape(frame, hashes, arrays, budgets, models_dir, config=config,
                                          n_repeats=n_repeats, seed=seed, source=source, workers=workers,
                                          nthread=nthread)
    summary = {
        "source": source, "path": path, "architectures_measured": len(frame),
        "budgets_measured_everywhere": landscape.measured_everywhere, "quality": landscape.quality,
        "mean_val_accuracy": {str(b): round(float(frame[f"val_accuracy_{b}"].mean()), 4) for b in budgets},
        "load_s": round(load_s, 2), "fit_predict_s": round(time.perf_counter() - t0, 2),
    }
    return landscape, summary


def tau_per_budget(summary: dict[str, Any]) -> str:
    """``"4: 0.626, 12: 0.705, ..."``: each budget's pooled out-of-fold Kendall tau, in budget order,
    from a stored reference summary (``store.read_reference_state``); "" when nothing was fitted."""
    quality = summary.get("quality", {})
    return ", ".join(f"{b}: {q['kendall_tau']:.3f}"
                     for b, q in sorted(quality.items(), key=lambda i: int(i[0]))
                     if "kendall_tau" in q)
