"""Benchmark of the space stage; prints a table.

    python benchmarks/space.py            # full table (~2 min on 2 cores)
    python benchmarks/space.py --quick    # skip the graph-edit index and the reference loop

Each measurement runs in a fresh child process so its peak RSS is its own. The reference row
replays NAS-Bench-101's ``generate_graphs.py`` loop with ``nasbench-pytorch``'s
``graph_util.hash_module`` (test extra) on the V <= 6 subset, in the same run, for a ratio.
"""

from __future__ import annotations

import argparse
import importlib.util
import itertools
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path


def _stage(name: str) -> dict:
    import numpy as np

    from nas_assets.core.cells import encoding
    from nas_assets.core.cells.enumeration import enumerate_space

    t0 = time.perf_counter()
    extra: dict = {}
    if name == "enumerate":
        space = enumerate_space()
        extra["architectures"] = len(space)
    elif name == "enumerate_1_worker":
        space = enumerate_space(workers=1)
        extra["architectures"] = len(space)
    elif name == "enumerate_v6":
        space = enumerate_space(max_vertices=6)
        extra["architectures"] = len(space)
    elif name == "reference_v6":
        extra["architectures"] = _reference_enumeration(6)
    else:
        space = enumerate_space()
        t0 = time.perf_counter()
        if name == "fla_index":
            index = encoding.fla_neighbour_index(space)
            extra["isolated"] = int((index.degrees == 0).sum())
        elif name == "graph_edit_index":
            index = encoding.graph_edit_neighbour_index(space)
            extra["isolated"] = int((index.degrees == 0).sum())
        else:
            raise SystemExit(f"unknown stage {name}")
        extra["pairs"] = int(index.indices.size)
        extra["mean_degree"] = round(float(np.mean(index.degrees)), 2)
    seconds = time.perf_counter() - t0
    peak = max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
               resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
    return {"stage": name, "seconds": round(seconds, 2), "peak_rss_mb": round(peak / 1024), **extra}


def _reference_enumeration(max_vertices: int) -> int:
    """NB101's generate_graphs.py loop, hashing with the reference hash_module."""
    import numpy as np

    spec = importlib.util.find_spec("nasbench_pytorch")
    if spec is None:
        raise SystemExit("nasbench-pytorch is not installed: pip install -e '.[test]'")
    path = Path(list(spec.submodule_search_locations)[0]) / "model" / "graph_util.py"
    mod_spec = importlib.util.spec_from_file_location("_graph_util", path)
    gu = importlib.util.module_from_spec(mod_spec)
    mod_spec.loader.exec_module(gu)
    buckets = {}
    for vertices in range(2, max_vertices + 1):
        for bits in range(2 ** (vertices * (vertices - 1) // 2)):
            matrix = np.fromfunction(gu.gen_is_edge_fn(bits), (vertices, vertices), dtype=np.int8)
            if not gu.is_full_dag(matrix) or gu.num_edges(matrix) > 9:
                continue
            for labeling in itertools.product(range(3), repeat=vertices - 2):
                labels = [-1] + list(labeling) + [-2]
                fingerprint = gu.hash_module(matrix, labels)
                if fingerprint not in buckets:
                    buckets[fingerprint] = (matrix.tolist(), labels)
    return len(buckets)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="skip the slow rows")
    parser.add_argument("--stage", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.stage:
        print(json.dumps(_stage(args.stage)))
        return
    stages = ["enumerate", "enumerate_1_worker", "fla_index"]
    if not args.quick:
        stages += ["graph_edit_index", "enumerate_v6", "reference_v6"]
    rows = []
    for stage in stages:
        out = subprocess.run([sys.executable, __file__, "--stage", stage], capture_output=True, text=True,
                             check=True)
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
        print(f"  done: {stage} ({rows[-1]['seconds']} s)", file=sys.stderr)
    print(f"\nnas_assets space benchmark  ({os.cpu_count()} CPUs, Python {sys.version.split()[0]})\n")
    header = f"{'stage':<22}{'seconds':>10}{'peak RSS MB':>13}  details"
    print(header)
    print("-" * (len(header) + 30))
    for r in rows:
        details = ", ".join(f"{k}={v}" for k, v in r.items() if k not in ("stage", "seconds", "peak_rss_mb"))
        print(f"{r['stage']:<22}{r['seconds']:>10.2f}{r['peak_rss_mb']:>13}  {details}")
    by = {r["stage"]: r for r in rows}
    if "reference_v6" in by:
        ratio = by["reference_v6"]["seconds"] / by["enumerate_v6"]["seconds"]
        print(f"\nV<=6 subset: reference loop {by['reference_v6']['seconds']:.1f} s vs nas_assets "
              f"{by['enumerate_v6']['seconds']:.2f} s -> {ratio:.0f}x faster")
    print("targets: full enumeration incl. hashes <= 30 s (stretch 10 s); neighbour index <= 60 s, <= 4 GB")


if __name__ == "__main__":
    main()
