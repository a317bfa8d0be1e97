"""Batched backfills through the real local SLURM cluster (the `slurm` profile's default path):
the daemon launches the backfill's runs, each run submits all of its partitions' jobs at once and
waits for them, and every partition is materialized and checked on its own. The orchestration
benchmark's path (tests/orchestration/harness.py) with the SLURM launcher, at CI size."""

from __future__ import annotations

import subprocess
import threading

from tests.orchestration.harness import prepare, run_backfill, table

#: 10 partitions, 5 per run: 2 runs of 5 jobs. The repo's dagster.yaml limits the `training` pool
#: to 4 runs at once, so more than 4 jobs in SLURM at once can only come from batched submission.
PARTITIONS, PER_RUN, POOL_LIMIT = 10, 5, 4


def _our_jobs(marker: str) -> int:
    out = subprocess.run(["squeue", "-h", "-o", "%j %o"], capture_output=True, text=True).stdout
    return sum(1 for line in out.splitlines() if line.startswith("nas-") and marker in line)


def test_batched_backfill_submits_each_runs_jobs_together(slurm_cluster, tmp_path, monkeypatch):
    monkeypatch.setenv("SLURM_CONF", str(slurm_cluster.conf))
    setup = prepare(tmp_path, PARTITIONS, "small", "slurm", batch=PER_RUN,
                    slurm_config={"time_limit": None, "poll_interval_s": 1.0})
    most_at_once, done = 0, threading.Event()

    def watch_queue() -> None:
        nonlocal most_at_once
        while not done.wait(0.5):
            most_at_once = max(most_at_once, _our_jobs(str(tmp_path)))

    watcher = threading.Thread(target=watch_queue, daemon=True)
    watcher.start()
    try:
        outcome = run_backfill(setup, timeout_s=900)
    finally:
        done.set()
        watcher.join()
    print("\n" + table([outcome]))
    assert outcome.backfill_status == "COMPLETED_SUCCESS", outcome.dagster_errors
    assert outcome.runs == PARTITIONS // PER_RUN and outcome.failed_runs == 0
    assert outcome.materialized == PARTITIONS and outcome.duplicate_materializations == 0
    assert outcome.failed_checks == 0 and outcome.store_failures == 0
    assert outcome.training_rows == PARTITIONS
    assert most_at_once > POOL_LIMIT, f"at most {most_at_once} of our jobs were in SLURM at once"
    assert _our_jobs(str(tmp_path)) == 0
