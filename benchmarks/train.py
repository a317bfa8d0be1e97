"""Benchmark of the training stage; prints a table.

    python benchmarks/train.py                   # data-loader section, 20,000 synthetic samples
    python benchmarks/train.py --n-train 5000    # smaller / faster
    python benchmarks/train.py --keep DIR        # generate into DIR and keep it (reused next time)

Sections are functions returning rows ``(section, what, value, unit, note)``; ``main`` runs them
and prints one table, so a GPU/CPU training-step section can be added beside the data one.

Data section, on a synthetic So2Sat dataset of the real layout generated into a temporary
directory, all in one run: the per-sample h5py read rate of ``training.h5`` (reading
``f['sen1'][i]``, ``f['sen2'][i]``, ``f['label'][i]`` one sample at a time), the same plus what
a naive ``Dataset.__getitem__`` and collate add (stack, signed log, z-score, torch.stack), the
bulk memory-mapped reader, the cache build and load, and the :class:`BatchLoader` from the
cache (fusion, batch 256) with and without augmentation, for the float16 (default) and uint8
caches; ratios against the per-sample rates. The files sit in the page cache (just written),
so the h5py rows are a best case: on a cold 56 GB dataset per-sample reads are disk-bound.
"""

from __future__ import annotations

import argparse
import platform
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

Row = tuple[str, str, float, str, str]


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def device_description() -> str:
    """CPU model, cores and torch threads; the GPU when there is one."""
    import os

    import torch

    text = (f"CPU {_cpu_name()}, {os.cpu_count()} cores, torch {torch.__version__} "
            f"({torch.get_num_threads()} threads)")
    if torch.cuda.is_available():
        text += f"; GPU {torch.cuda.get_device_name(0)}"
    return text


def _best_rate(fn: Callable[[], int], repeats: int = 3) -> float:
    """Items per second of the fastest of ``repeats`` runs (the machine is shared: take the best)."""
    best = 0.0
    for _ in range(repeats):
        t0 = time.perf_counter()
        n = fn()
        best = max(best, n / (time.perf_counter() - t0))
    return best


