"""Traoré et al.'s fitness landscape footprint: each metric a plain function of numpy arrays.

The footprint of Traoré, Camero and Zhu (2021) characterises a NAS landscape with eight
numbers: mean fitness, fitness spread, ruggedness (lag-1 autocorrelation of random walks),
the number of local optima (exact, or the authors' birthday-paradox estimate), and positive /
negative persistence of the top / bottom sets across training budgets with their AuC.

Neighbourhoods come in three shapes, all read by :func:`as_csr`:

* a :class:`~nas_assets.core.cells.encoding.NeighbourIndex` (anything with ``indptr``/``indices``);
* a ``tuple`` ``(indptr, indices)`` in CSR layout: architecture ``i``'s neighbours are
  ``indices[indptr[i]:indptr[i + 1]]``;
* a ``list`` of per-architecture integer arrays (handy for toy landscapes).

Rules shared by every function, so results are reproducible:

* "better" means strictly greater fitness; an equal neighbour is not an improvement, so every
  member of a plateau with no strictly better neighbour is a local optimum;
* an isolated architecture (no neighbour) has no strictly better neighbour and counts as a
  local optimum; :func:`isolated_mask` and ``exclude_isolated=True`` show or drop them (the
  FLA Hamming-1 index of NAS-Bench-101 has such cells);
* fitness must be finite: an unknown (NaN) architecture would silently become an optimum or a
  dead end, so the functions raise instead. Predict the whole space with the surrogate, or
  restrict the landscape to the known architectures, before calling;
* ties in rankings and in best-improvement moves go to the lowest architecture index.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import asdict, dataclass
from typing import Any, Mapping, Sequence, Union

import numpy as np

from nas_assets.core.cells.encoding import NeighbourIndex
from nas_assets.core.landscape.vocabulary import FOOTPRINT_METRICS, KNN_OPTIMA_K

#: Any of the accepted neighbourhood shapes (see the module docstring).
Neighbours = Union[NeighbourIndex, tuple[np.ndarray, np.ndarray], Sequence[np.ndarray]]
#: One walk per row, or walks of different lengths as a list of 1-D arrays.
Walks = Union[np.ndarray, Sequence[np.ndarray]]

_LN2 = math.log(2.0)


# --------------------------------------------------------------------------- validation


def _fitness_vector(fitness: Any, name: str = "fitness", n: int | None = None) -> np.ndarray:
    """``fitness`` as a finite float64 1-D array, optionally of length ``n``."""
    f = np.asarray(fitness, dtype=np.float64)
    if f.ndim != 1:
        raise ValueError(f"{name} must be a 1-D array (one value per architecture), got shape {f.shape}")
    if n is not None and f.size != n:
        raise ValueError(f"{name} has {f.size} values but the neighbourhood has {n} architectures")
    bad = ~np.isfinite(f)
    if bad.any():
        where = np.flatnonzero(bad)
        raise ValueError(
            f"{name} has {where.size} NaN/infinite values (first at index {where[0]}); every architecture "
            "needs a known fitness here: predict the full space or drop unknown architectures first"
        )
    return f


def as_csr(neighbours: Neighbours, n: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Read any accepted neighbourhood into validated CSR arrays ``(indptr, indices)``.

    Args:
        neighbours: a ``NeighbourIndex`` (or any object with ``indptr`` and ``indices``), a
            ``tuple`` ``(indptr, indices)``, or a ``list`` of per-architecture index arrays.
        n: expected number of architectures (e.g. the fitness length), checked if given.

    Returns:
        ``indptr`` (n + 1,) intp and ``indices`` (M,) intp.

    Raises:
        ValueError: malformed CSR arrays, out-of-range indices or a size mismatch.
    """
    if hasattr(neighbours, "indptr") and hasattr(neighbours, "indices"):
        indptr, indices = neighbours.indptr, neighbours.indices  # type: ignore[union-attr]
        shape = "a NeighbourIndex"
    elif isinstance(neighbours, tuple) and len(neighbours) == 2:
        indptr, indices = neighbours
        shape = "an (indptr, indices) tuple"
    elif isinstance(neighbours, (list, np.ndarray)) and (len(neighbours) == 0 or np.ndim(neighbours[0]) == 1):
        rows = [np.asarray(r, dtype=np.intp).ravel() for r in neighbours]
        indptr = np.zeros(len(rows) + 1, dtype=np.intp)
        np.cumsum([r.size for r in rows], out=indptr[1:])
        indices = np.concatenate(rows) if rows else np.zeros(0, dtype=np.intp)
        shape = "a list of neighbour arrays"
    else:
        raise ValueError(
            f"neighbours must be a NeighbourIndex, an (indptr, indices) tuple or a list of index arrays, "
            f"got {type(neighbours).__name__}"
        )
    indptr = np.asarray(indptr)
    indices = np.asarray(indices)
    if indptr.ndim != 1 or indptr.size < 1 or not np.issubdtype(indptr.dtype, np.integer):
        raise ValueError(f"neighbours given as {shape}: indptr must be a 1-D integer array of length n + 1")
    if indices.ndim != 1 or (indices.size and not np.issubdtype(indices.dtype, np.integer)):
        raise ValueError(f"neighbours given as {shape}: indices must be a 1-D integer array")
    size = indptr.size - 1
    if n is not None and size != n:
        raise ValueError(
            f"neighbours given as {shape} describe {size} architectures but fitness has {n} values"
        )
    if indptr[0] != 0 or indptr[-1] != indices.size or np.any(np.diff(indptr) < 0):
        raise ValueError(
            f"neighbours given as {shape}: indptr must start at 0, never decrease and end at "
            f"len(indices) = {indices.size}"
        )
    if indices.size and (indices.min() < 0 or indices.max() >= size):
        raise ValueError(
            f"neighbours given as {shape}: indices must lie in [0, {size}), "
            f"got [{indices.min()}, {indices.max()}]"
        )
    return indptr.astype(np.intp, copy=False), indices.astype(np.intp, copy=False)


