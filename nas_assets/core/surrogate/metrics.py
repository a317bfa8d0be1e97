"""Held-out quality of a surrogate (XGBoost, repeated k-fold): R², Kendall τ, sparse Kendall τ, Spearman ρ,
RMSE.

Plain functions of two 1-D arrays, computed with scipy.stats and sklearn.metrics so that the
numbers mean what they mean elsewhere (τ is scipy's tau-b, which handles ties).

Sparse Kendall τ (NAS-Bench-301, Siems et al.) ignores rank changes below 0.1 percentage point
of accuracy. Here **both** the predictions and the targets are rounded, with ``numpy.round``
(half to even), to multiples of ``resolution`` -- 0.001 for accuracies given as fractions (0.1
percentage point), 0.1 for accuracies in percent -- and Kendall's tau-b is taken of the rounded
values. NAS-Bench-301's own ``evaluate_metrics`` rounds only the predictions (``np.round(y_pred,
1)`` on percent); pass ``round_targets=False`` for that variant. The split helpers below make
the repeated k-fold and repeated random splits reproducible from one integer seed.
"""

from __future__ import annotations

from typing import Iterator

import numpy as np
from scipy.stats import kendalltau, spearmanr
from sklearn.metrics import mean_squared_error, r2_score

#: 0.1 percentage point for accuracies given as fractions in [0, 1].
SPARSE_RESOLUTION = 0.001
METRIC_NAMES: tuple[str, ...] = ("r2", "kendall_tau", "sparse_kendall_tau", "spearman_rho", "rmse")


def _pair(y_true: np.ndarray, y_pred: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    t = np.asarray(y_true, dtype=np.float64).ravel()
    p = np.asarray(y_pred, dtype=np.float64).ravel()
    if t.shape != p.shape or t.size < 2:
        raise ValueError(f"y_true and y_pred must be 1-D of equal length >= 2, got {t.shape} and {p.shape}")
    return t, p


def sparse_kendall_tau(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    *,
    resolution: float = SPARSE_RESOLUTION,
    round_targets: bool = True,
) -> float:
    """Kendall tau-b after rounding to multiples of ``resolution`` (see the module docstring).

    Args:
        y_true: measured accuracies.
        y_pred: predicted accuracies, same units.
        resolution: rounding step in target units (0.001 = 0.1 pp for fractions, 0.1 for percent).
        round_targets: round the targets as well as the predictions (default, as NAS-Bench-301 does); False
            is NAS-Bench-301's code, which rounds the predictions only.

    Returns:
        τ-b of the rounded values (NaN when either side is constant after rounding).
    """
    if resolution <= 0:
        raise ValueError(f"resolution must be > 0, got {resolution}")
    t, p = _pair(y_true, y_pred)
    # rounding y / resolution to integers ranks exactly like rounding y to the grid, without
    # the representation error of multiplying back (0.931 is not a float)
    rt = np.round(t / resolution) if round_targets else t
    return float(kendalltau(rt, np.round(p / resolution)).statistic)


def regression_metrics(
    y_true: np.ndarray, y_pred: np.ndarray, *, sparse_resolution: float = SPARSE_RESOLUTION
) -> dict[str, float]:
    """All held-out metrics of one split: ``r2``, ``kendall_tau``, ``sparse_kendall_tau``,
    ``spearman_rho``, ``rmse`` (in target units).

    Args:
        y_true: measured targets of the held-out architectures.
        y_pred: the surrogate's predictions for them.
        sparse_resolution: rounding step of the sparse τ (see :func:`sparse_kendall_tau`).
    """
    t, p = _pair(y_true, y_pred)
    return {
        "r2": float(r2_score(t, p)),
        "kendall_tau": float(kendalltau(t, p).statistic),
        "sparse_kendall_tau": sparse_kendall_tau(t, p, resolution=sparse_resolution),
        "spearman_rho": float(spearmanr(t, p).statistic),
        "rmse": float(np.sqrt(mean_squared_error(t, p))),
    }


def kfold_splits(
    n: int, n_folds: int, n_repeats: int, seed: int
) -> Iterator[tuple[int, int, np.ndarray, np.ndarray]]:
    """Repeated k-fold: yields ``(repeat, fold, train_idx, test_idx)``; a fresh shuffle per repeat.

    Fold sizes differ by at most one; every index is tested once per repeat.
    """
    if not 2 <= n_folds <= n:
        raise ValueError(f"n_folds must be in 2..{n} (the number of architectures), got {n_folds}")
    root = np.random.SeedSequence(seed)
    for r, child in enumerate(root.spawn(n_repeats)):
        perm = np.random.default_rng(child).permutation(n)
        folds = np.array_split(perm, n_folds)
        for f, test in enumerate(folds):
            train = np.concatenate([folds[g] for g in range(n_folds) if g != f])
            yield r, f, np.sort(train), np.sort(test)


def random_splits(
    n: int, train_size: int, n_repeats: int, seed: int
) -> Iterator[tuple[int, int, np.ndarray, np.ndarray]]:
    """Repeated random train/test splits: yields ``(repeat, 0, train_idx, test_idx)``."""
    if not 2 <= train_size <= n - 2:
        raise ValueError(f"train_size must leave >= 2 points on each side of {n}, got {train_size}")
    root = np.random.SeedSequence(seed)
    for r, child in enumerate(root.spawn(n_repeats)):
        perm = np.random.default_rng(child).permutation(n)
        yield r, 0, np.sort(perm[:train_size]), np.sort(perm[train_size:])
