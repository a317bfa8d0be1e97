"""95 % intervals for the footprint metrics and paired verdicts between two landscapes.

Each metric is resampled over the unit its value is built from (percentile bootstrap, seeded):

* **cells** -- mean, std, variance, persistence P±(25 %) and their AuC, the sampled k-NN optima
  count and the sampled-optima ratio: resampled architectures with replacement. A resample is
  a vector of copy counts ``w`` (how often each architecture was drawn), so no statistic ever
  materialises the resampled array: the mean and variance are weighted sums, and persistence
  places each architecture's copies at consecutive ranks (ties to the lower index, as
  :func:`nas_assets.core.landscape.metrics.persistence` does), which needs one cumulative sum per budget
  instead of a sort. The k-NN optima count is the number of drawn copies of cells that are
  optima in the full sample (the neighbourhood of a cell is not redrawn).
* **walks** -- ρ̄(1) and τ = 1/ρ̄(1): resampled random walks (their per-walk ρ(1)).
* **repeats** -- N̂: resampled repeats of the birthday-paradox estimator (their K).
* **members** -- the exact local optima count of a surrogate landscape: no resampling applies
  (every cell is predicted), so the interval is the range over the ensemble members'
  landscapes, each member's predictions taken as a landscape of its own.

Two landscapes on the same cells and walks (So2Sat's trained sample and CIFAR-10 on those cells)
are compared with a **paired** bootstrap: the same resample on both sides, the interval of the
difference, and the verdict "differs" when it excludes 0, else "within noise".
"""

from __future__ import annotations

import math
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Iterator, Mapping, Sequence

import numpy as np

from nas_assets.core.landscape.metrics import set_size

#: Default number of bootstrap resamples.
DEFAULT_RESAMPLES = 1000
#: Confidence level of every interval.
LEVEL = 0.95
#: Metrics resampled over cells / walks / estimator repeats.
CELL_METRICS = ("mean_fitness", "fitness_std", "fitness_variance", "positive_persistence", "positive_auc",
                "negative_persistence", "negative_auc", "knn_local_optima")
WALK_METRICS = ("autocorrelation", "ruggedness_tau")
REPEAT_METRICS = ("local_optima_estimate",)
DIFFERS, WITHIN_NOISE, UNDEFINED = "differs", "within noise", "undefined"
_LN2 = math.log(2.0)
#: Copy-count rows held at once (bounds memory on the full space: rows x N x 8 bytes per array).
_ROW_BUDGET = 16_000_000


@dataclass(frozen=True)
class Interval:
    """A 95 % interval and how it was obtained (``method``: e.g. ``bootstrap over cells (1000)``)."""

    low: float
    high: float
    method: str


@dataclass(frozen=True)
class LandscapeSamples:
    """What a landscape's metrics are resampled from (arrays of the landscape's own architectures).

    Attributes:
        fitness: (n,) fitness.
        by_budget: (n_budgets, n) fitness per increasing budget for persistence, or None.
        knn_optimum: (n,) bool, the cells that are sampled k-NN optima, or None.
        walk_rho: (n_walks,) per-walk ρ(1) (NaN for a constant walk), or None.
        estimator_k: (n_repeats,) K of each estimator repeat, or None.
        member_optima: exact local optima of each ensemble member's landscape, or None.
        persistence_percent: N of P±(N) as a whole percent; the AuC averages 1..N %.
        cell_resamples: resamples of the cell metrics when they must differ from the walks' and
            repeats' (a full landscape of 423,624 cells: its cell intervals are a few thousandths
            wide and cost ~10 s per 1,000 resamples); None = the same number.
    """

    fitness: np.ndarray
    by_budget: np.ndarray | None = None
    knn_optimum: np.ndarray | None = None
    walk_rho: np.ndarray | None = None
    estimator_k: np.ndarray | None = None
    member_optima: Sequence[int] | None = None
    persistence_percent: int = 25
    cell_resamples: int | None = None


# --------------------------------------------------------------------------- resampling


