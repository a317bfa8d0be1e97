"""Training result files: validation and flattening into the DuckDB result tables.

A training job writes one JSON record per architecture and run configuration (see
``nas_assets.train.runner``). The Dagster step -- the only DuckDB writer -- validates it here
and hands the rows to ``store.write_results``. Pure Python + pandas: no torch needed.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable

from nas_assets.core import run_keys as keys
from nas_assets.core.cells.space import ArchSpec, InvalidSpecError
from nas_assets.core.run_keys import (  # noqa: F401 (re-exported: readers of results import them here)
    DATA_FIELDS,
    LEGACY_PROTOCOL,
    MEASURING_FIELDS,
    PROTOCOLS,
    TrainingProtocol,
    legacy_config_key,
    legacy_run_key,
)

if TYPE_CHECKING:  # pandas only where frames are built: the training process imports this module
    import pandas as pd

#: 1: test metrics at the last budget only; 2: a ``test`` split in every budget record too.
SUPPORTED_SCHEMA_VERSIONS = {1, 2}
METRICS = ("overall_accuracy", "macro_accuracy", "kappa", "loss")


class ResultError(ValueError):
    """A result file that cannot be ingested; the message names the file and the field."""


def protocol_of(record: dict) -> str:
    """The record's training protocol (files written before protocols existed are snapshots)."""
    return record.get("config", {}).get("protocol") or LEGACY_PROTOCOL


def names_its_data(record: dict) -> bool:
    """Whether the record holds the data settings a run key needs (every So2Sat trainer's does;
    a record that does not keeps the legacy key of its data name)."""
    data = record.get("data") or {}
    return all(data.get(k) is not None for k in DATA_FIELDS)


def run_key(record: dict) -> str:
    """The record's run key (:func:`nas_assets.core.run_keys.run_key` of its config and data): the
    key its runs folder was named by, and its rows' key in DuckDB."""
    if not names_its_data(record):
        return legacy_run_key(record)
    return keys.run_key(record.get("config", {}), record["data"])


def config_key(record: dict) -> str:
    """The record's configuration key (the run key's basis without the seed): runs of one
    configuration with different seeds are its repeats."""
    if not names_its_data(record):
        return legacy_config_key(record)
    return keys.config_key(record.get("config", {}), record["data"])


def superseded_key(record: dict) -> str | None:
    """The key an older version ingested this record under, when it is not its run key (its rows
    are replaced by the record's, so re-ingesting an old file never doubles a run)."""
    old = legacy_run_key(record)
    return None if old == run_key(record) else old


def load_result(path: str | Path) -> dict:
    """Read and validate one result file."""
    path = Path(path)
    try:
        record = json.loads(path.read_text())
    except FileNotFoundError:
        raise ResultError(f"{path}: result file not found (the job wrote no result)") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ResultError(f"{path}: not valid JSON ({exc}); the file is partial or corrupt") from None
    validate_result(record, path)
    return record


def _require(cond: bool, path: Path | str, message: str) -> None:
    if not cond:
        raise ResultError(f"{path}: {message}")


def _check_metric(value: Any, path: Path | str, where: str, allow_null: bool = False) -> None:
    if value is None and allow_null:
        return
    _require(isinstance(value, (int, float)) and not isinstance(value, bool), path,
             f"{where} must be a number, got {value!r}")
    _require(math.isfinite(value), path, f"{where} is {value}, expected a finite number")


def _check_split(split: dict, path: Path | str, where: str, num_classes: int) -> None:
    _require(isinstance(split, dict), path, f"{where} must be an object")
    for name in METRICS:
        _require(name in split, path, f"{where}.{name} is missing")
        _check_metric(split[name], path, f"{where}.{name}")
        if name != "loss":
            lo = -1.0 if name == "kappa" else 0.0
            _require(lo <= split[name] <= 1.0, path, f"{where}.{name} = {split[name]} is outside [{lo:g}, 1]")
    per_class = split.get("per_class_accuracy")
    _require(isinstance(per_class, list) and len(per_class) == num_classes, path,
             f"{where}.per_class_accuracy must list {num_classes} values, got "
             f"{None if per_class is None else len(per_class)}")
    for k, v in enumerate(per_class or []):
        _check_metric(v, path, f"{where}.per_class_accuracy[{k}]", allow_null=True)
        _require(v is None or 0.0 <= v <= 1.0, path,
                 f"{where}.per_class_accuracy[{k}] = {v} is outside [0, 1]")
    _require(isinstance(split.get("n_samples"), int) and split["n_samples"] > 0, path,
             f"{where}.n_samples must be a positive integer")


