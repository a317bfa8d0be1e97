"""Footprints of whole landscapes: a sampled one (trained architectures) and a fully known one
(a surrogate's predictions, or any complete table), built from plain arrays.

:mod:`nas_assets.core.landscape.metrics` holds the metric functions; this module decides which inputs
each kind of landscape has, so the So2Sat and CIFAR-10 columns of the report are computed the
same way:

* **sampled**: mean/spread over the trained architectures, persistence over their per-budget
  metrics, ruggedness along the design's own random-walk trajectories (when the landscape has
  them); local optima are not defined on a sample (see the full landscape's estimate).
* **full**: every architecture of the space is known -- exact count of local optima, the
  authors' birthday-paradox estimate beside it, ruggedness on fresh random walks.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Sequence

import numpy as np
import pandas as pd

from nas_assets.core.landscape.intervals import (
    DEFAULT_RESAMPLES,
    Difference,
    Interval,
    LandscapeSamples,
    intervals_many,
    paired_differences,
    ratio_interval,
    repeat_resamples,
)
from nas_assets.core.landscape.metrics import (
    KNN_OPTIMA_K,
    Footprint,
    Neighbours,
    correlogram,
    count_local_optima,
    count_optimal_plateaus,
    estimate_local_optima,
    footprint,
    knn_local_optima_mask,
    persistence_curve,
    random_walks,
    ruggedness,
)

PERCENTS = np.arange(1, 26)


@dataclass
class Landscape:
    """One landscape's footprint and the curves behind it (for the report's figures)."""

    name: str
    kind: str
    fitness_label: str
    footprint: Footprint
    fitness: np.ndarray = field(repr=False)
    persistence: dict[str, np.ndarray] | None = field(default=None, repr=False)
    correlogram: np.ndarray | None = field(default=None, repr=False)
    walk_rho: np.ndarray | None = field(default=None, repr=False)
    details: dict[str, Any] = field(default_factory=dict)
    #: what the metrics are resampled from (see :mod:`nas_assets.core.landscape.intervals`)
    samples: LandscapeSamples | None = field(default=None, repr=False)
    #: metric -> 95 % interval, filled by :func:`with_intervals`
    intervals: dict[str, Interval] = field(default_factory=dict)


def _curves(fitness_by_budget: np.ndarray | None,
            budgets: Sequence[int] | None) -> dict[str, np.ndarray] | None:
    if fitness_by_budget is None or np.asarray(fitness_by_budget).shape[0] < 2:
        return None
    fractions = PERCENTS / 100
    extra = {} if budgets is None else {"budgets": np.asarray(budgets)}
    return {"percent": PERCENTS.copy(), **extra,
            "positive": persistence_curve(fitness_by_budget, fractions, True),
            "negative": persistence_curve(fitness_by_budget, fractions, False)}


def _walk_stats(walks_fitness: Sequence[np.ndarray],
                max_lag: int) -> tuple[np.ndarray | None, np.ndarray | None]:
    walks = [w for w in walks_fitness if len(w) >= 2]
    if not walks:
        return None, None
    lags = max(1, min(max_lag, max(len(w) for w in walks) - 1))
    return correlogram(walks, lags), np.asarray(ruggedness(walks)["rho"], dtype=float)


def sampled_landscape(
    name: str,
    fitness_label: str,
    fitness: np.ndarray,
    fitness_by_budget: np.ndarray | None = None,
    walks_fitness: Sequence[np.ndarray] | None = None,
    *,
    budgets: Sequence[int] | None = None,
    max_lag: int = 10,
    codes: np.ndarray | None = None,
    knn_k: int = KNN_OPTIMA_K,
    details: dict[str, Any] | None = None,
) -> Landscape:
    """Footprint of a sample of architectures with measured fitness.

    Args:
        name, fitness_label: display names.
        fitness: (n,) fitness of the sampled architectures.
        fitness_by_budget: (n_budgets, n), increasing budgets (t0 first), for persistence;
            needs at least 2 budgets.
        walks_fitness: fitness along the design's random walks (steps without a measurement
            left out by the caller); walks shorter than 2 are ignored.
        budgets: the epochs of ``fitness_by_budget``'s rows (shown with the persistence curves).
        max_lag: longest lag of the correlogram.
        codes: (n, 289) FLA encodings of the sampled cells: counts the sampled local optima
            (cells fitter than all of their ``knn_k`` nearest sampled cells).
        details: extra provenance kept with the landscape (e.g. measured/predicted counts).
    """
    walks = [np.asarray(w, dtype=float) for w in (walks_fitness or []) if len(w) >= 2]
    by_budget = (None if fitness_by_budget is None or np.asarray(fitness_by_budget).shape[0] < 2
                 else fitness_by_budget)
    fp = footprint(fitness, fitness_by_budget=by_budget, walks_fitness=walks or None)
    optimum = None
    if codes is not None:
        optimum = knn_local_optima_mask(fitness, codes, knn_k)
        fp = replace(fp, knn_local_optima=int(optimum.sum()))
    corr, rho = _walk_stats(walks, max_lag)
    f = np.asarray(fitness, dtype=float)
    samples = LandscapeSamples(f, None if by_budget is None else np.asarray(by_budget, dtype=float), optimum,
                               rho)
    return Landscape(name, "sampled", fitness_label, fp, f, _curves(by_budget, budgets), corr, rho,
                     {"walks": len(walks), "walk_steps": int(sum(len(w) for w in walks)), **(details or {})},
                     samples)


def extrapolate_optima(landscape: Landscape, reference: Landscape,
                       reference_n_hat: float | None) -> Landscape:
    """The authors' extrapolation of a sampled landscape's local optima from a reference on the
    same cells: ratio = sampled optima here / there, extrapolated = ratio x the reference's N-hat.

    The ratio is left out (None) when neither landscape has a sampled optimum; it is +inf when
    only the reference has none.
    """
    mine, theirs = landscape.footprint.knn_local_optima, reference.footprint.knn_local_optima
    if mine is None or theirs is None or (mine == 0 and theirs == 0):
        return landscape
    ratio = float("inf") if theirs == 0 else mine / theirs
    extrapolated = None if reference_n_hat is None else (float("inf") if theirs == 0
                                                         else ratio * reference_n_hat)
    fp = replace(landscape.footprint, knn_optima_ratio=ratio, local_optima_extrapolated=extrapolated)
    return replace(landscape, footprint=fp)


def full_landscape(
    name: str,
    fitness_label: str,
    fitness: np.ndarray,
    neighbours: Neighbours,
    fitness_by_budget: np.ndarray | None = None,
    *,
    n_walks: int = 30,
    walk_length: int = 100,
    estimator_repeats: int = 100,
    seed: int = 0,
    budgets: Sequence[int] | None = None,
    max_lag: int = 10,
    member_fitness: np.ndarray | None = None,
) -> Landscape:
    """Footprint of a fully known landscape (one fitness per architecture of the space).

    Args:
        name, fitness_label: display names.
        fitness: (N,) fitness of every architecture (row order of ``neighbours``).
        neighbours: the neighbourhood (FLA Hamming-1 or graph-edit), see :mod:`landscape`.
        fitness_by_budget: (n_budgets, N) for persistence, increasing budgets.
        n_walks, walk_length: the random walks of the ruggedness metric (30 x 100 in the report).
        estimator_repeats: sequences of the birthday-paradox estimator.
        seed: seed of walks and estimator.
        budgets: the epochs of ``fitness_by_budget``'s rows (shown with the persistence curves).
        max_lag: longest lag of the correlogram.
        member_fitness: (members, N) each surrogate ensemble member's predictions of the space:
            the exact local optima of each member's landscape give that count's interval.
    """
    f = np.asarray(fitness, dtype=float)
    walks = random_walks(neighbours, n_walks=n_walks, n_steps=walk_length, seed=seed)
    walks_fitness = f[walks]
    exact = count_local_optima(f, neighbours)
    estimate = estimate_local_optima(f, neighbours, n_repeats=estimator_repeats, seed=seed)
    by_budget = (None if fitness_by_budget is None or np.asarray(fitness_by_budget).shape[0] < 2
                 else fitness_by_budget)
    fp = footprint(f, fitness_by_budget=by_budget, walks_fitness=walks_fitness, local_optima=exact,
                   local_optima_estimate=estimate)
    fp = replace(fp, optimal_plateaus=count_optimal_plateaus(f, neighbours))
    corr, rho = _walk_stats(list(walks_fitness), max_lag)
    details: dict[str, Any] = {
        "estimate_over_exact": float(estimate["n_hat"] / exact) if exact else float("nan"),
        "estimator_searches": int(estimate.get("n_searches", 0)), "estimator_repeats": estimator_repeats}
    member_optima = None
    if member_fitness is not None and len(member_fitness):
        member_optima = [count_local_optima(np.asarray(m, dtype=float), neighbours) for m in member_fitness]
        details["member_local_optima"] = member_optima
    samples = LandscapeSamples(f, None if by_budget is None else np.asarray(by_budget, dtype=float), None,
                               rho, np.asarray(estimate["k"]), member_optima)
    return Landscape(name, "full", fitness_label, fp, f, _curves(by_budget, budgets), corr, rho, details,
                     samples)


def footprint_table(landscapes: Sequence[Landscape]) -> pd.DataFrame:
    """One row per landscape (index = name), one column per footprint value."""
    return pd.DataFrame([ls.footprint.as_dict() for ls in landscapes],
                        index=pd.Index([ls.name for ls in landscapes], name="landscape")).astype(float)


def footprint_rows(landscapes: Sequence[Landscape]) -> pd.DataFrame:
    """Long format for the ``footprints`` table: landscape, metric, value (NaN = not computed), fitness,
    and the 95 % interval ``ci_low``/``ci_high`` with ``ci_method`` (NaN/None: no interval)."""
    rows = []
    for ls in landscapes:
        for metric, value in ls.footprint.as_dict().items():
            interval = ls.intervals.get(metric) if value is not None else None
            rows.append({"landscape": ls.name, "metric": metric,
                         "value": np.nan if value is None else float(value),
                         "fitness": ls.fitness_label,
                         "ci_low": np.nan if interval is None else interval.low,
                         "ci_high": np.nan if interval is None else interval.high,
                         "ci_method": None if interval is None else interval.method})
    return pd.DataFrame(rows)


def interval_table(landscapes: Sequence[Landscape]) -> pd.DataFrame:
    """``landscape, metric, low, high, method`` of every interval (the report's error bars)."""
    rows = [{"landscape": ls.name, "metric": metric, "low": iv.low, "high": iv.high, "method": iv.method}
            for ls in landscapes for metric, iv in ls.intervals.items()
            if ls.footprint.as_dict().get(metric) is not None]
    return pd.DataFrame(rows, columns=["landscape", "metric", "low", "high", "method"])


def with_intervals(landscapes: Sequence[Landscape], n_resamples: int = DEFAULT_RESAMPLES, seed: int = 0,
                   full_space_cell_resamples: int | None = None) -> None:
    """Fill each landscape's ``intervals`` (in place); landscapes of one size share their resamples.

    ``full_space_cell_resamples``: resamples of the cell metrics of full landscapes (None: ``n_resamples``).
    """
    have = [(ls, ls.samples) for ls in landscapes if ls.samples is not None]
    samples = [replace(s, cell_resamples=full_space_cell_resamples) if ls.kind == "full" else s
               for ls, s in have]
    for (ls, _), found in zip(have, intervals_many(samples, n_resamples, seed)):
        ls.intervals.update(found)


def with_ratio_intervals(landscape: Landscape, reference: Landscape, reference_full: Landscape | None,
                         n_resamples: int = DEFAULT_RESAMPLES, seed: int = 0) -> None:
    """Intervals of :func:`extrapolate_optima`'s ratio and extrapolated count (in place): the ratio
    paired over the shared cells, times the reference full landscape's N̂ resampled over its repeats."""
    if landscape.samples is None or reference.samples is None or landscape.footprint.knn_optima_ratio is None:
        return
    n_hat = None
    if (reference_full is not None and reference_full.samples is not None
            and reference_full.samples.estimator_k is not None):
        n_hat = repeat_resamples(reference_full.samples.estimator_k, n_resamples, seed + 2)[
            "local_optima_estimate"]
    landscape.intervals.update(ratio_interval(landscape.samples, reference.samples, n_resamples, seed, n_hat))


def paired_verdicts(a: Landscape, b: Landscape, n_resamples: int = DEFAULT_RESAMPLES,
                    seed: int = 0) -> pd.DataFrame:
    """Paired bootstrap of ``a - b`` per metric (same cells, same walks) with the verdict.

    Returns:
        One row per metric: ``metric, a, b, difference, ci_low, ci_high, verdict, method``
        (``a``/``b`` hold the landscapes' names in ``attrs``).
    """
    if a.samples is None or b.samples is None:
        raise ValueError("paired verdicts need both landscapes' samples")
    found: list[Difference] = paired_differences(a.samples, b.samples, a.footprint.as_dict(),
                                                 b.footprint.as_dict(), n_resamples, seed)
    frame = pd.DataFrame([{"metric": d.metric, "a": d.value_a, "b": d.value_b, "difference": d.difference,
                           "ci_low": d.low, "ci_high": d.high, "verdict": d.verdict, "method": d.method}
                          for d in found],
                         columns=["metric", "a", "b", "difference", "ci_low", "ci_high", "verdict", "method"])
    frame.attrs.update(a=a.name, b=b.name)
    return frame


#: The budget both sides are compared at when both recorded it (the authors used 36 epochs).
PREFERRED_BUDGET = 36


def match_budgets(
    so2sat: Sequence[int],
    cifar10: Sequence[int],
    budget: int | None = None,
    cifar10_budget: int | None = None,
) -> tuple[int, int | None, str]:
    """The fitness budget of each side: the same epoch count whenever both recorded it.

    Args:
        so2sat, cifar10: the budgets each side recorded (``cifar10`` empty: no CIFAR-10 data).
        budget: a requested So2Sat budget; None picks :data:`PREFERRED_BUDGET` when both have
            it, else the largest budget both have, else So2Sat's largest.
        cifar10_budget: a requested CIFAR-10 budget when it must differ; None = ``budget``.

    Returns:
        (So2Sat budget, CIFAR-10 budget or None, a sentence saying how they were matched).

    Raises:
        ValueError: a requested budget that the side did not record.
    """
    mine, theirs = sorted(int(b) for b in so2sat), sorted(int(b) for b in cifar10)
    if not mine:
        raise ValueError("So2Sat recorded no budget")
    common = sorted(set(mine) & set(theirs))
    if budget is None:
        budget = PREFERRED_BUDGET if PREFERRED_BUDGET in common else (common[-1] if common else mine[-1])
    if budget not in mine:
        raise ValueError(f"fitness budget {budget} was not recorded by So2Sat (budgets {mine})")
    if not theirs:
        return budget, None, f"So2Sat @ {budget} epochs; no CIFAR-10 reference"
    other = budget if cifar10_budget is None else int(cifar10_budget)
    if other not in theirs:
        if cifar10_budget is not None:
            raise ValueError(f"cifar10_budget {other} is not a CIFAR-10 budget (budgets {theirs})")
        other = min(theirs, key=lambda b: (abs(b - budget), b))
        return budget, other, (f"budgets do not match: So2Sat @ {budget} epochs (recorded {mine}) vs "
                               f"CIFAR-10 @ {other} (the nearest of {theirs}); set 'budget' to one of "
                               f"{common or theirs} to compare like with like")
    if other != budget:
        return budget, other, f"budgets differ by request: So2Sat @ {budget} vs CIFAR-10 @ {other} epochs"
    return budget, other, (f"matched budget: {budget} epochs on both sides (So2Sat recorded {mine}, CIFAR-10 "
                           f"{theirs}; common {common})")
