"""``python -m nas_assets.train``: train one architecture (what a SLURM job or a local process runs).

Examples:
    python -m nas_assets.train --arch 0110...:input,conv3x3-bn-relu,...,output --data data/so2sat --out runs/
    python -m nas_assets.train --arch <hash> --store data/nas_assets.duckdb --data DIR --out DIR \
        --epochs 4,12,36,108 --protocol nb101 --devices 4 --accelerator gpu
    srun python -m nas_assets.train ... --devices 4 --num-nodes 1    # ranks from SLURM
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from dataclasses import MISSING, Field, fields
from pathlib import Path

from nas_assets.core.cells.space import ArchSpec, InvalidSpecError, string_to_matrix
from nas_assets.train.config import TrainConfig


class ArchNotFound(LookupError):
    pass


def resolve_arch(text: str, store: str | None = None) -> ArchSpec:
    """``MATRIX:OPS`` (row-major '0'/'1' matrix, comma-separated ops) or a 32-hex NB101 hash.

    A hash is looked up in the DuckDB store when given, else in a fresh enumeration (~12 s).
    """
    if ":" in text:
        matrix, ops = text.split(":", 1)
        return ArchSpec.from_spec(string_to_matrix(matrix), ops.split(","))
    text = text.strip().lower()
    if len(text) != 32 or any(c not in "0123456789abcdef" for c in text):
        raise InvalidSpecError(f"--arch {text!r}: expected a 32-hex NB101 hash or MATRIX:OPS")
    if store:
        from nas_assets.core import store as db
        from nas_assets.core.store.space import cell_strings

        with db.connect(store, read_only=True) as conn:
            cell = cell_strings(conn, text)
        if cell is None:
            raise ArchNotFound(f"--arch {text}: not in the architectures table of {store}")
        return ArchSpec.from_strings(*cell)
    from nas_assets.core.cells.enumeration import enumerate_space

    space = enumerate_space()
    hits = (space.hashes == text).nonzero()[0]
    if hits.size == 0:
        raise ArchNotFound(f"--arch {text}: not a NAS-Bench-101 architecture hash")
    i = int(hits[0])
    return ArchSpec.from_spec(space.matrix(i), space.ops(i))


def _budgets(text: str) -> tuple[int, ...]:
    """``--epochs`` as a tuple; argparse prefixes the option's name to the message."""
    try:
        budgets = tuple(int(b) for b in text.split(",") if b.strip())
    except ValueError:
        budgets = ()
    if not budgets or min(budgets) < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: expected comma-separated whole numbers >= 1, e.g. "
                                         "4,12,36,108")
    return budgets


def _writable_dir(path: Path) -> str | None:
    """None when result files can be written under ``path`` (created if absent), else why not."""
    import tempfile

    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as exc:
        return (f"--out {path}: cannot write result files there ({exc.strerror or exc}); "
                "choose a writable directory")
    return None


def option(f: Field) -> str | None:
    """The command-line option of a :class:`TrainConfig` field (None: set in a ``--config`` file only)."""
    flag = f.metadata.get("flag", "")
    return None if flag is None else flag or "--" + f.name.replace("_", "-")


def add_setting_options(parser: argparse._ActionsContainer) -> None:
    """An option per :class:`TrainConfig` field that has one: name, type, choices and help from the
    field, the default shown from it. Options left out are absent from the parsed namespace
    (``SUPPRESS``), so a ``--config`` file, else the dataclass, supplies them."""
    from typing import Literal, get_args, get_origin, get_type_hints

    from nas_assets.train.config import setting_fields

    hints = get_type_hints(TrainConfig)
    for f in setting_fields():
        flag = option(f)
        if flag is None:
            continue
        cli = dict(f.metadata["cli"])
        default = f.default_factory() if f.default is MISSING else f.default  # type: ignore[misc]
        shown = (",".join(map(str, default)) if isinstance(default, tuple) else "none" if default is None
                 else ("on" if default else "off") if isinstance(default, bool) else default)
        kind = hints[f.name]
        if type(None) in get_args(kind):  # Optional[X]: the option gives an X
            kind = next(a for a in get_args(kind) if a is not type(None))
        if "action" not in cli:
            if get_origin(kind) is Literal:
                cli.setdefault("choices", get_args(kind))
                kind = str
            cli.setdefault("type", _budgets if get_origin(kind) is tuple else kind)
        what = f.metadata["help"]
        if "const" in cli:  # a switch: say which way it turns the setting
            what = f"{what}: {'on' if cli['const'] else 'off'}"
        parser.add_argument(flag, dest=f.name, default=argparse.SUPPRESS, help=f"{what} (default {shown})",
                            **cli)