def bench_data(
    data_dir: Path, cache_dir: Path, n_train: int, batch_size: int = 256, epochs: int = 2
) -> list[Row]:
    """The So2Sat data layer: HDF5 reads, cache build, BatchLoader throughput."""
    import h5py

    from nas_assets.train.data import BatchLoader, build_cache, load_cache, synthesize_so2sat
    from nas_assets.train.data.layout import iter_sensor_blocks, open_split

    rows: list[Row] = []
    if not (data_dir / "training.h5").exists() or open_split(data_dir / "training.h5").n_samples != n_train:
        t0 = time.perf_counter()
        n_small = max(n_train // 20, 17)
        synthesize_so2sat(data_dir, n_train=n_train, n_val=n_small, n_test=n_small)
        rows.append(("data", "synthesize (train+val+test)", time.perf_counter() - t0, "s",
                     f"{n_train:,} training samples"))
    train_h5 = data_dir / "training.h5"

    # Per-sample h5py: a few hundred random samples, three reads each.
    import numpy as np

    picks = np.random.default_rng(0).choice(n_train, size=min(500, n_train), replace=False)

    def per_sample() -> int:
        with h5py.File(train_h5, "r") as f:
            s1, s2, lab = f["sen1"], f["sen2"], f["label"]
            for i in picks:
                s1[i], s2[i], lab[i]  # noqa: B018 - the reads are the point
        return len(picks)

    h5_rate = _best_rate(per_sample)
    rows.append(("data", "h5py per-sample read (sen1+sen2+label)", h5_rate, "samples/s",
                 f"{len(picks)} random samples"))

    def naive_dataset() -> int:
        # what a per-sample torch Dataset does: read, stack sensors, transform, z-score, collate
        import torch

        with h5py.File(train_h5, "r") as f:
            s1, s2, lab = f["sen1"], f["sen2"], f["label"]
            batch = []
            for i in picks:
                x = np.concatenate([s1[i], s2[i]], axis=-1).transpose(2, 0, 1).astype(np.float32)
                x[:8] = np.sign(x[:8]) * np.log1p(np.abs(x[:8]))
                x = (x - mean) / std
                batch.append((torch.from_numpy(x), int(lab[i].argmax())))
                if len(batch) == batch_size:
                    torch.stack([b[0] for b in batch]), torch.tensor([b[1] for b in batch])
                    batch = []
        return len(picks)

    mean = np.zeros((18, 1, 1), dtype=np.float32)
    std = np.ones((18, 1, 1), dtype=np.float32)
    naive_rate = _best_rate(naive_dataset)
    rows.append(("data", "naive Dataset: per-sample h5py + normalise + collate", naive_rate, "samples/s",
                 "single process, no DataLoader workers"))

    split = open_split(train_h5)

    def bulk() -> int:
        for _ in iter_sensor_blocks(split, "fusion"):
            pass
        return split.n_samples

    bulk_rate = _best_rate(bulk, repeats=2)
    rows.append(("data", f"bulk read via {split.reader} (float32, NaN check)", bulk_rate, "samples/s",
                 f"{bulk_rate / h5_rate:.1f}x per-sample h5py"))

    for dtype in ("float16", "uint8"):
        t0 = time.perf_counter()
        path = build_cache(data_dir, cache_dir, sensor="fusion", dtype=dtype, rebuild=True)
        rows.append(("data", f"cache build, fusion {dtype}", time.perf_counter() - t0, "s", path.name))
        t0 = time.perf_counter()
        cache = load_cache(path)
        first_load = time.perf_counter() - t0
        for augment in (False, True):
            loader = BatchLoader.from_cache(cache, "training", batch_size, augment=augment, seed=0)

            def epochs_fn(loader: BatchLoader = loader) -> int:
                n = 0
                for _ in range(epochs):
                    for xb, _ in loader:
                        n += len(xb)
                return n

            next(iter(loader))  # warm-up: first-touch page faults of the output allocations
            rate = _best_rate(epochs_fn)
            mode = "augment" if augment else "no augmentation"
            what = f"BatchLoader {dtype} cache, batch {batch_size}, {mode}"
            rows.append(("data", what, rate, "samples/s",
                         f"{rate / h5_rate:.1f}x per-sample h5py, {rate / naive_rate:.0f}x naive Dataset"))
        # a fresh cache's first read can still meet its own writeback; a later job's load looks
        # like the reload
        del cache, loader
        t0 = time.perf_counter()
        cache = load_cache(path)
        reload = time.perf_counter() - t0
        mb = cache.splits["training"][0].nbytes / 2**20
        rows.append(("data", f"cache load + CRC check, {dtype}", reload, "s",
                     f"training x {mb:,.0f} MiB; first load after the build {first_load:.2f} s"))
    return rows


def bench_cpu_demo(tmp: Path) -> list[Row]:
    """One demo-width architecture, 4 epochs on the demo synthetic data (2,000/500/500), CPU."""
    from nas_assets.core.cells.space import ArchSpec
    from nas_assets.train.config import DEMO_TRAINING
    from nas_assets.train.data import synthesize_so2sat
    from nas_assets.train.runner import train_architecture
    from nas_assets.train.so2sat_data import load_so2sat_arrays

    data_dir = tmp / "demo"
    synthesize_so2sat(data_dir, n_train=2000, n_val=500, n_test=500, seed=0)
    t0 = time.perf_counter()
    data = load_so2sat_arrays(data_dir, tmp / "demo_cache")
    cache_s = time.perf_counter() - t0
    chain_with_skip = [[0, 1, 1, 0, 0], [0, 0, 1, 0, 0], [0, 0, 0, 1, 0], [0, 0, 0, 0, 1], [0, 0, 0, 0, 0]]
    spec = ArchSpec.from_spec(chain_with_skip,
                              ["input", "conv3x3-bn-relu", "conv1x1-bn-relu", "maxpool3x3", "output"])
    t0 = time.perf_counter()
    record = train_architecture(spec, data, DEMO_TRAINING, tmp / "demo_runs", accelerator="cpu", resume=False,
                                progress_every_s=1e9)
    wall = time.perf_counter() - t0
    val = record["budgets"][-1]["val"]
    return [
        ("cpu", "demo data: cache build + load", cache_s, "s", "2,000 train samples, fusion float16"),
        ("cpu", "demo arch: 4 epochs, wall (target <= 60 s)", wall, "s",
         f"{record['trainable_parameters']:,} params; val acc {val['overall_accuracy']:.3f}, macro "
         f"{val['macro_accuracy']:.3f}"),
        ("cpu", "demo arch: training throughput", record["timings"]["train_images_per_second"], "img/s",
         f"stem {DEMO_TRAINING.stem_channels}, {DEMO_TRAINING.cells_per_stack} cell/stack, batch "
         f"{DEMO_TRAINING.batch_size}"),
    ]


def print_table(rows: list[Row]) -> None:
    width = max(len(r[1]) for r in rows)
    print(f"{'section':<8} {'measurement':<{width}} {'value':>14}  {'unit':<10} note")
    for section, what, value, unit, note in rows:
        shown = f"{value:,.0f}" if value >= 100 else f"{value:,.2f}"
        print(f"{section:<8} {what:<{width}} {shown:>14}  {unit:<10} {note}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n-train", type=int, default=20_000,
                        help="synthetic training samples (default 20,000)")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--keep", type=Path, default=None, help="generate into this directory and keep it")
    parser.add_argument("--skip-data", action="store_true", help="skip the data-loader section")
    parser.add_argument("--skip-cpu-demo", action="store_true", help="skip the CPU demo training section")
    args = parser.parse_args(argv)
    print(device_description())
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="nas_assets_bench_") as tmp:
        if not args.skip_data:
            data_dir = args.keep or Path(tmp) / "so2sat"
            rows += bench_data(data_dir, Path(tmp) / "cache", args.n_train, args.batch_size)
        if not args.skip_cpu_demo:
            rows += bench_cpu_demo(Path(tmp))
    print_table(rows)
    print("\nGPU training throughput: benchmarks/train_gpu.py (one prepared script for a CUDA machine)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
