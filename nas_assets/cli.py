"""``python -m nas_assets`` / ``nas-assets``: the space and the So2Sat data, without Dagster.

Examples:
    python -m nas_assets space export --out space.parquet
    python -m nas_assets space export --out s2.parquet --in-channels 10
    python -m nas_assets space hash --matrix 0110000000100000001000000000 ... \\
        --ops input,conv3x3-bn-relu,...,output
    python -m nas_assets data synth --out data/so2sat-synth
    python -m nas_assets data check data/so2sat-synth
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from nas_assets.core.nb101.protocol import NB101_STEM_CHANNELS
from nas_assets.locations import store_path

EXAMPLES = """examples:
  python -m nas_assets demo                                         # the whole pipeline, embedded default
  python -m nas_assets query --matrix 011001000 --ops input,conv3x3-bn-relu,output
  python -m nas_assets top --k 10 --budget 108
  python -m nas_assets space export --out space.parquet            # all 423,624 cells, So2Sat network costs
  python -m nas_assets space export --out cifar.parquet --in-channels 3 --num-classes 10
  python -m nas_assets space hash --matrix 0100001000 ... --ops input,conv3x3-bn-relu,output
  python -m nas_assets data synth --out data/so2sat-synth --train 2000 --val 500 --test 500 --seed 0
  python -m nas_assets data check data/so2sat-synth                 # validate So2Sat files, print a summary