def _walk_list(walks_fitness: Walks) -> list[np.ndarray]:
    """Walk fitness as a list of finite 1-D float arrays (rows of a 2-D array, or the list)."""
    if isinstance(walks_fitness, np.ndarray):
        if walks_fitness.ndim != 2:
            raise ValueError(
                "walks_fitness must be 2-D (n_walks, n_steps + 1) or a list of 1-D arrays, "
                f"got shape {walks_fitness.shape}"
            )
        walks = list(walks_fitness)
    else:
        walks = list(walks_fitness)
    if not walks:
        raise ValueError("walks_fitness holds no walk")
    return [_fitness_vector(w, name=f"walks_fitness[{i}]") for i, w in enumerate(walks)]


# --------------------------------------------------------------------------- ruggedness


def _autocorrelations(f: np.ndarray, max_lag: int) -> np.ndarray:
    """rho(1..max_lag) of one finite walk; NaN for lags the walk is too short for."""
    out = np.full(max_lag, np.nan)
    dev = f - f.mean()
    denom = float(dev @ dev)
    if denom == 0.0:
        return out
    for k in range(1, min(max_lag, f.size - 1) + 1):
        out[k - 1] = float(dev[:-k] @ dev[k:]) / denom
    return out


def autocorrelation(walk_fitness: Any, lag: int = 1) -> float:
    """Sample autocorrelation of the fitness along one walk (Traoré et al.'s fitness landscape footprint).

    ``rho(k) = sum_{t <= n-k} (f_t - mean)(f_{t+k} - mean) / sum_t (f_t - mean)^2`` with the mean
    and the denominator over the whole walk -- the time-series estimator of Weinberger (1990)
    used by the footprint authors. It is *not* ``pandas.Series.autocorr``, which is the Pearson
    correlation of the two lagged sub-series (own means and variances): for ``[1, 2, 3, 4]`` this
    function gives 0.25, pandas gives 1.0. The estimator is biased towards 0 on short walks, and
    ``|rho(k)| <= 1`` always holds.

    Args:
        walk_fitness: fitness of the architectures visited, in walk order (1-D, finite).
        lag: k, with ``0 <= k < len(walk_fitness)``.

    Returns:
        rho(k); NaN when the walk is constant (zero variance: the correlation is undefined).

    Raises:
        ValueError: not 1-D, non-finite values, or a lag the walk is too short for.
    """
    f = _fitness_vector(walk_fitness, name="walk_fitness")
    if not isinstance(lag, (int, np.integer)) or not 0 <= lag < f.size:
        raise ValueError(f"lag must be an integer in [0, {f.size}) got {lag!r}")
    if lag == 0:
        return 1.0 if np.ptp(f) > 0 else float("nan")
    return float(_autocorrelations(f, int(lag))[lag - 1])


