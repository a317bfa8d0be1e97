"""Assets of the data and training stages: the dataset, one trained partition per architecture, the results."""

import time
from pathlib import Path

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    Config,
    Failure,
    MaterializeResult,
    MetadataValue,
    asset,
)
from pydantic import Field

from nas_assets.core import store as db
from nas_assets.core.cells.space import ArchSpec
from nas_assets.core.store import space as space_sql
from nas_assets.core.store import training as q
from nas_assets.core.store.results import ResultError, load_result, result_frames
from nas_assets.defs.launchers import TrainingJob, TrainingLauncher
from nas_assets.defs.partitions import ARCHITECTURE_PARTITIONS
from nas_assets.defs.resources import So2SatDataResource, StoreResource, TrainingSetupResource
from nas_assets.defs.space_assets import sampled_architectures


@asset(group_name="data", kinds={"hdf5", "numpy"})
def so2sat_dataset(data: So2SatDataResource) -> MaterializeResult:
    """So2Sat LCZ42 files validated and converted once into the normalised cache every training job reads."""
    from nas_assets.train.data import inspect_so2sat
    from nas_assets.train.data.stand_in import ensure_stand_in
    from nas_assets.train.so2sat_data import load_so2sat_arrays

    path = Path(data.path)
    generated = False
    if data.synthetic:  # generated whole or not at all: a killed generation is redone, never half-used
        generated = ensure_stand_in(path, n_train=data.synthetic_train, n_val=data.synthetic_val,
                                    n_test=data.synthetic_test, seed=data.synthetic_seed)
    summary = inspect_so2sat(path)  # raises So2SatLayoutError naming file, dataset and expectation
    t0 = time.perf_counter()
    arrays = load_so2sat_arrays(path, data.cache_dir, data.sensor, data.s1_transform, data.stats)
    sizes = {split: int(y.shape[0]) for split, (_, y) in arrays.splits.items()}
    return MaterializeResult(
        metadata={
            "path": MetadataValue.path(str(path.resolve())),
            "synthetic_generated_now": generated,
            "samples": MetadataValue.json(sizes),
            "channels": arrays.num_channels,
            "classes": arrays.num_classes,
            "cache": arrays.name,
            "cache_seconds": round(time.perf_counter() - t0, 2),
            "summary": MetadataValue.md(f"```\n{summary.to_text()}\n```"),
        }
    )


class TrainedArchitectureConfig(Config):
    """Per-run switches of the training asset (the training setup itself is a resource)."""

    retrain: bool = Field(default=False, description="Train again even if this configuration's result file exists.")


#: The run config that retrains a partition (named in the message about an unusable result file).
RETRAIN_CONFIG = '{"ops": {"trained_architecture": {"config": {"retrain": true}}}}'

TRAINED_CHECKS = [
    AssetCheckSpec("metrics_in_range", asset="trained_architecture", description="Accuracies and per-class accuracies within [0, 1], kappa within [-1, 1]."),
    AssetCheckSpec("all_budgets_present", asset="trained_architecture", description="One metrics row per configured budget epoch."),
    AssetCheckSpec("per_class_rows_complete", asset="trained_architecture", description="A row per class and budget."),
]


@asset(
    partitions_def=ARCHITECTURE_PARTITIONS,
    group_name="training",
    kinds={"pytorch", "duckdb"},
    deps=[sampled_architectures, so2sat_dataset],
    pool="training",
    check_specs=TRAINED_CHECKS,
)
def trained_architecture(
    context: AssetExecutionContext,
    config: TrainedArchitectureConfig,
    store: StoreResource,
    data: So2SatDataResource,
    training: TrainingSetupResource,
    launcher: TrainingLauncher,
) -> MaterializeResult:
    """One architecture trained on So2Sat (a SLURM job or a local process); its metrics upserted into DuckDB."""
    arch_hash = context.partition_key
    with store.connect(read_only=True) as conn:
        cell = space_sql.cell_strings(conn, arch_hash)
    if cell is None:
        raise Failure(description=f"{arch_hash}: not in the architectures table of {store.path}", allow_retries=False)
    spec = ArchSpec.from_strings(*cell)
    out_dir = training.out_dir(data)
    result_path = out_dir / f"{arch_hash}.json"
    job = TrainingJob(
        arch_hash=arch_hash,
        run_key=training.config_id(data),
        train_args=["--arch", f"{spec.matrix_string()}:{spec.ops_string()}", "--out", str(out_dir),
                    *data.train_args(), *training.train_args(), *(["--force", "--no-resume"] if config.retrain else [])],
        run_dir=out_dir / "jobs" / arch_hash,
        stage_source=data.cache_dir,
    )
    launch_meta: dict = {"reused_result": True}
    if config.retrain or not result_path.exists():
        report = launcher.launch(context, job)
        launch_meta = {**report.metadata(), "reused_result": False}
    try:
        record = load_result(result_path)
    except ResultError as exc:
        again = ("" if not result_path.exists() else
                 f". Every re-run reuses this file and fails the same way: materialize the partition with "
                 f"retrain: true (run config {RETRAIN_CONFIG}) to train again and replace it")
        raise Failure(description=f"{exc}; nothing was written to DuckDB{again}", allow_retries=False) from None
    frames = result_frames([(record, result_path)])
    with store.connect() as conn:
        db.write_results(conn, frames)
        checks = q.partition_checks(conn, arch_hash, frames["training_runs"]["run_key"].iloc[0], training.budgets,
                                    record["data"]["num_classes"])
    final = record["budgets"][-1]
    return MaterializeResult(
        metadata={
            **launch_meta,
            "params": record["trainable_parameters"],
            "flops": record["flops"],
            "val_overall_accuracy": final["val"]["overall_accuracy"],
            "val_macro_accuracy": final["val"]["macro_accuracy"],
            "val_kappa": final["val"]["kappa"],
            "train_seconds": round(record["timings"]["train_seconds"], 1),
            "budgets": MetadataValue.md(q.budget_table(record)),
            "result_path": MetadataValue.path(str(result_path)),
        },
        check_results=[
            AssetCheckResult(check_name=name, passed=passed, metadata=meta, severity=AssetCheckSeverity.ERROR)
            for name, (passed, meta) in checks.items()
        ],
    )


@asset(group_name="training", kinds={"duckdb"}, deps=[trained_architecture])
def results_table(store: StoreResource) -> MaterializeResult:
    """Every trained architecture joined with its cell, provenance and metrics (DuckDB view `results`)."""
    with store.connect() as conn:
        conn.execute(q.RESULTS_VIEW)
        summary = q.results_summary(conn)
        preview = q.top_results(conn, 10)
    return MaterializeResult(
        metadata={
            "dagster/row_count": summary["architectures"],
            **{k: v for k, v in summary.items() if k != "per_budget_md" and v is not None},
            "per_budget": MetadataValue.md(summary["per_budget_md"]),
            "top_10": MetadataValue.md(preview.to_markdown(index=False) if len(preview) else "(no results yet)"),
        }
    )