def train_config(args: argparse.Namespace) -> TrainConfig:
    """The training configuration of parsed arguments: the defaults, then the ``--config`` file's
    fields, then the options given (raises ``ValueError`` / ``SettingError`` naming the field)."""
    base = TrainConfig.from_file(args.config) if args.config else TrainConfig()
    given = {f.name: getattr(args, f.name) for f in fields(TrainConfig) if hasattr(args, f.name)}
    return TrainConfig.from_dict(given, base)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m nas_assets.train",
        description="Train one NAS-Bench-101 architecture on So2Sat LCZ42 (or a synthetic So2Sat-format "
                    "dataset).",
        epilog=__doc__.split("Examples:", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--arch", required=True, help="NB101 hash, or MATRIX:OPS (row-major 0/1 string : "
                                                 "comma-separated ops)")
    p.add_argument("--store", help="DuckDB store to look a hash up in (default: enumerate the space)")
    p.add_argument("--data", required=True, help="So2Sat directory (training.h5, validation.h5, testing.h5)")
    p.add_argument("--out", required=True, help="directory for <hash>.json (and checkpoints/)")
    p.add_argument("--cache-dir", help="normalised-array cache (default: <data>/.nas_assets_cache)")
    p.add_argument("--sensor", default="fusion", choices=["fusion", "s1", "s2"], help="input bands (default "
                                                                                      "fusion: 18)")
    p.add_argument("--s1-transform", default="signed_log", choices=["signed_log", "clip"], help="S1 "
                                                                                                "heavy-tail "
                                                                                                "treatment")
    p.add_argument("--stats", default="train", choices=["train", "spec"], help="z-score statistics source")
    p.add_argument("--config", metavar="FILE",
                   help="JSON training configuration (any TrainConfig fields, e.g. written by the Dagster "
                        "launcher); the options below override it")
    add_setting_options(p.add_argument_group("training configuration (defaults: TrainConfig's)"))
    p.add_argument("--accelerator", default="auto", choices=["auto", "cpu", "gpu"])
    p.add_argument("--devices", type=int, default=1, help="processes (GPUs) per node; >1 uses DDP")
    p.add_argument("--num-nodes", type=int, default=1)
    p.add_argument("--no-resume", action="store_true", help="ignore an existing last.ckpt")
    p.add_argument("--force", action="store_true",
                   help="train even if the result file exists (and replace it); without it, a result of the "
                        "same "
                        "configuration is reused and one of another configuration is an error")
    p.add_argument("--lock-wait", type=float, default=None,
                   help="seconds to wait for another live trainer of this result (default: as long as it "
                        "runs)")
    p.add_argument("--progress-every", type=float, default=30.0, help="seconds between progress lines")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from nas_assets.core.settings import SettingError
    from nas_assets.train.data import find_splits
    from nas_assets.train.placement import check_placement

    def fail(message: str) -> int:
        print(f"error: {message}", file=sys.stderr)
        return 2

    try:  # every setting is checked before anything is read, trained or written
        spec = resolve_arch(args.arch, args.store)
        config = train_config(args)
        check_placement(args.accelerator, args.devices, args.num_nodes)
        if not args.progress_every > 0:
            raise SettingError("progress_every", args.progress_every, "a number of seconds > 0")
        find_splits(args.data)  # a missing or malformed --data fails now, also when a result exists
    except SettingError as exc:  # a setting of the --config file is named as the file has it
        from_file = (args.config and not hasattr(args, exc.name)
                     and exc.name in {f.name for f in fields(TrainConfig)})
        return fail(f"{args.config}: {exc}" if from_file else exc.as_option())
    except (InvalidSpecError, ArchNotFound, ValueError) as exc:  # So2SatLayoutError included
        return fail(str(exc))
    out = Path(args.out)
    problem = _writable_dir(out)
    if problem:
        return fail(problem)
    from nas_assets.train.cpus import allotted_cpus, configure_threads, cpu_sharing

    try:  # the CPUs this process was given (SLURM, affinity, cgroup), not the machine's
        cpus = allotted_cpus(local_ranks=max(1, args.devices))
        sharing = cpu_sharing()
    except ValueError as exc:
        return fail(str(exc))
    configure_threads(cpus)

    from nas_assets.train.partition_lock import PartitionBusy, claim, first_rank

    partition = None
    if first_rank():  # one trainer per result: wait for a live one (then reuse its result), never beside it
        try:
            partition = claim(out, spec.arch_hash, wait_s=args.lock_wait)
        except PartitionBusy as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 3
        except OSError as exc:
            print(f"error: cannot lock {exc.filename}: {exc.strerror}", file=sys.stderr)
            return 2
    try:  # released when main returns, not at process exit: main() may run again in this process
        return _train_or_reuse(args, spec, config, out, cpus, sharing)
    finally:
        if partition is not None:
            partition.release()


def _train_or_reuse(args: argparse.Namespace, spec, config, out: Path, cpus, sharing: str) -> int:
    """The rest of :func:`main`, run while the partition's lock is held."""
    from nas_assets.train.reporting import REPORTER
    from nas_assets.train.reuse import ResultConflict, check_reusable
    from nas_assets.train.runner import result_path, train_architecture
    from nas_assets.train.so2sat_data import load_so2sat_arrays

    def fail(message: str) -> int:
        print(f"error: {message}", file=sys.stderr)
        return 2

    existing = result_path(out, spec)
    if existing.exists() and not args.force:
        try:  # reused only when it measured the same thing; placement (devices, accelerator) does not count
            check_reusable(existing, config, {"source": str(Path(args.data).resolve()), "sensor": args.sensor,
                                              "s1_transform": args.s1_transform, "stats": args.stats})
        except ResultConflict as exc:
            return fail(str(exc))
        print(f"{existing} exists with the same configuration; nothing to do (accelerator and devices do not "
              f"change what is measured; use --force to train again)")
        return 0
    from nas_assets.train.cpu_share import TRAININGS_DIR_VAR, registered
    from nas_assets.train.partition_lock import first_rank
    from nas_assets.train.thread_share import ThreadShare

    # started by the local launcher: share the machine's CPUs with the other trainings it runs;
    # made before the data load, so the first count already knows how busy the machine was
    trainings_dir = Path(os.environ[TRAININGS_DIR_VAR]) if os.environ.get(TRAININGS_DIR_VAR) else None
    share = ThreadShare(cpus.threads, trainings_dir, fixed=sharing == "fixed")
    data_dir = Path(args.data)
    cache_dir = Path(args.cache_dir) if args.cache_dir else data_dir / ".nas_assets_cache"
    try:  # the cache builder locks per config: one rank/job builds it, the others reuse it
        data = load_so2sat_arrays(data_dir, cache_dir, args.sensor, args.s1_transform, args.stats)
    except ValueError as exc:  # layout errors name the file, dataset and expectation
        return fail(str(exc))
    ticket = (registered(trainings_dir) if trainings_dir is not None and first_rank()
              else contextlib.nullcontext())
    with REPORTER, ticket:  # Dagster Pipes when launched by Dagster (global rank 0 only)
        record = train_architecture(
            spec, data, config, out, accelerator=args.accelerator, devices=args.devices,
            num_nodes=args.num_nodes,
            resume=not args.no_resume, progress_every_s=args.progress_every,
            # who started it, for training_runs.launcher: a SLURM job, Dagster's local launcher, or a person
            run_info={"launcher": "slurm" if os.environ.get("SLURM_JOB_ID")
                      else "dagster-local" if os.environ.get("DAGSTER_PIPES_CONTEXT") else "cli",
                      # the count itself is environment.cpu_threads (per rank; the threads its
                      # steps used beside other local trainings: environment.cpu_threads_steps)
                      "cpu_threads_from": cpus.source},
            thread_share=share,
        )
        if record is not None:
            val = record["budgets"][-1]["val"] if record["budgets"] else {}
            REPORTER.info(
                f"done {spec.arch_hash}: val acc {val.get('overall_accuracy', float('nan')):.4f}, "
                f"macro {val.get('macro_accuracy', float('nan')):.4f}, train "
                f"{record['timings']['train_seconds']:.1f} s "
                f"-> {result_path(out, spec)}"
            )
            REPORTER.result(str(result_path(out, spec)),
                            {"val_overall_accuracy": val.get("overall_accuracy")})
    return 0
