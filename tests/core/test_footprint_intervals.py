"""Footprint intervals: coverage, degenerate landscapes, paired verdicts and the weighted
persistence shortcut against explicitly resampled arrays."""

import numpy as np
import pytest

from nas_assets.core.landscape import intervals as fi
from nas_assets.core.landscape.landscapes import (
    full_landscape,
    paired_verdicts,
    sampled_landscape,
    with_intervals,
)
from nas_assets.core.landscape.metrics import persistence_curve


def test_interval_of_the_mean_covers_the_true_mean_about_95_percent_of_seeds():
    hits = 0
    seeds = 300
    for seed in range(seeds):
        fitness = np.random.default_rng(10_000 + seed).normal(0.6, 0.1, size=120)
        interval = fi.intervals(fi.LandscapeSamples(fitness), n_resamples=400, seed=seed)["mean_fitness"]
        hits += interval.low <= 0.6 <= interval.high
    # a percentile bootstrap of a normal mean (n = 120) covers ~94 %; 300 seeds give a binomial sd of ~1.4 %
    assert 0.89 <= hits / seeds <= 0.985


def test_constant_landscape_gives_zero_width_intervals():
    n = 40
    samples = fi.LandscapeSamples(np.full(n, 0.5), np.full((3, n), 0.5), np.zeros(n, dtype=bool),
                                  walk_rho=np.full(6, 0.3), estimator_k=np.full(20, 7))
    found = fi.intervals(samples, n_resamples=200, seed=1)
    assert set(fi.CELL_METRICS) <= set(found)
    for metric, interval in found.items():
        assert interval.low == interval.high, metric
    assert found["mean_fitness"].low == 0.5
    assert found["autocorrelation"].low == pytest.approx(0.3)


