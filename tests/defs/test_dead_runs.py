"""Runs whose process died are marked failed and their pool slots freed; live runs are left alone.

A real instance directory (the repo's dagster.yaml, SQLite storage) and a real process that
starts a run and claims a ``training`` slot, as a step of ``dagster asset materialize`` does.
"""

from __future__ import annotations

import shutil
import subprocess
import sys

from dagster import DagsterInstance, DagsterRunStatus

from nas_assets.defs.dead_runs import reap_dead_runs
from tests.dagster_server import REPO

RUN_AND_HOLD = """
import os, sys, time
from dagster import DagsterEvent, DagsterEventType, DagsterInstance
from dagster._core.storage.dagster_run import DagsterRun, DagsterRunStatus
with DagsterInstance.from_config(sys.argv[1]) as instance:
    run = instance.add_run(DagsterRun(job_name="__ASSET_JOB", status=DagsterRunStatus.NOT_STARTED))
    instance.report_dagster_event(DagsterEvent(DagsterEventType.RUN_START.value, job_name=run.job_name,
                                               pid=os.getpid()), run_id=run.run_id)
    instance.event_log_storage.initialize_concurrency_limit_to_default("training")
    assert instance.event_log_storage.claim_concurrency_slot("training", run.run_id,
                                                             "trained_architecture").is_claimed
    print(run.run_id, flush=True)
    time.sleep(600)
"""


def test_a_killed_run_is_failed_and_its_slot_freed_a_live_one_is_not(tmp_path):
    shutil.copy(REPO / "dagster_home" / "dagster.yaml", tmp_path / "dagster.yaml")
    proc = subprocess.Popen([sys.executable, "-c", RUN_AND_HOLD, str(tmp_path)], stdout=subprocess.PIPE,
                            text=True)
    try:
        run_id = proc.stdout.readline().strip()
        assert run_id, "the run process did not start its run"
        with DagsterInstance.from_config(str(tmp_path)) as instance:
            assert reap_dead_runs(instance).failed == ()  # alive: untouched
            assert instance.get_run_by_id(run_id).status == DagsterRunStatus.STARTED
            assert len(instance.event_log_storage.get_concurrency_info("training").claimed_slots) == 1
            proc.kill()
            proc.wait()
            reaped = reap_dead_runs(instance)
            assert reaped.failed == (run_id,) and reaped.freed == (run_id,)
            assert instance.get_run_by_id(run_id).status == DagsterRunStatus.FAILURE
            info = instance.event_log_storage.get_concurrency_info("training")
            assert (len(info.claimed_slots), info.pending_step_count) == (0, 0)
            failure = [r.event_log_entry.dagster_event.message
                       for r in instance.get_records_for_run(run_id).records
                       if r.event_log_entry.dagster_event and r.event_log_entry.dagster_event.event_type_value
                       == "PIPELINE_FAILURE"]
            assert len(failure) == 1 and f"(pid {proc.pid}) is gone" in failure[0]
            assert reap_dead_runs(instance).failed == ()  # done once
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()

