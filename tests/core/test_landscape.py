"""Footprint metrics on toy landscapes with hand-computed answers; one slow full-space check."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from nas_assets.core.cells.encoding import NeighbourIndex
from nas_assets.core.landscape.metrics import (
    FOOTPRINT_METRICS,
    Footprint,
    _first_repeat,
    as_csr,
    autocorrelation,
    best_improvement_local_search,
    check_footprint,
    correlogram,
    count_local_optima,
    count_optimal_plateaus,
    estimate_local_optima,
    footprint,
    improvement_step,
    isolated_mask,
    local_optima_mask,
    persistence,
    persistence_auc,
    persistence_curve,
    random_walks,
    ruggedness,
    set_size,
    top_set,
)

# path 0-1-2-3-4; fitness peaks at 1 (3 > 1, 2) and 3 (5 > 2, 4)
PATH = [[1], [0, 2], [1, 3], [2, 4], [3]]
PATH_F = [1.0, 3.0, 2.0, 5.0, 4.0]


def ring(n: int) -> list[list[int]]:
    return [[(i - 1) % n, (i + 1) % n] for i in range(n)]


def path(n: int) -> list[list[int]]:
    return [[j for j in (i - 1, i + 1) if 0 <= j < n] for i in range(n)]


def stars(n_basins: int, size: int) -> list[list[int]]:
    """Disjoint stars: centre b * size, leaves after it."""
    nb: list[list[int]] = []
    for b in range(n_basins):
        c = b * size
        nb.append(list(range(c + 1, c + size)))
        nb.extend([c] for _ in range(size - 1))
    return nb


# --------------------------------------------------------------------------- neighbourhood shapes


def test_all_neighbourhood_shapes_agree():
    indptr, indices = as_csr(PATH)
    assert indptr.tolist() == [0, 1, 3, 5, 7, 8]
    assert indices.tolist() == [1, 0, 2, 1, 3, 2, 4, 3]
    index = NeighbourIndex(indptr=indptr.astype(np.int64), indices=indices.astype(np.int32), kind="fla")
    for shape in (PATH, (indptr, indices), index):
        assert local_optima_mask(PATH_F, shape).tolist() == [False, True, False, True, False]


@pytest.mark.parametrize(
    "bad, match",
    [
        ((np.array([1, 2, 3]), np.array([1, 0, 2])), "indptr must start at 0"),
        ((np.array([0, 2, 1, 2]), np.array([1, 0])), "never decrease"),
        ([[1], [7]], r"indices must lie in \[0, 2\)"),
        ("abc", "neighbours must be"),
    ],
)
def test_malformed_neighbourhoods_are_rejected(bad, match):
    with pytest.raises(ValueError, match=match):
        as_csr(bad)


def test_fitness_is_validated():
    with pytest.raises(ValueError, match="5 architectures"):
        count_local_optima([1.0, 2.0], PATH)
    with pytest.raises(ValueError, match="1-D"):
        count_local_optima(np.ones((5, 1)), PATH)
    with pytest.raises(ValueError, match="1 NaN/infinite values \\(first at index 2\\)"):
        count_local_optima([1.0, 2.0, np.nan, 0.0, 1.0], PATH)


# --------------------------------------------------------------------------- local optima


def test_optima_on_a_path_and_a_ring():
    assert count_local_optima(PATH_F, PATH) == 2
    assert count_local_optima([0, 1, 0, 1, 0, 1], ring(6)) == 3  # the three 1s


def test_plateaus_equal_neighbours_are_not_better():
    # ring 0..5 with values 2 2 1 1 2 2: the plateau {4, 5, 0, 1} has no strictly better
    # neighbour; 2 and 3 each touch a 2
    assert local_optima_mask([2, 2, 1, 1, 2, 2], ring(6)).tolist() == [True, True, False, False, True, True]
    assert count_local_optima(np.zeros(6), ring(6)) == 6  # a flat landscape is all optima


def test_optimal_plateaus_count_each_plateau_once():
    # the ring above: one plateau {4, 5, 0, 1} (connected through 5-0) -> 1 optimum, not 4
    assert count_optimal_plateaus([2, 2, 1, 1, 2, 2], ring(6)) == 1
    assert count_optimal_plateaus(np.zeros(6), ring(6)) == 1  # flat: one plateau
    # path 0-1-2-3-4-5 with 3 1 1 0 2 2: per architecture 0, 2, 4 and 5 have no strictly better
    # neighbour (2's only equal neighbour hides the better 0 behind it); as plateaus: {0} and
    # {4, 5} -- the plateau {1, 2} has a better neighbour (0 next to 1), so it is no optimum
    f = [3, 1, 1, 0, 2, 2]
    assert count_local_optima(f, path(6)) == 4 and count_optimal_plateaus(f, path(6)) == 2
    # strict optima are plateaus of one
    assert (count_optimal_plateaus([0, 5, 1, 4, 2, 3], path(6))
            == count_local_optima([0, 5, 1, 4, 2, 3], path(6)) == 3)


def test_isolated_architectures_count_unless_excluded():
    # 2 is isolated in the middle with the lowest fitness: a naive reduceat would hand it the
    # value at indices[indptr[2]] (= f[4] = 3) and call it dominated; 5 is isolated at the end
    nb = [[1], [0], [], [4], [3], []]
    f = [0.0, 1.0, -5.0, 2.0, 3.0, -1.0]
    assert isolated_mask(nb).tolist() == [False, False, True, False, False, True]
    assert local_optima_mask(f, nb).tolist() == [False, True, True, False, True, True]
    assert count_local_optima(f, nb) == 4
    assert count_local_optima(f, nb, exclude_isolated=True) == 2


def test_best_improvement_moves_and_ties_go_to_lowest_index():
    # centre 0 sees 3, 1, 2 (unsorted) with fitness 5, 5, 1: the two best are tied -> 1
    nb = [[3, 1, 2], [0], [0], [0]]
    f = [0.0, 5.0, 1.0, 5.0]
    assert improvement_step(f, nb).tolist() == [1, 1, 2, 3]  # 2 (fitness 1) beats its only neighbour 0
    assert best_improvement_local_search(f, nb, [0, 2, 3]).tolist() == [1, 2, 3]


def test_local_search_climbs_to_the_nearest_peak():
    # on PATH: 0 -> 1; 2 sees 1 (3) and 3 (5) -> 3; 4 -> 3
    assert best_improvement_local_search(PATH_F, PATH, [0, 2, 4, 1, 3]).tolist() == [1, 3, 3, 1, 3]
    # a monotone path needs five moves from the bottom; starts keep their shape
    line = [[1], [0, 2], [1, 3], [2, 4], [3, 5], [4]]
    out = best_improvement_local_search(np.arange(6.0), line, np.array([[0, 3], [5, 2]]))
    assert out.tolist() == [[5, 5], [5, 5]]
    with pytest.raises(ValueError, match="starts"):
        best_improvement_local_search(PATH_F, PATH, [7])


# --------------------------------------------------------------------------- estimator


def test_first_repeat_is_the_one_based_position_of_the_repeating_search():
    # rows: a b a -> 3rd search repeats (K = 3); a a -> K = 2; no repeat -> -1
    optima = np.array([[5, 7, 5, 1], [4, 4, 2, 3], [0, 1, 2, 3]])
    assert (_first_repeat(optima) + 1).tolist() == [3, 2, 0]


def test_estimator_with_one_optimum_has_k_two():
    # every search ends at 4, so the 2nd search repeats: K = 2, N_hat = 4 / (2 ln 2) = 2.885
    est = estimate_local_optima(np.arange(5.0), [[1], [0, 2], [1, 3], [2, 4], [3]], n_repeats=7)
    assert est["k"].tolist() == [2] * 7
    assert est["n_repeats"] == 7 and est["n_searches"] == 14
    assert est["n_hat"] == pytest.approx(4 / (2 * math.log(2)))


def test_estimator_on_equal_basins():
    # 1,000 stars of 3: 1,000 optima, each reached from 1/1,000 of the starts. With the mean K
    # the formula expects (sqrt(pi N / 2) + 2/3)^2 / (2 ln 2) ~ 1,171; the median K gives ~N.
    # 400 repeats put one standard error of n_hat near 5 %: bounds are about +-3 of them
    nb = stars(1000, 3)
    f = np.tile([1.0, 0.0, 0.0], 1000)
    assert count_local_optima(f, nb) == 1000
    est = estimate_local_optima(f, nb, n_repeats=400, seed=1)
    assert np.array_equal(est["k"], estimate_local_optima(f, nb, n_repeats=400, seed=1)["k"])
    assert 1000 < est["n_hat"] < 1350
    assert 850 < est["n_hat_median"] < 1150
    assert est["k"].min() >= 2


def test_estimator_gives_up_after_max_starts():
    n = 100_000
    isolated = (np.zeros(n + 1, dtype=np.int64), np.zeros(0, dtype=np.int64))
    with pytest.raises(ValueError, match="raise max_starts"):
        estimate_local_optima(np.arange(float(n)), isolated, n_repeats=5, max_starts=3)


# --------------------------------------------------------------------------- ruggedness


def test_autocorrelation_hand_worked():
    # [1, 2, 3, 4]: mean 2.5, deviations -1.5 -0.5 0.5 1.5, sum of squares 5
    #   lag 1: (0.75 - 0.25 + 0.75) / 5 = 0.25; lag 2: (-0.75 - 0.75) / 5 = -0.3; lag 3: -2.25 / 5
    assert autocorrelation([1, 2, 3, 4]) == pytest.approx(0.25)
    assert autocorrelation([1, 2, 3, 4], lag=2) == pytest.approx(-0.3)
    assert autocorrelation([1, 2, 3, 4], lag=3) == pytest.approx(-0.45)
    # alternating [1, -1, 1, -1]: mean 0, sum of squares 4; lag 1: -3 / 4; lag 2: 2 / 4
    assert autocorrelation([1, -1, 1, -1]) == pytest.approx(-0.75)
    assert autocorrelation([1, -1, 1, -1], lag=2) == pytest.approx(0.5)


def test_autocorrelation_is_not_pandas_autocorr():
    # pandas correlates the lagged pairs with their own means/variances (Pearson): the
    # pairs (1,2) (2,3) (3,4) lie on a line, so it says 1.0 where the walk estimator says 0.25
    assert pd.Series([1, 2, 3, 4]).autocorr(lag=1) == pytest.approx(1.0)
    assert autocorrelation([1, 2, 3, 4]) == pytest.approx(0.25)


def test_autocorrelation_edge_cases():
    assert math.isnan(autocorrelation([3.0, 3.0, 3.0]))  # zero variance: undefined
    with pytest.raises(ValueError, match="lag"):
        autocorrelation([1, 2, 3], lag=3)
    with pytest.raises(ValueError, match="NaN"):
        autocorrelation([1, np.nan, 3])


def test_ruggedness_mean_and_tau():
    r = ruggedness(np.array([[1, 2, 3, 4], [4, 3, 2, 1], [5, 5, 5, 5]], dtype=float))
    assert r["rho"][:2].tolist() == pytest.approx([0.25, 0.25]) and math.isnan(r["rho"][2])
    assert r["rho_mean"] == pytest.approx(0.25) and r["tau"] == pytest.approx(4.0)
    assert r["n_walks"] == 3 and r["n_constant"] == 1
    # unequal lengths: [1, 2, 3] has deviations -1 0 1 -> lag-1 numerator 0 -> rho 0
    r = ruggedness([np.array([1, 2, 3, 4]), np.array([1, 2, 3])])
    assert r["rho_mean"] == pytest.approx(0.125) and r["tau"] == pytest.approx(8.0)
    # rho_mean <= 0: tau is +inf (no smoother than noise)
    assert ruggedness([[1, 2, 3, 4], [1, -1, 1, -1]])["tau"] == math.inf
    with pytest.raises(ValueError, match="fewer than 2"):
        ruggedness([[1.0, 2.0], [3.0]])


def test_correlogram():
    # lag means over [1,2,3,4] and [1,-1,1,-1]: (0.25-0.75)/2, (-0.3+0.5)/2, (-0.45-0.25)/2
    assert correlogram([[1, 2, 3, 4], [1, -1, 1, -1]], 3).tolist() == pytest.approx([-0.25, 0.1, -0.35])
    # [1, -1] only has lag 1 (rho = -1/2); lag 2 comes from the long walk alone
    assert correlogram([[1, 2, 3, 4], [1, -1]], 2).tolist() == pytest.approx([(0.25 - 0.5) / 2, -0.3])


def test_random_walks_follow_edges_and_are_seeded():
    walks = random_walks(ring(6), n_walks=30, n_steps=100, seed=3)
    assert walks.shape == (30, 101)
    assert np.all(np.isin((walks[:, 1:] - walks[:, :-1]) % 6, [1, 5]))
    assert np.array_equal(walks, random_walks(ring(6), n_walks=30, n_steps=100, seed=3))
    assert not np.array_equal(walks, random_walks(ring(6), n_walks=30, n_steps=100, seed=4))
    assert np.unique(walks).size == 6  # every neighbour gets chosen


def test_random_walks_avoid_isolated_starts():
    nb = [[1], [0], [], []]
    walks = random_walks(nb, n_walks=50, n_steps=3, seed=0)
    assert set(np.unique(walks)) == {0, 1}
    assert random_walks(nb, n_walks=2, n_steps=2, starts=[1, 0]).tolist() == [[1, 0, 1], [0, 1, 0]]
    with pytest.raises(ValueError, match="no neighbour"):
        random_walks(nb, n_walks=1, n_steps=1, starts=[2])
    with pytest.raises(ValueError, match="asymmetric"):
        random_walks([[1], []], n_walks=1, n_steps=2)


# --------------------------------------------------------------------------- persistence


def test_set_size_rounds_up():
    assert set_size(0.07, 100) == 7  # 0.07 * 100 = 7.000000000000001 in floating point
    assert set_size(0.01, 423_624) == 4237  # 4,236.24 -> 4,237
    assert set_size(0.25, 423_624) == 105_906
    assert set_size(1e-9, 10) == 1
    with pytest.raises(ValueError, match="fraction"):
        set_size(0.0, 10)


def test_top_set_ties_by_lowest_index():
    assert top_set([1, 2, 2, 0], 0.5).tolist() == [1, 2]
    assert top_set([2, 1, 2, 2], 0.5).tolist() == [0, 2]
    assert top_set([1, 0, 0, 3], 0.25, positive=False).tolist() == [1]


def test_persistence_identical_and_reversed():
    f = np.random.default_rng(0).random(100)
    same = np.stack([f, f * 2, f + 1])  # same ranking at every budget
    assert persistence(same) == 1.0 and persistence(same, positive=False) == 1.0
    assert persistence_auc(same) == 1.0
    reversed_ = np.stack([f, -f])
    assert persistence(reversed_) == 0.0 and persistence(reversed_, positive=False) == 0.0
    assert persistence_curve(reversed_).tolist() == [0.0] * 25
    flat = np.zeros((2, 8))  # all tied: both budgets rank by index
    assert persistence(flat) == 1.0


def test_persistence_hand_worked_partial_overlap():
    b0 = [8, 7, 6, 5, 4, 3, 2, 1]  # top 4: {0,1,2,3}   bottom 4: {4,5,6,7}
    b1 = [8, 1, 7, 2, 6, 3, 5, 4]  # top 4: {0,2,4,6}   bottom 4: {1,3,5,7}
    b2 = [1, 8, 7, 6, 2, 3, 4, 5]  # top 4: {1,2,3,7}   bottom 4: {0,4,5,6}
    a = np.array([b0, b1, b2], dtype=float)
    assert persistence(a, 0.5) == 0.25  # {2} / 4
    assert persistence(a, 0.5, positive=False) == 0.25  # {5} / 4
    assert persistence(a[[1, 0, 2]], 0.5) == 0.25  # equal set sizes: row order is irrelevant


def test_persistence_auc_on_pairwise_swaps():
    # budget 1 swaps neighbours in budget 0's ranking (1 0 3 2 5 4 ...): top-N sets agree for
    # even N and share N - 1 members for odd N, at both ends of the ranking
    n = 100
    b0 = -np.arange(n, dtype=float)
    b1 = b0[np.arange(n) ^ 1]
    a = np.stack([b0, b1])
    curve = persistence_curve(a)
    expected = [1.0 if N % 2 == 0 else (N - 1) / N for N in range(1, 26)]
    assert curve.tolist() == pytest.approx(expected)
    assert persistence(a) == pytest.approx(24 / 25)
    auc = (12 + sum((N - 1) / N for N in range(1, 26, 2))) / 25
    assert persistence_auc(a) == pytest.approx(auc)
    assert persistence_auc(a, positive=False) == pytest.approx(auc)


def test_persistence_validation():
    with pytest.raises(ValueError, match="n_budgets >= 2"):
        persistence(np.ones((1, 5)))
    with pytest.raises(ValueError, match="budget row 1, architecture 2"):
        persistence([[1, 2, 3], [1, 2, np.nan]])
    with pytest.raises(ValueError, match="whole percent"):
        persistence_auc(np.ones((2, 5)), max_fraction=0.255)


# --------------------------------------------------------------------------- footprint


def test_footprint_of_a_path_landscape():
    budgets = np.array([PATH_F, PATH_F])
    est = estimate_local_optima(PATH_F, PATH, n_repeats=10)
    fp = footprint(PATH_F, fitness_by_budget=budgets, walks_fitness=[[1, 2, 3, 4], [4, 3, 2, 1]],
                   neighbours=PATH, local_optima_estimate=est)
    assert isinstance(fp, Footprint)
    assert fp.mean_fitness == 3.0 and fp.fitness_variance == 2.0  # (4 + 0 + 1 + 4 + 1) / 5
    assert fp.fitness_std == pytest.approx(math.sqrt(2))
    assert fp.autocorrelation == pytest.approx(0.25) and fp.ruggedness_tau == pytest.approx(4.0)
    assert fp.local_optima == 2 and fp.local_optima_estimate == est["n_hat"]
    assert fp.positive_persistence == fp.negative_auc == 1.0
    assert fp.n_architectures == 5 and fp.n_walks == 2
    assert check_footprint(fp) == []
    assert set(fp.as_dict()) == {m.name for m in FOOTPRINT_METRICS} | {"n_architectures", "n_walks"}


def test_footprint_without_inputs_leaves_metrics_none():
    fp = footprint([0.5, 0.7])
    assert fp.autocorrelation is None and fp.local_optima is None and fp.positive_auc is None
    assert check_footprint(fp) == []
    assert check_footprint(fp, required=["local_optima"]) == ["local_optima is required but was not computed"]
    with pytest.raises(ValueError, match="fitness_by_budget has 3 architectures"):
        footprint([0.5, 0.7], fitness_by_budget=np.ones((2, 3)))


def test_check_footprint_reports_violations():
    fp = footprint([1.0, 2.0], walks_fitness=[[3.0, 3.0, 3.0]])  # constant walk: rho undefined
    assert math.isnan(fp.autocorrelation)
    problems = check_footprint(fp)
    assert any(p.startswith("autocorrelation is NaN") for p in problems)
    bad = {**fp.as_dict(), "autocorrelation": 0.5, "ruggedness_tau": 2.0, "positive_persistence": 1.2,
           "local_optima": 3, "fitness_std": -1.0}
    problems = check_footprint(bad)
    assert any(p.startswith("positive_persistence = 1.2 outside [0.0, 1.0]") for p in problems)
    assert any(p.startswith("fitness_std = -1.0") for p in problems)
    assert "local_optima = 3 exceeds n_architectures = 2" in problems
    assert check_footprint({**bad, "positive_persistence": 0.3, "fitness_std": 0.5, "local_optima": 1}) == []
    assert check_footprint({**bad, "positive_persistence": 0.3, "fitness_std": 0.5, "local_optima": 1,
                            "ruggedness_tau": math.inf}) == []


# --------------------------------------------------------------------------- full space


@pytest.mark.slow
def test_full_fla_landscape_against_brute_force(fla_index):
    rng = np.random.default_rng(7)
    n = len(fla_index)
    f = rng.random(n)
    mask = local_optima_mask(f, fla_index)
    sample = rng.choice(n, size=2000, replace=False)
    brute = [all(f[j] <= f[i] for j in fla_index.neighbours(int(i))) for i in sample]
    assert mask[sample].tolist() == brute
    assert count_local_optima(f, fla_index) == int(mask.sum())
    connected = fla_index.degrees > 0
    assert count_local_optima(f, fla_index, exclude_isolated=True) == int((mask & connected).sum())
    # searches end on optima; walks only take FLA edges
    optima = best_improvement_local_search(f, fla_index, sample)
    assert mask[optima].all()
    walks = random_walks(fla_index, n_walks=30, n_steps=100, seed=0)
    for a, b in zip(walks[:, :-1].ravel()[:500], walks[:, 1:].ravel()[:500]):
        assert b in fla_index.neighbours(int(a))


# ----------------------------------------------------------------- sampled (k-NN) local optima


def test_nearest_neighbours_by_hamming_distance_with_index_ties():
    from nas_assets.core.landscape.metrics import nearest_neighbours

    codes = np.array([[0, 0, 0, 0], [1, 0, 0, 0], [1, 1, 0, 0], [0, 0, 0, 1], [1, 1, 1, 1]])
    near = nearest_neighbours(codes, k=2)
    # row 0: distance 1 to rows 1 and 3 -> the lower index first
    assert near[0].tolist() == [1, 3]
    # row 4: distances 3 (row 1), 2 (row 2), 3 (row 3), 4 (row 0) -> 2, then 1 before 3
    assert near[4].tolist() == [2, 1]
    assert nearest_neighbours(codes, k=10).shape == (5, 4)  # capped at n - 1
    assert nearest_neighbours(codes[:1], k=3).shape == (1, 0)


def test_knn_local_optima_on_hand_worked_cells():
    from nas_assets.core.landscape.metrics import knn_local_optima_mask

    # four cells on a line of Hamming distances: 0 - 1 - 2 - 3 (each one bit further)
    codes = np.array([[0, 0, 0], [1, 0, 0], [1, 1, 0], [1, 1, 1]])
    f = np.array([0.5, 0.9, 0.1, 0.3])
    # k = 1: nearest of 0 is 1, of 1 is 0 (tie 0/2 -> lower index), of 2 is 1, of 3 is 2
    assert knn_local_optima_mask(f, codes, k=1).tolist() == [False, True, False, True]
    # k = 3: only the global best beats everyone
    assert knn_local_optima_mask(f, codes, k=3).tolist() == [False, True, False, False]
    # equal fitness is not "beating": a constant landscape has no sampled optimum
    assert not knn_local_optima_mask(np.ones(4), codes, k=2).any()
    with pytest.raises(ValueError, match="codes has 3 rows but fitness has 4"):
        knn_local_optima_mask(f, codes[:3], k=1)


def test_knn_optima_match_a_brute_force_loop_on_random_cells():
    from nas_assets.core.landscape.metrics import knn_local_optima_mask

    rng = np.random.default_rng(3)
    codes = rng.integers(0, 2, (120, 289))
    f = rng.random(120)
    mask = knn_local_optima_mask(f, codes, k=10)
    for i in range(120):
        d = [(int((codes[i] != codes[j]).sum()), j) for j in range(120) if j != i]
        near = [j for _, j in sorted(d)[:10]]
        assert mask[i] == all(f[i] > f[j] for j in near)


def test_extrapolated_optima_follow_the_authors_ratio():
    from nas_assets.core.landscape.landscapes import extrapolate_optima, sampled_landscape

    rng = np.random.default_rng(0)
    codes = rng.integers(0, 2, (60, 289))
    a = sampled_landscape("a", "f", rng.random(60), codes=codes)
    b = sampled_landscape("b", "f", rng.random(60), codes=codes)
    out = extrapolate_optima(a, b, 6373.0)
    ratio = a.footprint.knn_local_optima / b.footprint.knn_local_optima
    assert out.footprint.knn_optima_ratio == pytest.approx(ratio)
    assert out.footprint.local_optima_extrapolated == pytest.approx(ratio * 6373.0)
    assert extrapolate_optima(a, a, 100.0).footprint.knn_optima_ratio == 1.0


def test_budgets_are_matched_across_sides():
    from nas_assets.core.landscape.landscapes import match_budgets

    assert match_budgets([4, 12, 36, 108], [4, 12, 36, 108])[:2] == (36, 36)
    assert match_budgets([1, 2, 3, 4], [4, 12, 36, 108])[:2] == (4, 4)
    assert match_budgets([4, 12, 36, 108], [4, 12, 36, 108], budget=108)[:2] == (108, 108)
    assert match_budgets([1, 2], [])[:2] == (2, None)
    budget, other, note = match_budgets([1, 2], [4, 12, 36, 108])
    assert (budget, other) == (2, 4) and "budgets do not match" in note
    with pytest.raises(ValueError, match="fitness budget 36 was not recorded by So2Sat"):
        match_budgets([1, 2, 3, 4], [4, 36], budget=36)
    with pytest.raises(ValueError, match="cifar10_budget 5 is not a CIFAR-10 budget"):
        match_budgets([4], [4, 36], cifar10_budget=5)
