"""``python -m nas_assets data ...``: write a synthetic So2Sat dataset, check a data directory.

Only argparse is imported at module level; the commands import h5py/numpy when they run, so
``python -m nas_assets --help`` stays fast.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

EXAMPLES = """examples:
  python -m nas_assets data synth --out data/so2sat-synth                      # 2000/500/500 samples, seed 0
  python -m nas_assets data synth --out /tmp/s --train 20000 --val 0 --seed 3  # v3-style: no validation.h5
  python -m nas_assets data check data/so2sat-synth                             # validate, print a summary
  python -m nas_assets data check /data/so2sat_v3 --variant random --quick     # headers and labels only
"""


def _cmd_synth(args: argparse.Namespace) -> int:
    from nas_assets.train.data.synthetic import synthesize_so2sat

    t0 = time.perf_counter()
    try:
        written = synthesize_so2sat(
            args.out, n_train=args.train, n_val=args.val, n_test=args.test, seed=args.seed
        )
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    sizes = {"training": args.train, "validation": args.val, "testing": args.test}
    for split, path in written.items():
        print(f"{split:<11} {sizes[split]:>9,} samples  {path.stat().st_size / 2**20:>9.1f} MiB  {path}")
    print(f"wrote {len(written)} files to {args.out} in {time.perf_counter() - t0:.1f} s (seed {args.seed})")
    return 0


def _cmd_check(args: argparse.Namespace) -> int:
    from nas_assets.train.data.layout import So2SatLayoutError
    from nas_assets.train.data.summary import inspect_so2sat

    t0 = time.perf_counter()
    try:
        summary = inspect_so2sat(Path(args.data_dir), variant=args.variant, contents=not args.quick)
    except So2SatLayoutError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(summary.as_dict(), indent=1))
    else:
        print(summary.to_text())
        what = "headers and labels" if args.quick else "headers, labels and every value"
        print(f"\nok: {what} checked in {time.perf_counter() - t0:.1f} s")
    return 0


def add_data_commands(sub: argparse._SubParsersAction) -> None:
    """Add the ``data`` command group (``synth``, ``check``) to a top-level subparsers object."""
    data = sub.add_parser("data", help="So2Sat LCZ42 files: synthesise, check", epilog=EXAMPLES,
                          formatter_class=argparse.RawDescriptionHelpFormatter)
    data_sub = data.add_subparsers(dest="command", required=True)

    synth = data_sub.add_parser("synth", help="write a synthetic So2Sat dataset in the real HDF5 layout",
                                epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    synth.add_argument("--out", required=True, help="directory for training.h5, validation.h5, testing.h5")
    synth.add_argument("--train", type=int, default=2000, help="training samples (default 2000)")
    synth.add_argument("--val", type=int, default=500,
                       help="validation samples (default 500; 0: no validation.h5, the v3 layout)")
    synth.add_argument("--test", type=int, default=500, help="testing samples (default 500)")
    synth.add_argument("--seed", type=int, default=0, help="seed (same seed -> identical arrays)")
    synth.set_defaults(func=_cmd_synth)

    check = data_sub.add_parser("check", help="validate a So2Sat directory and print a summary",
                                epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    check.add_argument("data_dir", help="v2 directory, v3 variant directory, or v3 root with --variant")
    check.add_argument("--variant", choices=("random", "block", "culture_10"), help="v3 split strategy")
    check.add_argument("--quick", action="store_true", help="check headers and labels only, not every value")
    check.add_argument("--json", action="store_true", help="print the summary as JSON")
    check.set_defaults(func=_cmd_check)
