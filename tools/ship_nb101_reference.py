"""Build the NB101 CIFAR-10 reference shipped in the package
(nas_assets/core/nb101/data/nb101_cifar10_20k.npz).

Run once by a maintainer who has the export beside the checkout; the product and the tests only
read the ``.npz`` it writes::

    .venv/bin/python tools/ship_nb101_reference.py ../shared/reference/nb101_cifar10_20k.json

The export (tiga1231/nasbench-vis, 20,001 NAS-Bench-101 cells keyed by hash, no matrices) is
joined on the hash with our enumeration of the space, so every row also carries its pruned
cell (the 21 upper-triangle bits, packed, and the 7 padded labels). Values are kept as the
export's float32 numbers: the copy is lossless.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from nas_assets.core.cells.enumeration import enumerate_space
from nas_assets.core.nb101.reader import BUDGETS
from nas_assets.core.nb101.shipped import SHIPPED_REFERENCE, pack_cells


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("export", type=Path,
                        help="nb101_cifar10_20k.json (columns as lists, 'key' the NB101 hash)")
    parser.add_argument("--out", type=Path, default=None, help="default: the package's data file")
    args = parser.parse_args(argv)
    data = json.loads(args.export.read_text())
    keys = np.asarray(data["key"], dtype="U32")
    space = enumerate_space()
    order = np.argsort(space.hashes)
    pos = np.searchsorted(space.hashes, keys, sorter=order)
    rows = order[np.minimum(pos, len(order) - 1)]
    missing = space.hashes[rows] != keys
    if missing.any():
        print(f"{args.export}: {int(missing.sum())} keys are not NB101 cells, e.g. {keys[missing][:3]}",
              file=sys.stderr)
        return 1
    bits, labels = pack_cells(space.matrices[rows], space.labels[rows])
    out = args.out or Path(str(SHIPPED_REFERENCE))
    arrays = {
        "arch_hash": np.frombuffer(bytes.fromhex("".join(keys.tolist())), dtype=np.uint8).reshape(-1, 16),
        "edge_bits": bits,
        "labels": labels,
        "budgets": np.asarray(BUDGETS, dtype=np.int16),
        "val_accuracy": np.stack([np.asarray(data[f"{b}_final_validation_accuracy"], dtype=np.float32)
                                  for b in BUDGETS], axis=1),
        "training_time_108": np.asarray(data["final_training_time"], dtype=np.float32),
        "trainable_parameters": np.asarray(data["trainable_parameters"], dtype=np.int32),
    }
    np.savez_compressed(out, **arrays)
    print(f"{out}: {len(keys)} cells, {out.stat().st_size / 1e6:.2f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
