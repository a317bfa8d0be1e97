"""A busy machine must not stall training (issue 13): the same CPU training alone, beside a hog, two at once.

    python benchmarks/contention.py                 # ~2 min on 2 cores
    python benchmarks/contention.py --no-share      # the trainings do not count each other (before)
    python benchmarks/contention.py --env OMP_WAIT_POLICY=ACTIVE   # an environment variable for the trainings

Every training is a real ``python -m nas_assets.train`` process started by the local launcher's
:func:`~nas_assets.launch.local.run_local` (the path Dagster's ``LocalLauncher`` takes), on a
synthetic So2Sat-format dataset (cache built beforehand), CPU only. Scenarios, in one run so that
the ratios compare like with like:

- *one after the other*: the training twice in a row (the reference: the sum of the two walls);
- *beside a CPU hog*: the training while a busy-loop process per core runs (fair share on
  ``n`` cores beside ``n`` hogs is half the machine: 2x);
- *two at once*: the two trainings started together through the launcher.

Targets (issue 13): beside the hog <= 2.5x alone; two at once <= 1.2x one after the other.
The machine may be shared: the load average before and after is printed; run it when it is low.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

#: A chain with a skip: conv3x3 -> conv1x1 -> maxpool, the demo's architecture.
ARCH = "0110000100000100000100000:input,conv3x3-bn-relu,conv1x1-bn-relu,maxpool3x3,output"
HOG_TARGET = 2.5
PAIR_TARGET = 1.2


@dataclass
class Training:
    """One finished training: its wall time (process start to exit) and what its result file says."""

    wall_s: float
    train_s: float
    threads_steps: dict


def train_command(data: Path, cache: Path, out: Path, epochs: int, n_stem: int) -> list[str]:
    return [sys.executable, "-m", "nas_assets.train", "--arch", ARCH, "--data", str(data), "--cache-dir",
            str(cache),
            "--out", str(out), "--epochs", str(epochs), "--protocol", "snapshot", "--stem-channels",
            str(n_stem),
            "--cells-per-stack", "1", "--batch-size", "64", "--accelerator", "cpu", "--force", "--no-resume",
            "--progress-every", "1e9"]


def run_training(command: list[str], out: Path, env: dict, trainings_dir: Path | None) -> Training:
    from nas_assets.launch.local import run_local

    outcome = run_local(command, env, out / "train.log", trainings_dir=trainings_dir)
    if outcome.returncode != 0:
        raise RuntimeError(f"training failed ({outcome.returncode}); see {out / 'train.log'}")
    record = json.loads(next(out.glob("*.json")).read_text())
    return Training(outcome.elapsed_s, record["timings"]["train_seconds"],
                    record["environment"]["cpu_threads_steps"])


@contextmanager
def cpu_hogs(count: int) -> Iterator[None]:
    """``count`` busy-loop processes for the duration of the block."""
    hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(count)]
    try:
        time.sleep(0.5)
        yield
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait()


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n-train", type=int, default=2000,
                        help="synthetic training samples (default 2,000)")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--stem-channels", type=int, default=16)
    parser.add_argument("--no-share", action="store_true", help="no trainings directory: trainings do not "
                                                                "count each other")
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE", help="for the trainings")
    args = parser.parse_args(argv)
    from nas_assets.train.data import synthesize_so2sat
    from nas_assets.train.so2sat_data import load_so2sat_arrays

    env = dict(item.split("=", 1) for item in args.env)
    cores = len(os.sched_getaffinity(0))
    print(f"{cores} cores; load average before {load()}; trainings' extra environment {env or '-'}; "
          f"sharing {'off' if args.no_share else 'on'}")
    with tempfile.TemporaryDirectory(prefix="nas_assets_contention_") as tmp_name:
        tmp = Path(tmp_name)
        data, cache = tmp / "so2sat", tmp / "cache"
        synthesize_so2sat(data, n_train=args.n_train, n_val=170, n_test=170, seed=0)
        load_so2sat_arrays(data, cache)  # built once: the trainings only load it
        trainings_dir = None if args.no_share else tmp / "trainings"
        runs = iter(range(1000))

        def one() -> Training:
            out = tmp / f"run{next(runs)}"
            return run_training(train_command(data, cache, out, args.epochs, args.stem_channels), out, env,
                                trainings_dir)

        alone = [one(), one()]
        with cpu_hogs(cores):
            hogged = one()
        pair: list[Training] = []
        threads = [threading.Thread(target=lambda: pair.append(one())) for _ in range(2)]
        started = time.monotonic()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        pair_wall = time.monotonic() - started
        if len(pair) != 2:
            raise RuntimeError("a training of the pair failed")
    sequential = alone[0].wall_s + alone[1].wall_s
    hog_ratio = hogged.wall_s / (sequential / 2)
    pair_ratio = pair_wall / sequential

    def verdict(ratio: float, target: float) -> str:
        return f"{'PASS' if ratio <= target else 'FAIL'} (target <= {target}x)"

    rows = [
        ("alone (mean of 2, one after the other)", sequential / 2, sum(t.train_s for t in alone) / 2,
         alone[0].threads_steps, "1.00x"),
        (f"beside {cores} busy-loop processes", hogged.wall_s, hogged.train_s, hogged.threads_steps,
         f"{hog_ratio:.2f}x alone  {verdict(hog_ratio, HOG_TARGET)}"),
        ("one after the other (2 trainings)", sequential, sum(t.train_s for t in alone), "", "1.00x"),
        ("two at once through the launcher", pair_wall, max(t.train_s for t in pair),
         " + ".join(json.dumps(t.threads_steps) for t in pair),
         f"{pair_ratio:.2f}x one after the other  {verdict(pair_ratio, PAIR_TARGET)}"),
    ]
    print(f"\n{'scenario':<40} {'wall s':>7} {'train s':>8}  {'threads: steps':<26} ratio")
    for name, wall, train, steps, ratio in rows:
        shown = json.dumps(steps) if isinstance(steps, dict) else steps
        print(f"{name:<40} {wall:>7.1f} {train:>8.1f}  {shown:<26} {ratio}")
    print(f"\nload average after {load()}; training: {args.n_train:,} samples, {args.epochs} epochs, "
          f"stem {args.stem_channels}, 1 cell per stack, batch 64")
    return 0 if hog_ratio <= HOG_TARGET and pair_ratio <= PAIR_TARGET else 1


if __name__ == "__main__":
    raise SystemExit(main())
