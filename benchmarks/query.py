"""Query-API latency: p50/p99 of Benchmark.query over distinct cells; prints a table.

    python benchmarks/query.py [--n 2000]

Builds a temporary store with the whole space and (random) surrogate predictions for four
budgets, opens it, and times single queries of distinct cells (each one hashes its spec).
Target (issue #5): p50 <= 100 us after opening.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from nas_assets import Benchmark
from nas_assets.core import store
from nas_assets.core.cells.cost import SO2SAT_SHAPE
from nas_assets.core.cells.encoding import fla_neighbour_index
from nas_assets.core.cells.enumeration import enumerate_space
from nas_assets.core.cells.table import architecture_frame


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=2000)
    args = parser.parse_args()
    space = enumerate_space()
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "nas.duckdb"
        preds = pd.concat([pd.DataFrame({"arch_hash": space.hashes.astype(str),
                                         "metric": "val_macro_accuracy",
                                         "budget": b, "mean": rng.random(len(space)),
                                         "std": rng.random(len(space))})
                           for b in (4, 12, 36, 108)])
        with store.connect(db) as conn:
            store.write_architectures(conn,
                                      architecture_frame(space, SO2SAT_SHAPE, fla_neighbour_index(space)))
            store.replace_table(conn, "surrogate_predictions", preds)
        t0 = time.perf_counter()
        bench = Benchmark.open(db)
        open_s = time.perf_counter() - t0
        idx = rng.choice(len(space), args.n, replace=False)
        specs = [(space.matrix(i), space.ops(i)) for i in idx]
        lists = [(m.tolist(), o) for m, o in specs]
        rows = []
        for name, batch in (("numpy matrix", specs), ("list matrix", lists)):
            times = []
            for m, o in batch:
                t = time.perf_counter()
                bench.query(m, o, budget=108)
                times.append(time.perf_counter() - t)
            rows.append((name, np.percentile(times, 50) * 1e6, np.percentile(times, 99) * 1e6))
        t = time.perf_counter()
        for i in idx:
            bench.query_hash(space.hashes[i], budget=108)
        by_hash = (time.perf_counter() - t) / args.n * 1e6
    print(f"\nBenchmark.open: {open_s:.2f} s for {len(space):,} cells x 4 budgets\n")
    print(f"{'query':<28}{'p50 us':>10}{'p99 us':>10}")
    print("-" * 48)
    for name, p50, p99 in rows:
        print(f"{'query(' + name + ')':<28}{p50:>10.1f}{p99:>10.1f}")
    print(f"{'query_hash (mean)':<28}{by_hash:>10.1f}")
    print("\ntarget: single-query p50 <= 100 us after opening")


if __name__ == "__main__":
    main()
