"""Benchmark of the footprint metrics on the full NAS-Bench-101 space; prints a table.

    python benchmarks/landscape.py            # ~1-2 min on 2 cores, most of it enumeration

Two seeded landscapes over all 423,624 cells and the FLA Hamming-1 index:

* ``random``: i.i.d. uniform fitness (the most rugged case: many optima, rho(1) ~ 0);
* ``params``: log10 of the So2Sat network's parameter count (smooth, with plateaus of equal
  counts, so ties matter).

Persistence uses four budgets: ``random`` draws each independently; ``params`` adds noise
that shrinks with the budget, so rankings converge as training would.
"""

from __future__ import annotations

import os
import resource
import sys
import time
from typing import Any, Callable

import numpy as np


def _timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


Row = tuple[str, float, str]


def _landscape_rows(name: str, f: np.ndarray, budgets: np.ndarray, index: Any) -> list[Row]:
    from nas_assets.core.landscape import metrics as ls

    rows = []
    exact, t = _timed(lambda: ls.count_local_optima(f, index))
    isolated_optima = exact - ls.count_local_optima(f, index, exclude_isolated=True)
    rows.append((f"{name}: count_local_optima", t, f"optima={exact:,} (isolated {isolated_optima:,})"))
    plateaus, t = _timed(lambda: ls.count_optimal_plateaus(f, index))
    rows.append((f"{name}: count_optimal_plateaus", t, f"plateaus={plateaus:,}"))
    est, t = _timed(lambda: ls.estimate_local_optima(f, index, n_repeats=100, seed=0))
    rows.append((
        f"{name}: estimate_local_optima",
        t,
        f"N_hat={est['n_hat']:,.0f} ({est['n_hat'] / exact:.3f} x exact), K_mean={est['k_mean']:.1f}, "
        f"median-K N_hat={est['n_hat_median']:,.0f}, searches={est['n_searches']:,}",
    ))

    def walk() -> dict:
        walks = ls.random_walks(index, n_walks=30, n_steps=100, seed=0)
        return ls.ruggedness(f[walks])

    rug, t = _timed(walk)
    rows.append((f"{name}: random_walks+ruggedness", t, f"rho(1)={rug['rho_mean']:.3f} tau={rug['tau']:.2f}"))

    def persist() -> dict:
        return {
            sign: (ls.persistence(budgets, 0.25, pos), ls.persistence_auc(budgets, 0.25, pos))
            for sign, pos in (("+", True), ("-", False))
        }

    per, t = _timed(persist)
    rows.append((
        f"{name}: persistence (4 budgets)",
        t,
        ", ".join(f"P{s}={p:.3f} AuC{s}={a:.3f}" for s, (p, a) in per.items()),
    ))
    fp, t = _timed(lambda: ls.footprint(f, fitness_by_budget=budgets, walks_fitness=f[ls.random_walks(index)],
                                        local_optima=exact, local_optima_estimate=est))
    problems = ls.check_footprint(fp)
    rows.append((f"{name}: footprint+check", t, "check ok" if not problems else "; ".join(problems)))
    from nas_assets.core.landscape.landscapes import full_landscape, with_intervals

    whole, t_whole = _timed(lambda: full_landscape(name, name, f, index, budgets, seed=0))
    rows.append((f"{name}: full_landscape (no intervals)", t_whole,
                 f"optima={whole.footprint.local_optima:,}, "
                 f"N_hat={whole.footprint.local_optima_estimate:,.0f}"))
    _, t = _timed(lambda: with_intervals([whole], 1000, 0))
    iv = whole.intervals
    rows.append((f"{name}: intervals, 1,000 resamples", t,
                 f"mean [{iv['mean_fitness'].low:.4f}, {iv['mean_fitness'].high:.4f}], "
                 f"P+ [{iv['positive_persistence'].low:.3f}, {iv['positive_persistence'].high:.3f}], "
                 f"rho [{iv['autocorrelation'].low:.3f}, {iv['autocorrelation'].high:.3f}], "
                 f"N_hat [{iv['local_optima_estimate'].low:,.0f}, {iv['local_optima_estimate'].high:,.0f}]"))
    rows.append((f"{name}: footprint with intervals", t_whole + t, "target <= 60 s"))
    return rows


def main() -> None:
    from nas_assets.core.cells.cost import SO2SAT_SHAPE, network_cost_batch
    from nas_assets.core.cells.encoding import fla_neighbour_index
    from nas_assets.core.cells.enumeration import enumerate_space

    rows: list[Row] = []
    space, t = _timed(enumerate_space)
    rows.append(("enumerate_space", t, f"architectures={len(space):,}"))
    index, t = _timed(lambda: fla_neighbour_index(space))
    isolated = int((index.degrees == 0).sum())
    rows.append(("fla_neighbour_index", t, f"pairs={index.indices.size:,}, isolated={isolated:,}"))
    print("  done: space and index", file=sys.stderr)

    rng = np.random.default_rng(0)
    n = len(space)
    random_f = rng.random(n)
    random_budgets = rng.random((4, n))
    params, _ = network_cost_batch(space.matrices, space.labels, space.n_vertices, SO2SAT_SHAPE)
    smooth_f = np.log10(params.astype(np.float64))
    noise = rng.standard_normal((4, n)) * smooth_f.std() * np.array([1.0, 0.5, 0.25, 0.1])[:, None]
    smooth_budgets = smooth_f + noise
    for name, f, budgets in (("random", random_f, random_budgets), ("params", smooth_f, smooth_budgets)):
        rows += _landscape_rows(name, f, budgets, index)
        print(f"  done: {name}", file=sys.stderr)

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\nnas_assets landscape benchmark  ({os.cpu_count()} CPUs, Python {sys.version.split()[0]}, "
          f"peak RSS {peak:,.0f} MB)\n")
    header = f"{'stage':<38}{'seconds':>9}  details"
    print(header)
    print("-" * (len(header) + 70))
    for stage, seconds, details in rows:
        print(f"{stage:<38}{seconds:>9.3f}  {details}")
    print("\ntargets: exact local-optima count <= 60 s on the full space (expected ~1 s); the whole "
          "footprint of a full landscape with its 95 % intervals (1,000 resamples) <= 60 s")


if __name__ == "__main__":
    main()
