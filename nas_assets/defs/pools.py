"""The concurrency pools of the assets, given their limit before the first run is queued.

Dagster gives a pool its default limit (``concurrency: pools: default_limit`` in dagster.yaml) the
first time the daemon sees a queued run that uses it -- in the same pass that decides which runs
to launch, and after it read the configured pools. That first pass therefore launches every run
already queued, whatever the limit (seen: two trainings at once with a limit of 1).
:func:`initialize_pools` sets the default limit when the definitions load, before anything can
queue; a limit set by hand (``dagster instance concurrency set``) is left as it is.
"""

from __future__ import annotations

from dagster import DagsterInstance

#: The pool of ``trained_architecture``: trainings (local) or runs submitting jobs (SLURM) at once.
TRAINING_POOL = "training"
POOLS = (TRAINING_POOL,)


def initialize_pools(instance: DagsterInstance, pools: tuple[str, ...] = POOLS) -> tuple[str, ...]:
    """Give each pool without a limit the instance's default limit; returns the pools set."""
    storage = instance.event_log_storage
    if not storage.supports_global_concurrency_limits or instance.global_op_concurrency_default_limit is None:
        return ()
    configured = storage.get_concurrency_keys()
    missing = tuple(pool for pool in pools if pool not in configured)
    for pool in missing:
        storage.initialize_concurrency_limit_to_default(pool)
    return missing
