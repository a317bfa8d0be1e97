"""Orchestration benchmark: a backfill of ``trained_architecture`` through a real Dagster daemon,
webserver and instance, with a tiny real training, so that what is measured is the cost of
orchestration (run start, definitions load, Pipes, ingest), not of training. Prints a table.

    python benchmarks/orchestration.py [--partitions 930] [--design paper|small] [--batch N ...]
                                       [--launcher local|slurm] [--keep DIR]

``--batch`` takes several values: one backfill each (1 = a Dagster run per partition; N = runs of
up to N partitions, BackfillPolicy.multi_run). ``--launcher slurm`` needs the local cluster
(``bash slurm/cluster.sh start``, SLURM_CONF set). Figures: docs/orchestration.md.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.orchestration.harness import prepare, run_backfill, table  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--partitions", type=int, default=930)
    parser.add_argument("--design", choices=("paper", "small"), default="paper",
                        help="paper: the paper design's first N cells (enumerates the space, ~2 min); "
                             "small: N seeded cells with <= 5 vertices")
    parser.add_argument("--batch", type=int, nargs="+", default=[25], help="partitions per run, one backfill "
                                                                           "each")
    parser.add_argument("--launcher", choices=("local", "slurm"), default="local")
    parser.add_argument("--timeout", type=float, default=4 * 3600, help="seconds per backfill")
    parser.add_argument("--keep", type=Path, help="keep the instances and logs under this directory")
    args = parser.parse_args()
    slurm_config = {"time_limit": None, "poll_interval_s": 2.0} if args.launcher == "slurm" else None
    if args.launcher == "slurm" and not os.environ.get("SLURM_CONF"):
        parser.error("--launcher slurm: set SLURM_CONF (eval \"$(bash slurm/cluster.sh env)\")")
    outcomes = []
    with tempfile.TemporaryDirectory(dir=args.keep) as tmp:
        for batch in args.batch:
            root = Path(tmp) / f"batch{batch}"
            root.mkdir(parents=True)
            t0 = time.perf_counter()
            setup = prepare(root, args.partitions, args.design, args.launcher, batch, slurm_config)
            print(f"prepared {args.partitions} partitions ({args.design} design) in "
                  f"{time.perf_counter() - t0:.0f} s; "
                  f"backfilling {batch} per run ...", flush=True)
            outcome = run_backfill(setup, timeout_s=args.timeout, progress=True)
            outcomes.append(outcome)
            for error in outcome.dagster_errors[:5]:
                print(f"  step failure: {error}")
        load = os.getloadavg()
        print(f"\norchestration benchmark: {args.partitions} partitions of the {args.design} design, "
              "launcher "
              f"{args.launcher}, {os.cpu_count()} CPUs, load average at the end "
              f"{load[0]:.1f}/{load[1]:.1f}/{load[2]:.1f}\n")
        print(table(outcomes))
        if args.keep:
            input_dir = Path(tmp)
            print(f"\ninstances and logs kept under {input_dir}")
            os.rename(input_dir, args.keep / f"orchestration-{int(time.time())}")
            os.makedirs(input_dir)


if __name__ == "__main__":
    main()