@pytest.mark.parametrize("n", [9, 64, 500])
def test_weighted_persistence_equals_persistence_of_the_resampled_cells(n):
    rng = np.random.default_rng(n)
    by_budget = np.round(rng.random((4, n)), 1)  # many ties: they go to the lower index
    sizes = np.array([fi.set_size(q / 100, n) for q in range(1, 26)])
    for positive in (True, False):
        ranking = fi._Ranking.build(by_budget, positive, int(sizes.max()))
        short = max(1, int(sizes.max()) // 2)
        forced = fi._Ranking(ranking.order, ranking.rank, short,
                             np.flatnonzero(ranking.rank.max(axis=0) < short))
        for counts in fi._count_chunks(n, 12, seed=3):
            got = fi._persistence_rows(counts, ranking, sizes)
            fallback = fi._persistence_rows(counts, forced, sizes)  # prefix too short: the exact path
            for r in range(counts.shape[1]):
                cells = np.repeat(np.arange(n), counts[:, r])  # copies adjacent, in index order
                expected = persistence_curve(by_budget[:, cells], np.arange(1, 26) / 100, positive)
                np.testing.assert_allclose(got[r], expected)
                np.testing.assert_allclose(fallback[r], expected)


def test_weighted_moments_equal_the_resampled_cells():
    f = np.random.default_rng(2).random(50)
    optimum = f > 0.8
    values = fi.cell_resamples(fi.LandscapeSamples(f, knn_optimum=optimum), 5, seed=4)
    counts = next(fi._count_chunks(50, 5, seed=4))
    for r in range(5):
        cells = np.repeat(np.arange(50), counts[:, r])
        assert values["mean_fitness"][r] == pytest.approx(f[cells].mean())
        assert values["fitness_std"][r] == pytest.approx(f[cells].std())
        assert values["knn_local_optima"][r] == optimum[cells].sum()


def _walk_landscape(name, fitness, by_budget, walks):
    return sampled_landscape(name, "fitness", fitness, by_budget, [fitness[w] for w in walks])


def test_paired_verdicts_two_copies_within_noise_shifted_copy_differs():
    rng = np.random.default_rng(5)
    n = 80
    fitness = rng.random(n)
    by_budget = np.stack([fitness + rng.normal(0, 0.1, n) for _ in range(3)] + [fitness])
    ranked = np.argsort(fitness)  # walks climbing the fitness: rho(1) > 0, a finite tau on both sides
    walks = [np.r_[ranked[s:s + 8], rng.integers(0, n, 4)] for s in range(0, 70, 7)]
    a = _walk_landscape("a", fitness, by_budget, walks)
    copy = _walk_landscape("copy", fitness.copy(), by_budget.copy(), walks)
    same = paired_verdicts(a, copy, n_resamples=300, seed=0).set_index("metric")
    assert set(same["verdict"]) == {fi.WITHIN_NOISE}
    assert (same["ci_low"] == 0).all() and (same["ci_high"] == 0).all()

    shifted = _walk_landscape("shifted", fitness + 0.2, by_budget + 0.2, walks)
    verdicts = paired_verdicts(a, shifted, n_resamples=300, seed=0).set_index("metric")
    assert verdicts.loc["mean_fitness", "verdict"] == fi.DIFFERS
    assert verdicts.loc["mean_fitness", "difference"] == pytest.approx(-0.2)
    assert verdicts.loc["mean_fitness", "ci_high"] < 0
    # a shift changes no ranking and no correlation
    for metric in ("fitness_std", "positive_persistence", "negative_auc", "autocorrelation",
                   "ruggedness_tau"):
        assert verdicts.loc[metric, "verdict"] == fi.WITHIN_NOISE, metric


def test_paired_verdicts_need_the_same_cells():
    a = sampled_landscape("a", "f", np.arange(5.0))
    b = sampled_landscape("b", "f", np.arange(6.0))
    with pytest.raises(ValueError, match="same cells"):
        paired_verdicts(a, b, n_resamples=10)


def test_infinite_tau_on_both_sides_is_undefined_not_differs():
    walks = [np.array([0, 1, 0, 1, 0, 1])] * 4  # alternating: rho(1) = -1, tau = +inf
    fitness = np.array([0.1, 0.9])
    a = _walk_landscape("a", fitness, None, walks)
    b = _walk_landscape("b", fitness * 2, None, walks)
    verdicts = paired_verdicts(a, b, n_resamples=50).set_index("metric")
    assert verdicts.loc["ruggedness_tau", "verdict"] == fi.UNDEFINED


def test_full_landscape_intervals_members_walks_and_repeats():
    rng = np.random.default_rng(7)
    n = 300
    neighbours = [np.array([(i - 1) % n, (i + 1) % n, (i + 7) % n, (i - 7) % n]) for i in range(n)]
    fitness = rng.random(n)
    members = np.stack([fitness + rng.normal(0, 0.05, n) for _ in range(3)])
    ls = full_landscape("full", "f", fitness, neighbours, np.stack([fitness, fitness]), n_walks=8,
                        walk_length=20, estimator_repeats=30, member_fitness=members)
    with_intervals([ls], n_resamples=200, seed=0)
    optima = ls.intervals["local_optima"]
    assert optima.method.startswith("range over 3 ensemble members")
    assert (optima.low, optima.high) == (min(ls.details["member_local_optima"]),
                                         max(ls.details["member_local_optima"]))
    assert "walks" in ls.intervals["autocorrelation"].method
    assert "repeats" in ls.intervals["local_optima_estimate"].method
    for metric, interval in ls.intervals.items():
        value = getattr(ls.footprint, metric)
        if metric != "local_optima":  # a member's landscape need not bracket the ensemble mean's
            assert interval.low <= value <= interval.high, metric


def test_resamples_are_seeded():
    samples = fi.LandscapeSamples(np.random.default_rng(0).random(30), walk_rho=np.linspace(0, 1, 7))
    assert fi.intervals(samples, 100, seed=3) == fi.intervals(samples, 100, seed=3)
    assert fi.intervals(samples, 100, seed=3) != fi.intervals(samples, 100, seed=4)
    with pytest.raises(ValueError, match="n_resamples"):
        fi.intervals(samples, 0)