"""


def _cmd_space_export(args: argparse.Namespace) -> int:
    from nas_assets.core.cells.cost import NetworkShape
    from nas_assets.core.cells.encoding import fla_neighbour_index
    from nas_assets.core.cells.enumeration import enumerate_space
    from nas_assets.core.cells.table import architecture_frame
    from nas_assets.core.settings import SettingError

    out = Path(args.out)
    if out.suffix != ".parquet":
        print(f"error: --out {out}: expected a .parquet file name", file=sys.stderr)
        return 2
    try:  # before the enumeration: a bad shape fails in a second, not after it
        shape = NetworkShape(in_channels=args.in_channels, num_classes=args.num_classes,
                             stem_channels=args.stem_channels)
    except SettingError as exc:
        print(f"error: {exc.as_option()}", file=sys.stderr)
        return 2
    t0 = time.perf_counter()
    space = enumerate_space(max_vertices=args.max_vertices, workers=args.workers)
    fla = fla_neighbour_index(space)
    frame = architecture_frame(space, shape, fla)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    frame.to_parquet(tmp, index=False)
    tmp.replace(out)  # atomic: a reader never sees a half-written file
    print(f"wrote {len(frame):,} architectures to {out} in {time.perf_counter() - t0:.1f} s")
    return 0


def _cmd_space_hash(args: argparse.Namespace) -> int:
    from nas_assets.core.cells.cost import NetworkShape, network_cost_batch
    from nas_assets.core.cells.space import ArchSpec, InvalidSpecError, string_to_matrix
    from nas_assets.core.settings import SettingError

    try:
        spec = ArchSpec.from_spec(string_to_matrix(args.matrix), args.ops.split(","))
    except InvalidSpecError as exc:
        print(f"invalid spec: {exc}", file=sys.stderr)
        return 2
    try:
        shape = NetworkShape(in_channels=args.in_channels, num_classes=args.num_classes,
                             stem_channels=args.stem_channels)
    except SettingError as exc:
        print(f"error: {exc.as_option()}", file=sys.stderr)
        return 2
    params, flops = network_cost_batch(*spec.padded(), shape)
    print(f"hash     {spec.arch_hash}")
    print(f"matrix   {spec.matrix_string()}  ({spec.n_vertices} vertices, {spec.n_edges} edges, pruned)")
    print(f"ops      {spec.ops_string()}")
    print(f"params   {int(params[0]):,}")
    print(f"flops    {int(flops[0]):,}")
    return 0


DB_HELP = ("the DuckDB store (default: $NAS_ASSETS_DB, else $NAS_ASSETS_DATA_DIR/nas_assets.duckdb, else "
           "data/nas_assets.duckdb)")
CONFIG_HELP = ("training configuration of the trained values (training_runs.config_key, or a run key of one "
               "of its runs); default: the one with the most trained architectures, named in the answer")


def _cmd_query(args: argparse.Namespace) -> int:
    import json

    from nas_assets.core.cells.space import ArchSpec, InvalidSpecError, string_to_matrix
    from nas_assets.core.store import StoreError
    from nas_assets.query_api import Benchmark

    try:
        # fail fast, before loading
        spec = ArchSpec.from_spec(string_to_matrix(args.matrix), args.ops.split(","))
        out = Benchmark.open(args.db or store_path(), args.config).query_hash(spec.arch_hash, args.budget,
                                                                              args.metric)
    except (InvalidSpecError, StoreError, LookupError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(out, indent=1, default=str))
    return 0


def _cmd_top(args: argparse.Namespace) -> int:
    from nas_assets.core.store import StoreError
    from nas_assets.query_api import Benchmark

    try:
        frame = Benchmark.open(args.db or store_path(), args.config).top(args.k, args.budget, args.metric,
                                                                         args.source)
    except (StoreError, LookupError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(frame.to_string(index=False))
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from nas_assets.demo import main as demo_main

    return demo_main()


def _add_shape_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--in-channels", type=int, default=18, help="input channels (default 18: So2Sat S1+S2)")
    p.add_argument("--num-classes", type=int, default=17, help="classes (default 17: LCZ42)")
    p.add_argument("--stem-channels", type=int, default=NB101_STEM_CHANNELS,
                   help=f"stem width (default {NB101_STEM_CHANNELS}, as NB101)")


def _at_least_one(text: str) -> int:
    """argparse type: a whole number >= 1 (argparse names the option in the message)."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a whole number >= 1")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m nas_assets",
        description="nas_assets: NAS-Bench-101 benchmarks on Earth-observation data.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="group", required=True)
    space = sub.add_parser("space", help="the NAS-Bench-101 cell space", epilog=EXAMPLES,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    space_sub = space.add_subparsers(dest="command", required=True)

    export = space_sub.add_parser("export", help="write every architecture to a Parquet file")
    export.add_argument("--out", required=True, help="output .parquet path")
    export.add_argument("--max-vertices", type=int, default=7,
                        help="restrict to cells with at most V vertices (2..7)")
    export.add_argument("--workers", type=int, default=None,
                        help="hashing processes (default: available CPUs)")
    _add_shape_args(export)
    export.set_defaults(func=_cmd_space_export)

    hsh = space_sub.add_parser("hash", help="prune, validate and hash one cell; print its size and cost")
    hsh.add_argument("--matrix", required=True, help="row-major '0'/'1' string of the V x V adjacency")
    hsh.add_argument("--ops", required=True, help="comma-separated op names, input first, output last")
    _add_shape_args(hsh)
    hsh.set_defaults(func=_cmd_space_hash)

    query = sub.add_parser("query", help="metrics of one cell: trained values or the surrogate's prediction")
    query.add_argument("--matrix", required=True, help="row-major '0'/'1' string of the V x V adjacency")
    query.add_argument("--ops", required=True, help="comma-separated op names, input first, output last")
    query.add_argument("--budget", type=int, help="epoch budget (default: the largest available)")
    query.add_argument("--metric", default="val_macro_accuracy",
                       help="val_macro_accuracy, val_overall_accuracy, val_kappa")
    query.add_argument("--db", default=None, help=DB_HELP)
    query.add_argument("--config", default=None, help=CONFIG_HELP)
    query.set_defaults(func=_cmd_query)

    top = sub.add_parser("top", help="the best architectures (trained where measured, predicted elsewhere)")
    top.add_argument("--k", type=_at_least_one, default=10, help="rows to print (>= 1, default 10)")
    top.add_argument("--budget", type=int, help="epoch budget (default: the largest available)")
    top.add_argument("--metric", default="val_macro_accuracy")
    top.add_argument("--source", default="any", choices=["any", "trained", "surrogate"])
    top.add_argument("--db", default=None, help=DB_HELP)
    top.add_argument("--config", default=None, help=CONFIG_HELP)
    top.set_defaults(func=_cmd_top)

    demo = sub.add_parser("demo", help="run the whole pipeline on the embedded default (synthetic data, "
                                       "local training)")
    demo.set_defaults(func=_cmd_demo)

    # argparse only at import: the data commands load h5py/numpy when they run
    from nas_assets.train.data.cli import add_data_commands

    add_data_commands(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