def correlogram(walks_fitness: Walks, max_lag: int) -> np.ndarray:
    """Mean rho(k) over walks for k = 1..max_lag (for a correlogram figure).

    Constant walks, and walks too short for a lag, are left out of that lag's mean; a lag no
    walk can provide is NaN.

    Returns:
        (max_lag,) float array; element k-1 is the mean rho(k).
    """
    if max_lag < 1:
        raise ValueError(f"max_lag must be >= 1, got {max_lag}")
    rhos = np.stack([_autocorrelations(w, max_lag) for w in _walk_list(walks_fitness)])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns are meant to be NaN
        return np.nanmean(rhos, axis=0)


def ruggedness(walks_fitness: Walks) -> dict[str, Any]:
    """Lag-1 autocorrelation of each walk, its mean and the authors' ruggedness tau = 1 / mean.

    Args:
        walks_fitness: (n_walks, n_steps + 1) array, or a list of 1-D arrays of any lengths >= 2
            (the design's sampled walks can be short or unequal).

    Returns:
        ``rho`` (n_walks,) per-walk rho(1) (NaN for a constant walk), ``rho_mean`` the mean over
        the walks whose rho(1) is defined, ``tau`` = 1 / rho_mean when rho_mean > 0 and +inf when
        rho_mean <= 0 (a landscape no smoother than noise is "infinitely" rugged; tau stays
        monotone in rho_mean), NaN if no walk is defined; ``n_walks`` and ``n_constant``.

    Raises:
        ValueError: no walk, a walk shorter than 2, or non-finite fitness.
    """
    walks = _walk_list(walks_fitness)
    short = [i for i, w in enumerate(walks) if w.size < 2]
    if short:
        raise ValueError(f"walks {short[:5]} have fewer than 2 architectures; a lag-1 correlation needs >= 2")
    rho = np.array([_autocorrelations(w, 1)[0] for w in walks])
    defined = ~np.isnan(rho)
    rho_mean = float(rho[defined].mean()) if defined.any() else float("nan")
    if math.isnan(rho_mean):
        tau = float("nan")
    else:
        tau = 1.0 / rho_mean if rho_mean > 0 else float("inf")
    n_constant = int((~defined).sum())
    return {"rho": rho, "rho_mean": rho_mean, "tau": tau, "n_walks": len(walks), "n_constant": n_constant}


def random_walks(
    neighbours: Neighbours,
    n_walks: int = 30,
    n_steps: int = 100,
    seed: int = 0,
    starts: Any = None,
) -> np.ndarray:
    """Seeded random walks: each step moves to a uniformly chosen neighbour.

    All walks advance together (one vectorised draw per step).

    Args:
        neighbours: the neighbourhood (any accepted shape).
        n_walks: number of walks (the authors: 30).
        n_steps: steps per walk (the authors: 100); the start is column 0.
        seed: RNG seed.
        starts: optional (n_walks,) start architectures; by default drawn uniformly among the
            architectures with at least one neighbour.

    Returns:
        (n_walks, n_steps + 1) int64 architecture indices.

    Raises:
        ValueError: no architecture has a neighbour, a given start is isolated, or a walk
            reaches an architecture without neighbours (only possible if the relation is not
            symmetric, e.g. the graph-edit neighbourhood).
    """
    indptr, indices = as_csr(neighbours)
    if n_walks < 0 or n_steps < 0:
        raise ValueError(f"n_walks and n_steps must be >= 0, got {n_walks}, {n_steps}")
    degrees = np.diff(indptr)
    rng = np.random.default_rng(seed)
    if starts is None:
        pool = np.flatnonzero(degrees > 0)
        if pool.size == 0:
            raise ValueError("no architecture has a neighbour; a random walk cannot start")
        current = pool[rng.integers(pool.size, size=n_walks)]
    else:
        current = np.asarray(starts, dtype=np.int64).ravel()
        if current.size != n_walks:
            raise ValueError(f"starts has {current.size} entries, expected n_walks = {n_walks}")
        if current.size and (current.min() < 0 or current.max() >= degrees.size):
            raise ValueError(f"starts must be architecture indices in [0, {degrees.size})")
        if np.any(degrees[current] == 0):
            isolated = current[degrees[current] == 0][:5].tolist()
            raise ValueError(f"start architectures {isolated} have no neighbour")
    walks = np.empty((n_walks, n_steps + 1), dtype=np.int64)
    walks[:, 0] = current
    for step in range(1, n_steps + 1):
        deg = degrees[current]
        if np.any(deg == 0):
            stuck = current[deg == 0][:5].tolist()
            raise ValueError(
                f"a walk reached architectures {stuck} that have no neighbour (asymmetric neighbourhood?)"
            )
        # floor(u * deg) is a uniform choice among the deg neighbours; u < 1 keeps it in range
        current = indices[indptr[current] + (rng.random(n_walks) * deg).astype(np.intp)]
        walks[:, step] = current
    return walks


