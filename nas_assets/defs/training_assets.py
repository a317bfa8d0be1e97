"""Assets of the data and training stages: the dataset, one trained partition per architecture,
the results."""

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Union

from dagster import (
    AssetCheckEvaluation,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetMaterialization,
    Config,
    Failure,
    MaterializeResult,
    MetadataValue,
    Output,
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
from nas_assets.defs.pools import TRAINING_POOL
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

    retrain: bool = Field(default=False, description="Train again even if this configuration's result file "
                                                     "exists.")


#: The run config that retrains a partition (named in the message about an unusable result file).
RETRAIN_CONFIG = '{"ops": {"trained_architecture": {"config": {"retrain": true}}}}'

TRAINED_CHECKS = [
    AssetCheckSpec("metrics_in_range", asset="trained_architecture",
                   description="Accuracies and per-class accuracies within [0, 1], kappa within [-1, 1]."),
    AssetCheckSpec("all_budgets_present", asset="trained_architecture",
                   description="One metrics row per configured budget epoch."),
    AssetCheckSpec("per_class_rows_complete", asset="trained_architecture",
                   description="A row per class and budget."),
]


@asset(
    partitions_def=ARCHITECTURE_PARTITIONS,
    group_name="training",
    kinds={"pytorch", "duckdb"},
    deps=[sampled_architectures, so2sat_dataset],
    pool=TRAINING_POOL,
    check_specs=TRAINED_CHECKS,
    # a batched backfill run (BackfillPolicy.multi_run, nas_assets.defs.profiles) records each
    # partition it trained with its own materialization instead of one output for the range
    output_required=False,
)
def trained_architecture(
    context: AssetExecutionContext,
    config: TrainedArchitectureConfig,
    store: StoreResource,
    data: So2SatDataResource,
    training: TrainingSetupResource,
    launcher: TrainingLauncher,
) -> Iterator[Union[MaterializeResult, AssetMaterialization, AssetCheckEvaluation, Output]]:
    """One architecture trained on So2Sat (a SLURM job or a local process); its metrics upserted into
    DuckDB."""
    step_cpu_s = time.process_time()  # this process's start: interpreter, Dagster, definitions, run set-up
    if context.has_partition_key:
        job, result_path = _jobs([context.partition_key], config, store, data,
                                 training)[context.partition_key]
        launch_meta: dict = {"reused_result": True}
        if config.retrain or not result_path.exists():
            launch_meta = {**launcher.launch(context, job).metadata(), "reused_result": False}
        metadata, checks = _ingest(context.partition_key, result_path, store, training)
        yield MaterializeResult(
            metadata={**launch_meta, **metadata, "step_start_cpu_s": round(step_cpu_s, 2)},
            check_results=[AssetCheckResult(check_name=name, passed=passed, metadata=meta,
                                            severity=AssetCheckSeverity.ERROR)
                           for name, (passed, meta) in checks.items()],
        )
        return
    yield from _train_batch(context, config, store, data, training, launcher, step_cpu_s)


def _jobs(keys: list[str], config: TrainedArchitectureConfig, store: StoreResource,
          data: So2SatDataResource, training: TrainingSetupResource) -> dict[str, tuple[TrainingJob, Path]]:
    """The training job and result path of each partition (one read of the store for all)."""
    with store.connect(read_only=True) as conn:
        rows = space_sql.cells_strings(conn, keys)
    missing = [k for k in keys if k not in rows]
    if missing:
        raise Failure(description=f"{', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''}: not in the "
                                  f"architectures table of {store.path}", allow_retries=False)
    adopted = training.adopt_legacy_runs(data)
    if adopted is not None:  # results of an older version: their DuckDB rows get the run key too
        _reingest(adopted, store)
    run_key, out_dir = training.run_key(data), training.out_dir(data)  # computed once for the batch
    train_args = [*data.train_args(), *training.train_args(data)]
    jobs = {}
    for key in keys:
        spec = ArchSpec.from_strings(*rows[key])
        jobs[key] = (TrainingJob(
            arch_hash=key,
            run_key=run_key,
            train_args=["--arch", f"{spec.matrix_string()}:{spec.ops_string()}", "--out", str(out_dir),
                        *train_args,
                        *(["--force", "--no-resume"] if config.retrain else [])],
            run_dir=out_dir / "jobs" / key,
            stage_source=data.cache_dir,
        ), out_dir / f"{key}.json")
    return jobs


def _reingest(runs_dir: Path, store: StoreResource) -> None:
    """Ingest again every valid result file of ``runs_dir`` (rows an older version keyed otherwise are
    replaced by the run key's; unreadable files are left for their partition's own ingest)."""
    records = []
    for path in sorted(runs_dir.glob("*.json")):
        try:
            records.append((load_result(path), path))
        except ResultError:
            continue
    if records:
        with store.connect() as conn:
            db.write_results(conn, result_frames(records))


def _ingest(arch_hash: str, result_path: Path, store: StoreResource,
            training: TrainingSetupResource) -> tuple[dict, dict[str, tuple[bool, dict]]]:
    """Upsert one result file into DuckDB; its materialization metadata and check outcomes."""
    cpu0, waits0 = time.thread_time(), db.LOCK_WAITS.seconds
    try:
        record = load_result(result_path)
    except ResultError as exc:
        again = ("" if not result_path.exists() else
                 f". Every re-run reuses this file and fails the same way: materialize the partition with "
                 f"retrain: true (run config {RETRAIN_CONFIG}) to train again and replace it")
        raise Failure(description=f"{exc}; nothing was written to DuckDB{again}",
                      allow_retries=False) from None
    frames = result_frames([(record, result_path)])
    with store.connect() as conn:
        db.write_results(conn, frames)
        checks = q.partition_checks(conn, arch_hash, frames["training_runs"]["run_key"].iloc[0],
                                    list(training.train_config().budgets),
                                    record["data"]["num_classes"])
    final = record["budgets"][-1]
    return {
        "params": record["trainable_parameters"],
        "flops": record["flops"],
        "val_overall_accuracy": final["val"]["overall_accuracy"],
        "val_macro_accuracy": final["val"]["macro_accuracy"],
        "val_kappa": final["val"]["kappa"],
        "train_seconds": round(record["timings"]["train_seconds"], 1),
        "budgets": MetadataValue.md(q.budget_table(record)),
        "result_path": MetadataValue.path(str(result_path)),
        "ingest_cpu_s": round(time.thread_time() - cpu0, 3),
        "store_lock_wait_s": round(db.LOCK_WAITS.seconds - waits0, 2),
    }, checks


def _train_batch(context: AssetExecutionContext, config: TrainedArchitectureConfig, store: StoreResource,
                 data: So2SatDataResource, training: TrainingSetupResource, launcher: TrainingLauncher,
                 step_cpu_s: float) -> Iterator[Union[AssetMaterialization, AssetCheckEvaluation, Output]]:
    """A run covering several partitions: their jobs in flight together, each partition materialized
    and checked on its own as its job ends; the run fails at the end naming the partitions that
    did not materialize (the backfill marks only those failed; each can be re-run alone)."""
    keys = list(context.partition_keys)
    jobs = _jobs(keys, config, store, data, training)
    to_train = [job for job, path in jobs.values() if config.retrain or not path.exists()]
    context.log.info(f"{len(keys)} partitions in this run: {len(to_train)} to train, "
                     f"{len(keys) - len(to_train)} with a result file to reuse")
    failed: dict[str, str] = {}

    def record(key: str, launch_meta: dict) -> Iterator[Union[AssetMaterialization, AssetCheckEvaluation]]:
        try:
            metadata, checks = _ingest(key, jobs[key][1], store, training)
        except Failure as failure:
            failed[key] = failure.description or "ingest failed"
            context.log.error(f"{key}: {failed[key]}")
            return
        yield AssetMaterialization(
            asset_key=context.asset_key, partition=key,
            metadata={**launch_meta, **metadata, "batch_partitions": len(keys),
                      "step_start_cpu_s": round(step_cpu_s, 2)})
        for name, (passed, meta) in checks.items():
            yield AssetCheckEvaluation(asset_key=context.asset_key, check_name=name, passed=passed,
                                       partition=key,
                                       metadata=meta, severity=AssetCheckSeverity.ERROR)

    trained = {job.arch_hash for job in to_train}
    for key in keys:
        if key not in trained:
            yield from record(key, {"reused_result": True})
    for job, outcome in launcher.launch_many(context, to_train):
        if isinstance(outcome, Failure):
            failed[job.arch_hash] = outcome.description or "training failed"
            context.log.error(f"{job.arch_hash}: {failed[job.arch_hash]}")
            continue
        yield from record(job.arch_hash, {**outcome.metadata(), "reused_result": False})
    # A Pipes session makes Dagster require the step's declared outputs (the range's one output and
    # its checks); this run reports per partition instead. No public switch back (dagster 1.13:
    # open_pipes_session -> set_requires_typed_event_stream).
    context.get_step_execution_context()._requires_typed_event_stream = False
    # An @asset's check outputs are required: close them without a range-wide evaluation (each
    # partition's evaluations were logged above), as an AssetCheckResult's own output is closed.
    for output_name in context.assets_def.check_specs_by_output_name:
        yield Output(value=None, output_name=output_name)
    if failed:
        listing = "\n".join(f"- {key}: {text.splitlines()[0] if text else ''}" for key,
                            text in failed.items())
        raise Failure(
            description=f"{len(failed)} of {len(keys)} partitions of this run did not materialize (the "
                        "others did):\n"
                        f"{listing}\nRe-run them alone, e.g. a backfill of the failed partitions.",
            metadata={"failed_partitions": MetadataValue.json(sorted(failed))},
            allow_retries=False,
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
            "top_10": MetadataValue.md(preview.to_markdown(index=False) if len(preview) else "(no results "
                                                                                             "yet)"),
        }
    )