def _count_chunks(n: int, n_resamples: int, seed: int) -> Iterator[np.ndarray]:
    """Copy counts (int32) of ``n_resamples`` draws of n out of n with replacement, in (n, rows)
    chunks: one column per resample, so that gathering architectures reads contiguous rows.

    The same (n, n_resamples, seed) gives the same resamples: that is what pairs two landscapes.
    """
    rng = np.random.default_rng(seed)
    rows = max(1, min(n_resamples, _ROW_BUDGET // max(n, 1)))
    for start in range(0, n_resamples, rows):
        m = min(rows, n_resamples - start)
        rows_first = np.empty((m, n), dtype=np.int32)
        for r in range(m):  # one resample at a time: a (rows x n) draw costs the same, in far more memory
            rows_first[r] = np.bincount(rng.integers(0, n, size=n), minlength=n)
        yield np.ascontiguousarray(rows_first.T)


def _index_draws(n: int, n_resamples: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(n, size=(n_resamples, n))


@dataclass(frozen=True)
class _Ranking:
    """One side's (top or bottom) rankings per budget, prepared once for every resample.

    ``order[b]`` lists architectures best-first at budget b; ``rank[b]`` is its inverse; ``head``
    is how many ranked positions a resample's prefix sums cover: the largest top set plus a
    margin of 8 standard deviations of a multinomial prefix count, so that (checked per
    resample, with an exact fallback) no architecture ranked later can reach the largest set.
    ``candidates`` are the architectures ranked within ``head`` at every budget.
    """

    order: np.ndarray
    rank: np.ndarray
    head: int
    candidates: np.ndarray

    @classmethod
    def build(cls, by_budget: np.ndarray, positive: bool, k_max: int) -> "_Ranking":
        n = by_budget.shape[1]
        order = np.argsort(-by_budget if positive else by_budget, axis=1, kind="stable")
        rank = np.empty_like(order)
        np.put_along_axis(rank, order, np.arange(n)[None, :], axis=1)
        head = int(min(n, k_max + 8 * math.sqrt(k_max) + 8))
        candidates = np.flatnonzero(rank.max(axis=0) < head)
        return cls(order, rank, head, candidates)


def _persistence_rows(counts: np.ndarray, ranking: _Ranking, sizes: np.ndarray) -> np.ndarray:
    """(resamples, len(sizes)) P(N) of each resample (a column of ``counts``) for top-set sizes ``sizes``.

    The copies of architecture i take ranks ``s_b(i) .. s_b(i) + w_i - 1`` at budget b (``s_b``:
    copies of the architectures ranked ahead of it); a copy j is in the top-k set at every budget
    iff ``max_b s_b(i) + j < k``. Counting copies by ``max_b s_b(i) + j`` (a histogram from +1/-1
    steps) gives every k at once. Only architectures ranked within ``ranking.head`` at every
    budget can qualify when the prefix up to ``head`` already holds ``k_max`` copies at each
    budget; a resample where it does not (practically never) is computed over all architectures.
    """
    n, rows = counts.shape
    k_max = int(sizes.max())
    head, cand = ranking.head, ranking.candidates
    latest = np.zeros((cand.size, rows), dtype=np.int32)
    exact_rows = np.ones(rows, dtype=bool)
    for b in range(ranking.order.shape[0]):
        prefix = np.take(counts, ranking.order[b, :head], axis=0)
        starts = np.cumsum(prefix, axis=0, dtype=np.int32)
        starts -= prefix
        np.maximum(latest, np.take(starts, ranking.rank[b, cand], axis=0), out=latest)
        if head < n:
            exact_rows &= starts[-1] + prefix[-1] >= k_max
    w = np.take(counts, cand, axis=0)
    if not exact_rows.all():  # the prefix did not cover the largest set: rank every architecture
        full = _Ranking(ranking.order, ranking.rank, n, np.arange(n))
        redo = _persistence_rows(counts[:, ~exact_rows], full, sizes)
    latest, w = latest.T, w.T
    width = k_max + 1
    drawn = w > 0
    first = np.minimum(latest, k_max)
    last = np.minimum(latest + w, k_max)
    offset = (np.arange(rows) * width)[:, None]
    steps = (np.bincount((first + offset)[drawn], minlength=rows * width)
             - np.bincount((last + offset)[drawn], minlength=rows * width)).reshape(rows, width)
    copies_at = np.cumsum(steps, axis=1)  # copies whose value is exactly t
    below = np.cumsum(copies_at, axis=1)  # copies with value <= t
    out = below[:, sizes - 1] / sizes
    if not exact_rows.all():
        out[~exact_rows] = redo
    return out


def cell_resamples_shared(landscapes: Sequence[LandscapeSamples], n_resamples: int,
                          seed: int) -> list[dict[str, np.ndarray]]:
    """:func:`cell_resamples` of several landscapes of the same size, drawing each resample once.

    Landscapes on the same cells in the same order get the same resamples (a paired bootstrap);
    two full landscapes of the space share the cost of drawing 1,000 x 423,624 counts.
    """
    sizes_n = {np.asarray(s.fitness).size for s in landscapes}
    if len(sizes_n) != 1:
        raise ValueError(f"shared resamples need landscapes of one size, got sizes {sorted(sizes_n)}")
    n = sizes_n.pop()
    prepared = []
    for samples in landscapes:
        f = np.asarray(samples.fitness, dtype=np.float64)
        by_budget = None if samples.by_budget is None else np.asarray(samples.by_budget, dtype=np.float64)
        sizes = np.array([set_size(q / 100, n) for q in range(1, samples.persistence_percent + 1)])
        rankings = {} if by_budget is None else {
            sign: _Ranking.build(by_budget, sign == "positive", int(sizes.max()))
            for sign in ("positive", "negative")}
        optimum = None if samples.knn_optimum is None else np.asarray(samples.knn_optimum, dtype=np.float64)
        prepared.append((f, sizes, rankings, optimum))
    out: list[dict[str, list[np.ndarray]]] = [{} for _ in landscapes]
    # numpy releases the GIL in take/cumsum: the persistence curves of each landscape and side run
    # in threads (about 1.6x on 2 cores for the two full landscapes of the report)
    with ThreadPoolExecutor(max(1, min(4, os.cpu_count() or 1))) as pool:
        for counts in _count_chunks(n, n_resamples, seed):
            weights = counts.astype(np.float64)
            curves = {(i, sign): pool.submit(_persistence_rows, counts, ranking, sizes)
                      for i, (_, sizes, rankings, _) in enumerate(prepared)
                      for sign, ranking in rankings.items()}
            for i, (values, (f, sizes, rankings, optimum)) in enumerate(zip(out, prepared)):
                mean = f @ weights / n
                variance = np.maximum((f * f) @ weights / n - mean * mean, 0.0)
                values.setdefault("mean_fitness", []).append(mean)
                values.setdefault("fitness_variance", []).append(variance)
                values.setdefault("fitness_std", []).append(np.sqrt(variance))
                if optimum is not None:
                    values.setdefault("knn_local_optima", []).append(optimum @ weights)
            for (i, sign), future in curves.items():
                curve = future.result()
                out[i].setdefault(f"{sign}_persistence", []).append(curve[:, -1])
                out[i].setdefault(f"{sign}_auc", []).append(curve.mean(axis=1))
    return [{k: np.concatenate(v) for k, v in values.items()} for values in out]


def cell_resamples(samples: LandscapeSamples, n_resamples: int, seed: int) -> dict[str, np.ndarray]:
    """(n_resamples,) values of each cell metric the landscape has, over resampled cells."""
    return cell_resamples_shared([samples], n_resamples, seed)[0]


def walk_resamples(walk_rho: np.ndarray, n_resamples: int, seed: int) -> dict[str, np.ndarray]:
    """ρ̄(1) and τ of each resample of the walks (constant walks stay undefined, as in ruggedness)."""
    rho = np.asarray(walk_rho, dtype=np.float64)
    picked = rho[_index_draws(rho.size, n_resamples, seed)]
    defined = ~np.isnan(picked)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(defined, picked, 0.0).sum(axis=1) / defined.sum(axis=1)
        tau = np.where(mean > 0, 1.0 / mean, np.inf)
    tau[np.isnan(mean)] = np.nan
    return {"autocorrelation": mean, "ruggedness_tau": tau}


def repeat_resamples(estimator_k: np.ndarray, n_resamples: int, seed: int) -> dict[str, np.ndarray]:
    """N̂ = K̄²/(2 ln 2) of each resample of the estimator's repeats."""
    k = np.asarray(estimator_k, dtype=np.float64)
    k_mean = k[_index_draws(k.size, n_resamples, seed)].mean(axis=1)
    return {"local_optima_estimate": k_mean**2 / (2 * _LN2)}


def resamples_many(landscapes: Sequence[LandscapeSamples], n_resamples: int = DEFAULT_RESAMPLES,
                   seed: int = 0) -> list[dict[str, np.ndarray]]:
    """Every resampled metric of each landscape (cells, walks and repeats each with their own
    stream); landscapes of the same size share their cell resamples (see :func:`cell_resamples_shared`)."""
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be >= 1, got {n_resamples}")
    out: list[dict[str, np.ndarray]] = [{} for _ in landscapes]
    by_size: dict[tuple[int, int], list[int]] = {}
    for i, samples in enumerate(landscapes):
        by_size.setdefault((np.asarray(samples.fitness).size, _cells_drawn(samples, n_resamples)),
                           []).append(i)
    for (_, cells_drawn), members in by_size.items():
        for i, values in zip(members,
                             cell_resamples_shared([landscapes[i] for i in members], cells_drawn, seed)):
            out[i].update(values)
    for values, samples in zip(out, landscapes):
        if samples.walk_rho is not None and len(samples.walk_rho):
            values.update(walk_resamples(samples.walk_rho, n_resamples, seed + 1))
        if samples.estimator_k is not None and len(samples.estimator_k):
            values.update(repeat_resamples(samples.estimator_k, n_resamples, seed + 2))
    return out


def _cells_drawn(samples: LandscapeSamples, n_resamples: int) -> int:
    if samples.cell_resamples is not None and samples.cell_resamples < 1:
        raise ValueError(f"cell_resamples must be >= 1, got {samples.cell_resamples}")
    return n_resamples if samples.cell_resamples is None else int(samples.cell_resamples)


def resamples(samples: LandscapeSamples, n_resamples: int = DEFAULT_RESAMPLES,
              seed: int = 0) -> dict[str, np.ndarray]:
    """Every resampled metric of one landscape (see :func:`resamples_many`)."""
    return resamples_many([samples], n_resamples, seed)[0]


# --------------------------------------------------------------------------- intervals


def percentile_interval(values: np.ndarray, level: float = LEVEL) -> tuple[float, float]:
    """The central ``level`` percentile interval; NaN resamples are left out, +inf is kept."""
    v = np.asarray(values, dtype=np.float64)
    v = v[~np.isnan(v)]
    if v.size == 0:
        return float("nan"), float("nan")
    tail = (1 - level) / 2
    low, high = np.quantile(v, [tail, 1 - tail], method="inverted_cdf")
    return float(low), float(high)


def _method(metric: str, n_resamples: int) -> str:
    if metric in WALK_METRICS:
        return f"bootstrap over walks ({n_resamples})"
    if metric in REPEAT_METRICS:
        return f"bootstrap over estimator repeats ({n_resamples})"
    return f"bootstrap over cells ({n_resamples})"


def _intervals(samples: LandscapeSamples, values: Mapping[str, np.ndarray], n_resamples: int,
               level: float) -> dict[str, Interval]:
    out = {metric: Interval(*percentile_interval(v, level),
                            _method(metric, n_resamples if metric in WALK_METRICS + REPEAT_METRICS
                                    else _cells_drawn(samples, n_resamples)))
           for metric, v in values.items()}
    if samples.member_optima is not None and len(samples.member_optima):
        members = np.asarray(samples.member_optima, dtype=np.float64)
        out["local_optima"] = Interval(float(members.min()), float(members.max()),
                                       f"range over {members.size} ensemble members' landscapes")
    return out


def intervals(samples: LandscapeSamples, n_resamples: int = DEFAULT_RESAMPLES, seed: int = 0,
              level: float = LEVEL) -> dict[str, Interval]:
    """The interval of every metric the landscape's inputs allow (see the module docstring)."""
    return _intervals(samples, resamples(samples, n_resamples, seed), n_resamples, level)


def intervals_many(landscapes: Sequence[LandscapeSamples], n_resamples: int = DEFAULT_RESAMPLES,
                   seed: int = 0, level: float = LEVEL) -> list[dict[str, Interval]]:
    """:func:`intervals` of several landscapes, sharing the resamples of landscapes of one size."""
    return [_intervals(s, v, n_resamples, level)
            for s, v in zip(landscapes, resamples_many(landscapes, n_resamples, seed))]


def ratio_interval(mine: LandscapeSamples, reference: LandscapeSamples, n_resamples: int = DEFAULT_RESAMPLES,
                   seed: int = 0, reference_n_hat: np.ndarray | None = None,
                   level: float = LEVEL) -> dict[str, Interval]:
    """Intervals of the sampled-optima ratio (paired over cells) and of the extrapolated count.

    ``reference_n_hat``: resampled N̂ of the reference's full landscape (its repeats), multiplied
    resample by resample with the ratio.
    """
    a = cell_resamples(mine, n_resamples, seed).get("knn_local_optima")
    b = cell_resamples(reference, n_resamples, seed).get("knn_local_optima")
    if a is None or b is None:
        return {}
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = np.where(b > 0, a / np.where(b > 0, b, 1), np.where(a > 0, np.inf, np.nan))
    method = f"paired bootstrap over cells ({n_resamples})"
    out = {"knn_optima_ratio": Interval(*percentile_interval(ratio, level), method)}
    if reference_n_hat is not None:
        m = min(ratio.size, len(reference_n_hat))
        with np.errstate(invalid="ignore"):
            extrapolated = ratio[:m] * np.asarray(reference_n_hat)[:m]
        out["local_optima_extrapolated"] = Interval(*percentile_interval(extrapolated, level),
                                                    method + " x the reference's N̂ over its repeats")
    return out


@dataclass(frozen=True)
class Difference:
    """One metric of a paired comparison: the point difference, its interval and the verdict."""

    metric: str
    value_a: float
    value_b: float
    difference: float
    low: float
    high: float
    verdict: str
    method: str


def paired_differences(a: LandscapeSamples, b: LandscapeSamples, values_a: Mapping[str, Any],
                       values_b: Mapping[str, Any], n_resamples: int = DEFAULT_RESAMPLES, seed: int = 0,
                       level: float = LEVEL) -> list[Difference]:
    """Paired bootstrap of ``a - b`` for every metric both landscapes resample.

    Both sides must describe the same cells in the same order (and the same walks): each
    resample draws the same cells (walks) on both sides.

    Args:
        a, b: the two landscapes' inputs.
        values_a, values_b: the point values (a footprint's ``as_dict()``).

    Raises:
        ValueError: the sides have different numbers of cells or walks.
    """
    if np.asarray(a.fitness).size != np.asarray(b.fitness).size:
        raise ValueError(f"a paired comparison needs the same cells: {np.asarray(a.fitness).size} vs "
                         f"{np.asarray(b.fitness).size}")
    ra, rb = resamples(a, n_resamples, seed), resamples(b, n_resamples, seed)
    if a.walk_rho is not None and b.walk_rho is not None and len(a.walk_rho) != len(b.walk_rho):
        raise ValueError(f"a paired comparison needs the same walks: {len(a.walk_rho)} vs {len(b.walk_rho)}")
    out = []
    for metric in [m for m in ra if m in rb]:
        va, vb = values_a.get(metric), values_b.get(metric)
        if va is None or vb is None:
            continue
        with np.errstate(invalid="ignore"):
            diff = ra[metric] - rb[metric]
        low, high = percentile_interval(diff, level)
        with np.errstate(invalid="ignore"):
            point = float(va) - float(vb)
        if math.isnan(low) or not math.isfinite(point):  # e.g. tau = +inf on both sides
            verdict = UNDEFINED
        else:
            verdict = DIFFERS if (low > 0 or high < 0) else WITHIN_NOISE
        out.append(Difference(metric, float(va), float(vb), point, low, high, verdict,
                              "paired " + _method(metric, n_resamples)))
    return out
