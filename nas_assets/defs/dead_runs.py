"""Runs whose process was killed: marked failed, their pool slots given back.

A run executed by ``dagster asset materialize`` lives in that command's process. SIGKILLed, it
can write nothing more: the run stays ``STARTED`` and its steps keep their ``training`` pool
slots, so later partitions wait "blocked by limit for pool training" for ever. Dagster's run
monitoring would notice, but only in a running ``dagster-daemon``. :func:`reap_dead_runs` runs
when the definitions load (every ``dagster asset materialize``, ``dagster dev``, the daemon): a
``STARTED`` or ``CANCELING`` run whose run process (the pid of its ``RUN_START`` event) no
longer exists on this machine is reported failed, and every slot held by a finished run is
freed. The instance is assumed local (runs execute on this machine), as ``dagster_home`` is.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from dagster import DagsterEventType, DagsterInstance, DagsterRunStatus, RunsFilter

from nas_assets.core.processes import process_exists, process_start_ticks
from nas_assets.defs.pools import initialize_pools

_ACTIVE = [DagsterRunStatus.STARTED, DagsterRunStatus.CANCELING]


@dataclass(frozen=True)
class Reaped:
    """What one pass did: runs marked failed, runs whose slots were freed."""

    failed: tuple[str, ...]
    freed: tuple[str, ...]


def reap_dead_runs(instance: DagsterInstance) -> Reaped:
    """Fail the active runs whose process is gone; free the pool slots of finished runs."""
    failed = []
    for record in instance.get_run_records(filters=RunsFilter(statuses=_ACTIVE)):
        run = record.dagster_run
        started = _run_process(instance, run.run_id)
        if started is None:
            continue  # not started by a process yet (STARTING), or no event: leave it to Dagster
        pid, timestamp = started
        if _alive_since(pid, timestamp):
            continue
        instance.report_run_failed(
            run, message=f"The process that ran this run (pid {pid}) is gone (killed); marked failed and its "
                         "concurrency slots freed so that other runs can go on. Re-run to continue.")
        failed.append(run.run_id)
    freed = []
    storage = instance.event_log_storage
    if storage.supports_global_concurrency_limits:
        for run_id in storage.get_concurrency_run_ids():
            slot_run = instance.get_run_by_id(run_id)
            if slot_run is None or slot_run.is_finished:
                storage.free_concurrency_slots_for_run(run_id)
                freed.append(run_id)
    return Reaped(tuple(failed), tuple(freed))


def _run_process(instance: DagsterInstance, run_id: str) -> Optional[tuple[int, float]]:
    """(pid, time) of the run's RUN_START event: the process executing the run."""
    records = instance.get_records_for_run(run_id, of_type=DagsterEventType.RUN_START, limit=1).records
    if not records:
        return None
    entry = records[0].event_log_entry
    pid = entry.dagster_event.pid if entry.dagster_event else None
    return (pid, entry.timestamp) if pid else None


def _alive_since(pid: int, timestamp: float) -> bool:
    """Whether process ``pid`` exists and was started no later than ``timestamp`` (not a reused pid)."""
    if not process_exists(pid):
        return False
    started = _start_time(pid)
    if started is None:
        return True  # cannot tell (not Linux): existing is alive
    return started <= timestamp + 1.0


def _start_time(pid: int) -> Optional[float]:
    """Start of process ``pid`` in seconds since the epoch (Linux /proc), None if unknown."""
    ticks = process_start_ticks(pid)
    try:
        boot = next(float(line.split()[1]) for line in Path("/proc/stat").read_text().splitlines()
                    if line.startswith("btime "))
    except (OSError, StopIteration, ValueError):
        return None
    return None if ticks is None else boot + int(ticks) / os.sysconf("SC_CLK_TCK")


def reap_on_load() -> None:
    """:func:`reap_dead_runs` on the ``$DAGSTER_HOME`` instance, from the process that loads the
    definitions to start runs or serve them (not from step subprocesses), after giving the pools
    their limit (:func:`nas_assets.defs.pools.initialize_pools`); never fails the load."""
    if not os.environ.get("DAGSTER_HOME") or multiprocessing.parent_process() is not None:
        return
    log = logging.getLogger(__name__)
    try:
        with DagsterInstance.get() as instance:
            initialize_pools(instance)
            reaped = reap_dead_runs(instance)
    except Exception as exc:  # a broken instance is Dagster's to report, not the load's
        log.warning("checking for runs left STARTED by a killed process failed: %s", exc)
        return
    for run_id in reaped.failed:
        log.warning("run %s: its process is gone (killed); marked failed", run_id)
    if reaped.freed:
        log.warning("freed the concurrency slots of finished runs %s", ", ".join(reaped.freed))

