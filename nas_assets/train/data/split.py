"""Class-proportional allocation: the largest-remainder rule and the v3 validation holdout.

So2Sat v3 ships only ``training.h5`` and ``testing.h5``. Model selection still needs a
validation split, so the cache holds out a seeded, class-stratified fraction of the training
file as ``validation`` (default 5 %: ~17.6k samples of v3's training split, close to v2's 24k
validation). The held-out rows are excluded from the training statistics too, so nothing about
them leaks into normalisation. Same labels, fraction and seed -> the same rows, on any machine.
"""

from __future__ import annotations

import numpy as np

from nas_assets.core.so2sat import N_CLASSES


def largest_remainder(total: int, weights: np.ndarray) -> np.ndarray:
    """Integer shares of ``total`` proportional to ``weights`` (Hamilton's method).

    Each share is the floor of its exact quota; the units left over go to the largest
    fractional parts, ties to the lower index, so the result is deterministic.

    Args:
        total: what to share out (≥ 0).
        weights: non-negative weights, not all zero.

    Returns:
        int64 shares summing to ``total``.
    """
    weights = np.asarray(weights, dtype=np.float64)
    quota = weights / weights.sum() * total
    shares = np.floor(quota).astype(np.int64)
    order = np.argsort(-(quota - shares), kind="stable")
    shares[order[: total - int(shares.sum())]] += 1
    return shares


def stratified_holdout(y: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """Pick a class-stratified random subset of samples as a validation holdout.

    ``round(fraction * N)`` samples (at least one) are shared over the classes by largest
    remainder; every class keeps at least one training sample.

    Args:
        y: int class indices (N,).
        fraction: share of the samples to hold out, in (0, 1).
        seed: seeds the choice of rows.

    Returns:
        Boolean mask (N,), True for held-out rows.

    Raises:
        ValueError: for a fraction outside (0, 1) or fewer than two samples.
    """
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"holdout fraction {fraction!r}: expected a number in (0, 1)")
    n = len(y)
    if n < 2:
        raise ValueError(f"cannot hold out a validation split from {n} training sample(s)")
    counts = np.bincount(y, minlength=N_CLASSES)
    quota = np.minimum(largest_remainder(max(1, round(fraction * n)), counts), np.maximum(counts - 1, 0))
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0x484F4C44]))  # "HOLD"
    # Sort by (class, random key): the first quota[k] rows of each class's run are held out.
    order = np.lexsort((rng.random(n), y))
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(n) - starts[y[order]]
    return rank < quota[y]