def validate_result(record: Any, path: str | Path = "<record>") -> None:
    """Check a result record completely before anything is written.

    Raises:
        ResultError: naming the file and the offending field.
    """
    _require(isinstance(record, dict), path, "top level must be a JSON object")
    _require(record.get("schema_version") in SUPPORTED_SCHEMA_VERSIONS, path,
             f"schema_version {record.get('schema_version')!r} not supported (expected one of "
             f"{sorted(SUPPORTED_SCHEMA_VERSIONS)})")
    _require(record.get("status") == "complete", path,
             f"status is {record.get('status')!r}, expected 'complete'")
    arch = record.get("arch")
    _require(isinstance(arch, dict) and all(k in arch for k in ("arch_hash", "matrix", "ops")), path,
             "arch must hold arch_hash, matrix and ops")
    try:
        spec = ArchSpec.from_strings(arch["matrix"], arch["ops"])
    except InvalidSpecError as exc:
        raise ResultError(f"{path}: arch is not a valid cell: {exc}") from None
    _require(spec.arch_hash == arch["arch_hash"], path,
             f"arch.arch_hash {arch['arch_hash']} does not match its matrix/ops (hash {spec.arch_hash})")
    data = record.get("data", {})
    num_classes = data.get("num_classes")
    _require(isinstance(num_classes, int) and num_classes > 1, path,
             "data.num_classes must be an integer > 1")
    for key in ("trainable_parameters", "flops"):
        _require(isinstance(record.get(key), int) and record[key] > 0, path,
                 f"{key} must be a positive integer")
    config = record.get("config", {})
    _require(protocol_of(record) in PROTOCOLS, path,
             f"config.protocol {config.get('protocol')!r} unknown (expected one of {list(PROTOCOLS)})")
    budgets = config.get("budgets")
    _require(isinstance(budgets, list) and bool(budgets) and all(isinstance(b, int) for b in budgets), path,
             "config.budgets must be a non-empty list of epochs")
    rows = record.get("budgets")
    _require(isinstance(rows, list), path, "budgets must be a list of per-budget records")
    epochs = [r.get("epoch") for r in rows if isinstance(r, dict)]
    recorded = sorted(e for e in epochs if isinstance(e, int))
    _require(len(recorded) == len(epochs) and recorded == sorted(budgets), path,
             f"budgets recorded for epochs {recorded}, expected exactly {sorted(budgets)} (partial run?)")
    for r in rows:
        where = f"budgets[epoch={r['epoch']}]"
        _check_split(r.get("train"), path, f"{where}.train", num_classes)
        _check_split(r.get("val"), path, f"{where}.val", num_classes)
        _check_metric(r.get("train_seconds"), path, f"{where}.train_seconds")
        if r.get("test") is not None:  # schema 2; absent in schema 1 and without a test split
            _check_split(r["test"], path, f"{where}.test", num_classes)
    test = record.get("test")
    if test is not None:
        _check_split(test, path, "test", num_classes)


def result_rows(record: dict, path: str | Path = "") -> dict[str, list[dict]]:
    """Rows for ``training_runs``, ``budget_metrics`` and ``class_metrics`` of one valid record, and
    under ``superseded_runs`` the (arch_hash, run_key) an older version keyed it by, if another."""
    arch_hash = record["arch"]["arch_hash"]
    key = run_key(record)
    env = record.get("environment", {})
    timings = record.get("timings", {})
    config = record["config"]
    test = record.get("test") or {}
    final_epoch = max(config["budgets"])
    run = {
        "arch_hash": arch_hash,
        "run_key": key,
        "config_key": config_key(record),
        "dataset": record["data"].get("name"),
        "seed": config.get("seed"),
        "recipe": config.get("recipe"),
        "protocol": protocol_of(record),
        "max_epochs": final_epoch,
        "params": record["trainable_parameters"],
        "flops": record["flops"],
        "train_seconds": timings.get("train_seconds"),
        "eval_seconds": timings.get("eval_seconds"),
        "images_per_second": timings.get("train_images_per_second"),
        "world_size": env.get("world_size"),
        "device": env.get("device"),
        "hostname": env.get("hostname"),
        "slurm_job_id": env.get("slurm_job_id"),
        "launcher": record.get("run", {}).get("launcher"),
        "test_overall_accuracy": test.get("overall_accuracy"),
        "test_macro_accuracy": test.get("macro_accuracy"),
        "test_kappa": test.get("kappa"),
        "config": json.dumps(config, sort_keys=True),
        "result_path": str(path),
    }
    budgets, classes = [], []
    for r in sorted(record["budgets"], key=lambda r: r["epoch"]):
        row = {"arch_hash": arch_hash, "run_key": key, "epoch": r["epoch"],
               "train_seconds": r["train_seconds"]}
        for split in ("train", "val"):
            for m in METRICS:
                row[f"{split}_{m}"] = r[split][m]
        budget_test = _budget_test(r, test, final_epoch)
        for m in METRICS:
            row[f"test_{m}"] = budget_test.get(m)
        budgets.append(row)
        test_pc = budget_test.get("per_class_accuracy")
        for k, (tr, va) in enumerate(zip(r["train"]["per_class_accuracy"], r["val"]["per_class_accuracy"])):
            classes.append({
                "arch_hash": arch_hash, "run_key": key, "epoch": r["epoch"], "class_index": k,
                "train_accuracy": tr, "val_accuracy": va, "test_accuracy": test_pc[k] if test_pc else None,
            })
    old = superseded_key(record)
    return {"training_runs": [run], "budget_metrics": budgets, "class_metrics": classes,
            "superseded_runs": [] if old is None else [{"arch_hash": arch_hash, "run_key": old}]}


def _budget_test(budget: dict, test: dict, final_epoch: int) -> dict:
    """A budget's test split: its own (schema 2), else the run's test at the final budget (schema 1)."""
    if budget.get("test"):
        return budget["test"]
    return test if budget["epoch"] == final_epoch else {}


def result_frames(records: Iterable[tuple[dict, str | Path]]) -> dict[str, pd.DataFrame]:
    """Concatenated rows of many (record, path) pairs, one DataFrame per table."""
    import pandas as pd

    tables: dict[str, list[dict]] = {"training_runs": [], "budget_metrics": [], "class_metrics": [],
                                     "superseded_runs": []}
    for record, path in records:
        for name, rows in result_rows(record, path).items():
            tables[name].extend(rows)
    frames = {name: pd.DataFrame(rows) for name, rows in tables.items()}
    if frames["superseded_runs"].empty:  # the columns write_results selects, also without rows
        frames["superseded_runs"] = pd.DataFrame(columns=["arch_hash", "run_key"])
    return frames
