"""Ingestion benchmark: N result files -> validated -> one DuckDB transaction; prints a table.

    python benchmarks/ingest.py [--n 1000]

Target (issue #4): 1,000 result files in <= 10 s on the 2-core development machine.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from nas_assets.core import store  # noqa: E402
from nas_assets.core.cells.enumeration import enumerate_space  # noqa: E402
from nas_assets.core.cells.space import ArchSpec  # noqa: E402
from nas_assets.core.store.results import load_result, result_frames  # noqa: E402
from tests.factories import fake_result  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=1000)
    args = parser.parse_args()
    space = enumerate_space(max_vertices=6)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        paths = []
        for i in range(args.n):
            spec = ArchSpec.from_spec(space.matrix(i * 37 % len(space)), space.ops(i * 37 % len(space)))
            path = tmp / f"{spec.arch_hash}-{i}.json"
            path.write_text(json.dumps(fake_result(spec, seed=i)))
            paths.append(path)
        t0 = time.perf_counter()
        records = [(load_result(p), p) for p in paths]
        t1 = time.perf_counter()
        frames = result_frames(records)
        t2 = time.perf_counter()
        with store.connect(tmp / "nas.duckdb") as conn:
            t3 = time.perf_counter()
            store.write_results(conn, frames)
            t4 = time.perf_counter()
            store.write_results(conn, frames)  # re-ingest: replace
            t5 = time.perf_counter()
            rows = {t: store.table_count(conn, t) for t in store.RESULT_TABLES}
    print(f"\ningest benchmark: {args.n} result files\n")
    print(f"{'step':<34}{'seconds':>10}")
    print("-" * 44)
    for name, sec in [("read + validate", t1 - t0), ("flatten to rows", t2 - t1),
                      ("DuckDB upsert (new)", t4 - t3),
                      ("DuckDB upsert (replace all)", t5 - t4),
                      ("total (first ingest)", t4 - t0 - (t3 - t2))]:
        print(f"{name:<34}{sec:>10.2f}")
    print(f"\nrows: {rows}\ntarget: 1,000 files <= 10 s")


if __name__ == "__main__":
    main()
