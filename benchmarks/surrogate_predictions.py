"""Benchmark of the surrogate_predictions work: every architecture of the space, several targets.

    python benchmarks/surrogate_predictions.py [--targets 5] [--store /tmp/bench.duckdb]

What the asset does, stage by stage, on the full space (423,624 cells): read the cells from
DuckDB and rebuild padded arrays, featurize + predict every target (default SurrogateConfig:
5 members x 400 trees of depth 3), write ``surrogate_predictions`` in one transaction. Models
are fitted on 300 random cells with a learnable synthetic target (fit time is not part of the
asset's budget). Rows compare prediction with 1 and 2 XGBoost threads and with/without shared
featurization, in the same run (ratios are meaningful, absolute times depend on machine load).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from nas_assets.core import store as db  # noqa: E402
from nas_assets.core.cells.cost import SO2SAT_SHAPE  # noqa: E402
from nas_assets.core.cells.encoding import fla_neighbour_index  # noqa: E402
from nas_assets.core.cells.enumeration import enumerate_space  # noqa: E402
from nas_assets.core.cells.space import labels_to_ops  # noqa: E402
from nas_assets.core.cells.table import architecture_frame  # noqa: E402
from nas_assets.core.surrogate.model import fit_surrogate, predict_many  # noqa: E402


def _timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--targets", type=int, default=5,
                        help="surrogates predicted together (demo default: 5)")
    parser.add_argument("--store", type=Path, default=None, help="DuckDB file to build (default: a temp dir)")
    args = parser.parse_args()

    space = enumerate_space()
    store = args.store or Path(tempfile.mkdtemp()) / "bench.duckdb"
    if not store.exists():
        with db.connect(store) as conn:
            db.write_architectures(conn, architecture_frame(space, SO2SAT_SHAPE, fla_neighbour_index(space)))
    rng = np.random.default_rng(0)
    idx = rng.choice(len(space.hashes), 300, replace=False)
    specs = [(space.matrices[i][: space.n_vertices[i], : space.n_vertices[i]],
              labels_to_ops(space.labels[i][: space.n_vertices[i]])) for i in idx]
    base = 0.3 + 0.05 * space.n_vertices[idx] + rng.normal(0, 0.02, idx.size)
    models = {k: fit_surrogate(specs, np.clip(base + 0.03 * k, 0, 0.99), shape=SO2SAT_SHAPE)
              for k in range(args.targets)}

    rows = []
    with db.connect(store, read_only=True) as conn:
        (hashes, arrays), t = _timed(lambda: db.read_padded_space(conn))
    rows.append(("read cells + padded arrays", t))
    for nthread in (1, 2):
        threaded = {k: m.set_nthread(nthread) for k, m in models.items()}
        _, t = _timed(lambda: {k: m.predict_arrays(*arrays) for k, m in threaded.items()})
        rows.append((f"predict {args.targets} targets one by one, nthread={nthread}", t))
        preds, t = _timed(lambda: predict_many(threaded, *arrays))
        rows.append((f"predict {args.targets} targets, shared features, nthread={nthread}", t))
    frame = pd.concat([pd.DataFrame({"arch_hash": hashes, "metric": "val_macro_accuracy", "budget": k,
                                     "mean": m, "std": s}) for k, (m, s) in preds.items()], ignore_index=True)
    with db.connect(store) as conn:
        _, t = _timed(lambda: db.write_predictions(conn, frame, "bench"))
    rows.append((f"write {len(frame):,} rows to DuckDB", t))

    print(f"\nsurrogate_predictions over {len(hashes):,} architectures, {args.targets} targets "
          f"(5 members x 400 trees, depth 3)\n")
    print(f"| {'stage':<52} | seconds |\n|{'-' * 54}|---------|")
    for name, seconds in rows:
        print(f"| {name:<52} | {seconds:7.2f} |")
    best = min(s for n, s in rows if "shared" in n)
    print(f"\nasset total (read + fastest predict + write): {rows[0][1] + best + rows[-1][1]:.1f} s")


if __name__ == "__main__":
    main()