# --------------------------------------------------------------------------- local optima


def isolated_mask(neighbours: Neighbours) -> np.ndarray:
    """Architectures without any neighbour (they count as local optima by default)."""
    indptr, _ = as_csr(neighbours)
    return np.diff(indptr) == 0


def _best_neighbour(f: np.ndarray, indptr: np.ndarray, indices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Segment max of neighbour fitness (-inf if isolated) and the nonempty-row ids."""
    rows = np.flatnonzero(np.diff(indptr) > 0)
    best = np.full(f.size, -np.inf)
    if rows.size:
        # reduceat over the starts of nonempty rows only: an empty segment would otherwise
        # yield the element at its start (or overrun the array); the rows in between are
        # empty, so each reduced span is exactly one row's neighbours
        best[rows] = np.maximum.reduceat(f[indices], indptr[rows])
    return best, rows


def local_optima_mask(fitness: Any, neighbours: Neighbours, exclude_isolated: bool = False) -> np.ndarray:
    """Architectures with no strictly better neighbour (maximisation).

    Args:
        fitness: (N,) finite fitness, higher is better.
        neighbours: the neighbourhood over the same N architectures (any accepted shape).
        exclude_isolated: drop architectures without neighbours (by default they are optima).

    Returns:
        (N,) bool mask.

    Raises:
        ValueError: wrong shape, length mismatch with the neighbourhood, or NaN fitness.
    """
    indptr, indices = as_csr(neighbours)
    f = _fitness_vector(fitness, n=indptr.size - 1)
    best, rows = _best_neighbour(f, indptr, indices)
    mask = ~(best > f)
    if exclude_isolated:
        has = np.zeros(f.size, dtype=bool)
        has[rows] = True
        mask &= has
    return mask


def count_local_optima(fitness: Any, neighbours: Neighbours, exclude_isolated: bool = False) -> int:
    """Exact number of local optima of a fully known landscape (see :func:`local_optima_mask`)."""
    return int(local_optima_mask(fitness, neighbours, exclude_isolated).sum())


def nearest_neighbours(codes: Any, k: int = KNN_OPTIMA_K) -> np.ndarray:
    """The ``k`` nearest other rows of each row by Hamming distance, ties broken by lower index.

    Args:
        codes: (n, bits) 0/1 encodings (e.g. the 289-bit FLA encoding of sampled cells).
        k: neighbours per row; capped at n - 1.

    Returns:
        (n, min(k, n - 1)) int64 row indices, nearest first.
    """
    a = np.asarray(codes, dtype=np.float32)
    if a.ndim != 2:
        raise ValueError(f"codes must be a 2-D (n, bits) 0/1 array, got shape {a.shape}")
    n = a.shape[0]
    k = min(int(k), n - 1)
    if k <= 0:
        return np.zeros((n, 0), dtype=np.int64)
    ones = a.sum(axis=1)
    # |a xor b| = |a| + |b| - 2 a.b, exact in float32 for <= 2^24 bits
    distance = (ones[:, None] + ones[None, :] - 2.0 * (a @ a.T)).astype(np.int64)
    np.fill_diagonal(distance, np.iinfo(np.int64).max)
    # a stable sort on distance keeps index order within equal distances: deterministic ties
    return np.argsort(distance, axis=1, kind="stable")[:, :k]


def knn_local_optima_mask(fitness: Any, codes: Any, k: int = KNN_OPTIMA_K) -> np.ndarray:
    """Sampled local optima, the footprint authors' way: cells strictly fitter than each of their
    ``k`` nearest sampled cells (Hamming distance of ``codes``, ties to the lower index).

    On a sample the Hamming-1 neighbours are mostly unknown, so this counts optima among the
    sampled cells; compared on the same cells between two fitnesses, the ratio of the counts
    scales a full landscape's N-hat (how the authors extrapolated So2Sat's count).

    Raises:
        ValueError: NaN fitness or mismatched sizes.
    """
    f = _fitness_vector(fitness)
    c = np.asarray(codes)
    if c.shape[0] != f.size:
        raise ValueError(f"codes has {c.shape[0]} rows but fitness has {f.size}")
    near = nearest_neighbours(c, k)
    if near.shape[1] == 0:
        return np.zeros(f.size, dtype=bool)
    return (f[:, None] > f[near]).all(axis=1)


def count_optimal_plateaus(fitness: Any, neighbours: Neighbours) -> int:
    """Local optima counted as plateaus: connected sets of equal-fitness neighbours none of whose
    members has a strictly better neighbour (a lone optimum is a plateau of one).

    :func:`count_local_optima` (Traoré et al.'s fitness landscape footprint) counts every architecture of such
    a plateau. Tree ensembles predict piecewise-constant values, so a surrogate landscape may have plateaus
    (neighbours that differ only in features no tree splits on); this count tells how much of
    the per-architecture count they make up.
    """
    f = _fitness_vector(fitness)
    indptr, indices = as_csr(neighbours, f.size)
    from scipy.sparse import csr_matrix
    from scipy.sparse.csgraph import connected_components

    src = np.repeat(np.arange(f.size), np.diff(indptr))
    equal = f[src] == f[indices]
    graph = csr_matrix((np.ones(int(equal.sum()), dtype=np.int8), (src[equal], indices[equal])),
                       shape=(f.size, f.size))
    n_components, component = connected_components(graph, directed=True, connection="weak")
    improvable = ~local_optima_mask(f, (indptr, indices))
    return int((np.bincount(component, weights=improvable, minlength=n_components) == 0).sum())


def improvement_step(fitness: Any, neighbours: Neighbours) -> np.ndarray:
    """Best-improvement move of every architecture: its best strictly better neighbour.

    Among equally good best neighbours the lowest index wins; a local optimum maps to itself.

    Returns:
        (N,) intp next architecture.
    """
    indptr, indices = as_csr(neighbours)
    f = _fitness_vector(fitness, n=indptr.size - 1)
    return _improvement_step(f, indptr, indices)


def _improvement_step(f: np.ndarray, indptr: np.ndarray, indices: np.ndarray) -> np.ndarray:
    nxt = np.arange(f.size, dtype=np.intp)
    best, rows = _best_neighbour(f, indptr, indices)
    if rows.size == 0:
        return nxt
    owner = np.repeat(np.arange(f.size, dtype=np.intp), np.diff(indptr))
    # rows need not be sorted, so take the minimum index among the neighbours at the max
    candidate = np.where(f[indices] == best[owner], indices, f.size)
    lowest = np.minimum.reduceat(candidate, indptr[rows])
    improving = best[rows] > f[rows]
    nxt[rows[improving]] = lowest[improving]
    return nxt


def _climb(nxt: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Follow ``nxt`` from every start to its fixed point, all unfinished searches per iteration."""
    cur = np.array(starts, dtype=np.intp).ravel()
    active = np.flatnonzero(nxt[cur] != cur)
    # fitness strictly increases along a path, so there is no cycle and this terminates
    while active.size:
        cur[active] = nxt[cur[active]]
        active = active[nxt[cur[active]] != cur[active]]
    return cur.reshape(np.shape(starts))


def best_improvement_local_search(fitness: Any, neighbours: Neighbours, starts: Any) -> np.ndarray:
    """Local optimum reached from each start by best-improvement hill climbing.

    Every iteration moves all unfinished searches at once to their best strictly better
    neighbour (ties: lowest index), until none has one.

    Args:
        fitness: (N,) finite fitness, higher is better.
        neighbours: the neighbourhood (any accepted shape).
        starts: start architectures, any shape.

    Returns:
        Optimum reached from each start, the shape of ``starts`` (intp).
    """
    indptr, indices = as_csr(neighbours)
    f = _fitness_vector(fitness, n=indptr.size - 1)
    s = np.asarray(starts)
    if s.size and (not np.issubdtype(s.dtype, np.integer) or s.min() < 0 or s.max() >= f.size):
        raise ValueError(f"starts must be integer architecture indices in [0, {f.size})")
    return _climb(_improvement_step(f, indptr, indices), s)


def _first_repeat(optima: np.ndarray) -> np.ndarray:
    """0-based column of the first value of each row already seen earlier in the row; -1 if none."""
    n_rows, width = optima.shape
    key = np.arange(n_rows, dtype=np.int64)[:, None] * (int(optima.max(initial=0)) + 1) + optima
    order = np.argsort(key.ravel(), kind="stable")  # stable: equal keys stay in column order
    sorted_key = key.ravel()[order]
    repeat = np.zeros(order.size, dtype=bool)
    repeat[1:] = sorted_key[1:] == sorted_key[:-1]
    first = np.full(n_rows, width, dtype=np.int64)
    np.minimum.at(first, order[repeat] // width, order[repeat] % width)
    return np.where(first < width, first, -1)


def estimate_local_optima(
    fitness: Any,
    neighbours: Neighbours,
    n_repeats: int = 100,
    seed: int = 0,
    max_starts: int = 100_000,
) -> dict[str, Any]:
    """The footprint authors' birthday-paradox estimate of the number of local optima.

    One repeat runs best-improvement local searches from uniformly drawn starts (all
    architectures, with replacement) until an optimum comes up a second time. ``K`` is the
    1-based position of that search: optima ``a, b, a`` give K = 3. With ``K_mean`` the mean
    over repeats, ``N_hat = K_mean^2 / (2 ln 2)``.

    The formula inverts the *median* of K for N equally likely optima (``sqrt(2 N ln 2)``);
    fed the mean (``~sqrt(pi N / 2)``) as the footprint's definition prescribes, it overestimates N by about
    ``pi / (4 ln 2) = 1.13`` on equal basins. Unequal basins (the usual case) make it
    underestimate, often by far. ``n_hat_median`` (median K) is returned beside it.

    Args:
        fitness: (N,) finite fitness, higher is better.
        neighbours: the neighbourhood (any accepted shape).
        n_repeats: independent repeats averaged into K_mean.
        seed: RNG seed.
        max_starts: most searches per repeat before giving up.

    Returns:
        ``n_hat``, ``k_mean``, ``k`` (n_repeats,) int, ``n_repeats``, ``k_median``,
        ``n_hat_median`` and ``n_searches`` (local searches run in total).

    Raises:
        ValueError: invalid fitness / neighbourhood, or no repeat within ``max_starts``.
    """
    if n_repeats < 1 or max_starts < 2:
        raise ValueError(f"need n_repeats >= 1 and max_starts >= 2, got {n_repeats}, {max_starts}")
    indptr, indices = as_csr(neighbours)
    f = _fitness_vector(fitness, n=indptr.size - 1)
    nxt = _improvement_step(f, indptr, indices)
    rng = np.random.default_rng(seed)
    optima = np.empty((n_repeats, 0), dtype=np.intp)
    width = min(256, max_starts)
    # extend every sequence by fresh draws (never redraw one): dropping sequences without a
    # repeat would bias K downwards
    while True:
        starts = rng.integers(f.size, size=(n_repeats, width))
        optima = np.concatenate([optima, _climb(nxt, starts)], axis=1)
        first = _first_repeat(optima)
        if np.all(first >= 0):
            break
        if optima.shape[1] >= max_starts:
            raise ValueError(
                f"{int((first < 0).sum())} of {n_repeats} repeats found no repeated optimum within "
                f"max_starts={max_starts} searches; the landscape has more than "
                f"~{max_starts**2 / (2 * _LN2):.3g} optima: raise max_starts"
            )
        width = min(optima.shape[1], max_starts - optima.shape[1])
    k = first + 1
    k_mean, k_median = float(k.mean()), float(np.median(k))
    return {
        "n_hat": k_mean**2 / (2 * _LN2),
        "k_mean": k_mean,
        "k": k,
        "n_repeats": n_repeats,
        "k_median": k_median,
        "n_hat_median": k_median**2 / (2 * _LN2),
        "n_searches": int(k.sum()),
    }


# --------------------------------------------------------------------------- persistence


def _budget_matrix(fitness_by_budget: Any) -> np.ndarray:
    a = np.asarray(fitness_by_budget, dtype=np.float64)
    if a.ndim != 2 or a.shape[0] < 2 or a.shape[1] < 1:
        raise ValueError(
            f"fitness_by_budget must be 2-D (n_budgets >= 2, n_architectures), budgets in increasing order, "
            f"got shape {a.shape}"
        )
    if not np.isfinite(a).all():
        bad = np.argwhere(~np.isfinite(a))[0]
        raise ValueError(
            f"fitness_by_budget has {int((~np.isfinite(a)).sum())} NaN/infinite values (first at budget row "
            f"{bad[0]}, architecture {bad[1]}); persistence needs every architecture at every budget"
        )
    return a


def set_size(fraction: float, n: int) -> int:
    """Size of a top-``fraction`` set of ``n`` architectures: ``ceil(fraction * n)``.

    Rounding up keeps at least the requested share and never gives an empty set; the product
    is rounded to 9 decimals first so that e.g. 0.07 * 100 (= 7.000000000000001) gives 7.
    """
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    return max(1, math.ceil(round(fraction * n, 9)))


def _ranking(fitness: np.ndarray, positive: bool) -> np.ndarray:
    """Architectures best-first (positive) or worst-first, ties by lowest index, along the last axis."""
    # stable sort on the negated fitness keeps equal values in index order for the top sets too
    return np.argsort(-fitness if positive else fitness, axis=-1, kind="stable")


def top_set(fitness: Any, fraction: float, positive: bool = True) -> np.ndarray:
    """Indices of the top (``positive``) or bottom ``fraction`` of architectures, best / worst first.

    The set has :func:`set_size` members; equal fitness values are ranked by lowest index.
    """
    f = _fitness_vector(fitness)
    return _ranking(f, positive)[: set_size(fraction, f.size)]


def _persistence_from_ranking(order: np.ndarray, k: int) -> float:
    n_budgets, n = order.shape
    hits = np.bincount(order[:, :k].ravel(), minlength=n)
    return float(np.count_nonzero(hits == n_budgets)) / k


def persistence(fitness_by_budget: Any, fraction: float = 0.25, positive: bool = True) -> float:
    """Share of the t0 top (bottom) set that stays in it at every budget (Traoré et al.'s fitness landscape
    footprint).

    ``P(N) = |intersection over e of T_e(N)| / |T_t0(N)|`` with ``T_e(N)`` the top-N% set
    (bottom-N% when ``positive`` is False) at budget e. All sets have :func:`set_size` members,
    so P(N) does not depend on which row is t0; rows are expected in increasing budget order.

    Args:
        fitness_by_budget: (n_budgets, n_architectures) finite fitness, n_budgets >= 2.
        fraction: N as a fraction (0.25 for 25 %).
        positive: top sets (True) or bottom sets (False).

    Returns:
        P(N) in [0, 1].
    """
    a = _budget_matrix(fitness_by_budget)
    return _persistence_from_ranking(_ranking(a, positive), set_size(fraction, a.shape[1]))


def persistence_curve(
    fitness_by_budget: Any, fractions: Any = np.arange(1, 26) / 100, positive: bool = True
) -> np.ndarray:
    """P(N) for each fraction (default N = 1..25 %), sorting each budget once."""
    a = _budget_matrix(fitness_by_budget)
    order = _ranking(a, positive)
    sizes = [set_size(float(q), a.shape[1]) for q in np.ravel(fractions)]
    return np.array([_persistence_from_ranking(order, k) for k in sizes])


def persistence_auc(fitness_by_budget: Any, max_fraction: float = 0.25, positive: bool = True) -> float:
    """Mean of P(N) over the integer percents N = 1 .. 100 * max_fraction (the authors' AuC)."""
    top = _whole_percent(max_fraction)
    return float(persistence_curve(fitness_by_budget, np.arange(1, top + 1) / 100, positive).mean())


def _whole_percent(fraction: float) -> int:
    top = round(fraction * 100)
    if top < 1 or abs(top - fraction * 100) > 1e-9 or top > 100:
        raise ValueError(f"the persistence fraction must be a whole percent in [0.01, 1], got {fraction}")
    return int(top)


# --------------------------------------------------------------------------- footprint


_COUNTS = ("n_architectures", "n_walks")


@dataclass(frozen=True)
class Footprint:
    """The footprint of one landscape; ``None`` marks a metric whose inputs were not given.

    A metric that was computed but is undefined for this landscape is NaN (e.g. every walk
    constant); :func:`check_footprint` reports it.
    """

    n_architectures: int
    n_walks: int
    mean_fitness: float
    fitness_std: float
    fitness_variance: float
    autocorrelation: float | None = None
    ruggedness_tau: float | None = None
    local_optima: int | None = None
    local_optima_estimate: float | None = None
    optimal_plateaus: int | None = None
    knn_local_optima: int | None = None
    knn_optima_ratio: float | None = None
    local_optima_extrapolated: float | None = None
    positive_persistence: float | None = None
    positive_auc: float | None = None
    negative_persistence: float | None = None
    negative_auc: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def footprint(
    fitness: Any,
    *,
    fitness_by_budget: Any = None,
    walks_fitness: Walks | None = None,
    local_optima: int | None = None,
    local_optima_estimate: float | Mapping[str, Any] | None = None,
    neighbours: Neighbours | None = None,
    persistence_fraction: float = 0.25,
) -> Footprint:
    """Assemble the footprint from whatever inputs the landscape has.

    Args:
        fitness: (N,) finite fitness of the landscape's architectures (all 423,624 for a
            surrogate landscape, the trained ones for a sampled landscape).
        fitness_by_budget: (n_budgets, N) fitness of the same architectures per budget,
            increasing budgets, for the four persistence metrics.
        walks_fitness: fitness along random walks (2-D or a list), for rho(1) and tau.
        local_optima: exact count if already known.
        local_optima_estimate: N_hat, or the dict from :func:`estimate_local_optima`.
        neighbours: if given and ``local_optima`` is None, the exact count is computed over it.
        persistence_fraction: N of the persistence metrics as a whole percent (0.25); the AuC
            averages P(N) over 1..N %.

    Returns:
        A :class:`Footprint`; metrics without inputs are None.

    Raises:
        ValueError: empty or non-finite fitness, or inputs of mismatched sizes.
    """
    f = _fitness_vector(fitness)
    if f.size == 0:
        raise ValueError("fitness is empty: a landscape needs at least one architecture")
    values: dict[str, Any] = {
        "n_architectures": int(f.size),
        "n_walks": 0,
        "mean_fitness": float(f.mean()),
        "fitness_std": float(f.std()),
        "fitness_variance": float(f.var()),
    }
    if walks_fitness is not None:
        r = ruggedness(walks_fitness)
        values.update(n_walks=r["n_walks"], autocorrelation=r["rho_mean"], ruggedness_tau=r["tau"])
    if local_optima is None and neighbours is not None:
        local_optima = count_local_optima(f, neighbours)
    if local_optima is not None:
        values["local_optima"] = int(local_optima)
    if isinstance(local_optima_estimate, Mapping):
        values["local_optima_estimate"] = float(local_optima_estimate["n_hat"])
    elif local_optima_estimate is not None:
        values["local_optima_estimate"] = float(local_optima_estimate)
    if fitness_by_budget is not None:
        a = _budget_matrix(fitness_by_budget)
        if a.shape[1] != f.size:
            raise ValueError(f"fitness_by_budget has {a.shape[1]} architectures but fitness has {f.size}")
        percents = np.arange(1, _whole_percent(persistence_fraction) + 1) / 100
        for sign, positive in (("positive", True), ("negative", False)):
            curve = persistence_curve(a, percents, positive)  # one sort per budget for both metrics
            values[f"{sign}_persistence"] = float(curve[-1])
            values[f"{sign}_auc"] = float(curve.mean())
    return Footprint(**values)


def check_footprint(fp: Footprint | Mapping[str, Any], required: Sequence[str] = ()) -> list[str]:
    """Violations of the metric domains, as readable strings (empty list = valid).

    None means "not computed" and is only a violation for names in ``required``; NaN, an
    infinity where not allowed, a non-integer count or a value outside its domain always are.
    """
    values = fp.as_dict() if isinstance(fp, Footprint) else dict(fp)
    problems = []
    for name in _COUNTS:
        v = values.get(name)
        if v is None or isinstance(v, float) and not v.is_integer() or v < 0:
            problems.append(f"{name} must be a non-negative integer, got {v!r}")
    for spec in FOOTPRINT_METRICS:
        v = values.get(spec.name)
        if v is None:
            if spec.name in required:
                problems.append(f"{spec.name} is required but was not computed")
            continue
        v = float(v)
        if math.isnan(v):
            problems.append(f"{spec.name} is NaN ({spec.definition})")
        elif math.isinf(v) and not (spec.allow_inf and v > 0):
            problems.append(f"{spec.name} is {v} ({spec.definition})")
        elif spec.integer and not v.is_integer():
            problems.append(f"{spec.name} must be a whole number, got {v}")
        elif (spec.low is not None and v < spec.low) or (spec.high is not None and v > spec.high):
            problems.append(f"{spec.name} = {v} outside [{spec.low}, {spec.high}] ({spec.definition})")
    n = values.get("n_architectures")
    lo = values.get("local_optima")
    if lo is not None and isinstance(n, (int, np.integer)) and lo > n:
        problems.append(f"local_optima = {lo} exceeds n_architectures = {n}")
    return problems

