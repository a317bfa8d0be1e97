"""The one ``Definitions`` object (resources from ``profiles``, the environment's only reader)."""

from __future__ import annotations

from dagster import AssetSelection, BackfillPolicy, Definitions, RetryPolicy, define_asset_job

from nas_assets.defs import space_checks
from nas_assets.defs.dead_runs import reap_on_load
from nas_assets.defs.footprint_assets import footprint_report
from nas_assets.defs.orphaned_steps import die_with_run_process
from nas_assets.defs.profiles import partitions_per_run as profile_partitions_per_run
from nas_assets.defs.profiles import resources as profile_resources
from nas_assets.defs.reference_assets import cifar10_reference
from nas_assets.defs.space_assets import architecture_space, sampled_architectures
from nas_assets.defs.surrogate_assets import surrogate_model, surrogate_predictions
from nas_assets.defs.training_assets import results_table, so2sat_dataset, trained_architecture

ASSETS = [architecture_space, sampled_architectures, so2sat_dataset, trained_architecture, results_table,
          surrogate_model, surrogate_predictions, cifar10_reference, footprint_report]
CHECKS = [
    space_checks.space_has_exact_counts,
    space_checks.space_hashes_unique,
    space_checks.sampled_hashes_in_space,
    space_checks.partitions_match_design,
]

# : Backfill target: one run per architecture partition (``dagster job backfill -j train_architectures
# --all``).
#: A job that failed for the cluster's reasons (TIMEOUT, PREEMPTED, NODE_FAIL) is resubmitted up
#: to twice and resumes from its last checkpoint; code failures are not retried (Failure says so).
train_architectures = define_asset_job(
    "train_architectures",
    selection=AssetSelection.assets(trained_architecture),
    op_retry_policy=RetryPolicy(max_retries=2, delay=10),
)


def batched(partitions_per_run: int) -> list:
    """:data:`ASSETS` with ``trained_architecture`` backfilled ``partitions_per_run`` partitions per run
    (1: a run per partition, Dagster's default)."""
    if partitions_per_run <= 1:
        return ASSETS
    policy = BackfillPolicy.multi_run(max_partitions_per_run=partitions_per_run)
    return [a.with_attributes(backfill_policy=policy) if a is trained_architecture else a for a in ASSETS]


def build_definitions(store: str | None = None, partitions_per_run: int | None = None,
                      **overrides) -> Definitions:
    """All assets, checks, jobs and resources; ``store`` and ``overrides`` replace profile resources,
    ``partitions_per_run`` the profile's batching of training backfills (``NAS_ASSETS_BATCH``)."""
    resources = profile_resources()
    per_run = profile_partitions_per_run() if partitions_per_run is None else partitions_per_run
    if store is not None:
        from nas_assets.defs.resources import StoreResource

        resources["store"] = StoreResource(path=store)
    resources.update(overrides)
    return Definitions(assets=batched(per_run), asset_checks=CHECKS, jobs=[train_architectures],
                       resources=resources)


# a run whose process was killed stays STARTED and keeps its pool slots unless someone notices
reap_on_load()
# a step subprocess whose run process was killed would otherwise run on, then hang for ever
die_with_run_process()
defs = build_definitions()
