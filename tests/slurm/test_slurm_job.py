"""``launch.slurm_job`` against the real local cluster: a job submitted and polled to its end,
re-attached to from its ticket instead of resubmitted, and cancelled when the wait is stopped.
Tiny shell jobs; a few seconds each."""

from __future__ import annotations

import logging
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import pytest

from nas_assets.launch import slurm
from nas_assets.launch.slurm_job import (
    TICKET,
    JobRequest,
    LaunchStopped,
    SubmitFailed,
    reattachable,
    run_job,
    wait_for_job,
)
from nas_assets.launch.tickets import JobTicket, load_ticket, save_ticket

pytestmark = pytest.mark.usefixtures("slurm_cluster")
LOG = logging.getLogger("test_slurm_job")


def request(run_dir: Path, command: list[str], arch_hash: str = "f" * 32, **resources) -> JobRequest:
    return JobRequest(arch_hash, "run-a", run_dir, command,
                      slurm.JobResources(time_limit="00:05:00", **resources))


@contextmanager
def no_session(entered: list | None = None):
    if entered is not None:
        entered.append(True)
    yield {"NAS_TEST_VALUE": "from-session"}


def _until(predicate, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)


def test_a_submitted_job_is_polled_to_its_end_with_the_sessions_environment(tmp_path):
    entered: list = []
    outcome = run_job(request(tmp_path, ["bash", "-c", "echo value=$NAS_TEST_VALUE"]),
                      lambda: no_session(entered), LOG, poll_interval_s=0.2)
    assert entered == [True] and not outcome.reattached
    assert outcome.state == "COMPLETED" and outcome.final is not None
    assert outcome.log_path == tmp_path / f"slurm-{outcome.job_id}.log"
    assert "value=from-session" in outcome.log_path.read_text()
    assert not (tmp_path / TICKET).exists()  # the ticket is gone once the job ended


def test_a_failing_job_ends_failed_and_is_not_raised(tmp_path):
    outcome = run_job(request(tmp_path, ["bash", "-c", "exit 3"]), no_session, LOG, poll_interval_s=0.2)
    assert outcome.state == "FAILED" and outcome.final is not None and outcome.final.exit_code == "3:0"


def test_a_rejected_submission_says_so(tmp_path):
    with pytest.raises(SubmitFailed, match="sbatch rejected"):
        run_job(request(tmp_path, ["true"], partition="no_such_partition"), no_session, LOG,
                poll_interval_s=0.2)
    assert not (tmp_path / TICKET).exists()


def test_a_restarted_caller_reattaches_to_its_running_job(tmp_path):
    req = request(tmp_path, ["bash", "-c", "sleep 3; echo finished"])
    script = tmp_path / "first.sbatch"
    script.write_text(slurm.render_script(req.job_name, req.command, tmp_path / "first-%j.log",
                                          req.resources))
    job_id = slurm.submit(script)
    log_path = tmp_path / f"first-{job_id}.log"
    save_ticket(tmp_path / TICKET, JobTicket(req.arch_hash, req.run_key, job_id, req.job_name,
                                             str(log_path), time.time()))
    # another partition or configuration never takes this job over
    ticket = load_ticket(tmp_path / TICKET)
    assert reattachable(ticket, req.arch_hash, "run-b", req.job_name) is None
    assert reattachable(ticket, req.arch_hash, req.run_key, "nas-other") is None
    entered: list = []
    outcome = run_job(req, lambda: no_session(entered), LOG, poll_interval_s=0.2)
    assert outcome.reattached and outcome.job_id == job_id and entered == []  # nothing submitted
    assert outcome.state == "COMPLETED" and "finished" in log_path.read_text()
    assert reattachable(ticket, req.arch_hash, req.run_key, req.job_name) is None  # it ended


@pytest.mark.parametrize("reattach", [False, True])
def test_stopping_the_wait_cancels_the_job(tmp_path, reattach):
    req = request(tmp_path, ["sleep", "300"])
    stop = threading.Event()
    if reattach:  # the job of a previous process, running
        script = tmp_path / "first.sbatch"
        script.write_text(slurm.render_script(req.job_name, req.command, tmp_path / "first-%j.log",
                                              req.resources))
        job_id = slurm.submit(script)
        save_ticket(tmp_path / TICKET, JobTicket(req.arch_hash, req.run_key, job_id, req.job_name,
                                                 str(tmp_path / f"first-{job_id}.log"), time.time()))
    errors: list = []

    def run() -> None:
        try:
            run_job(req, no_session, LOG, poll_interval_s=0.2, stop=stop)
        except LaunchStopped as exc:
            errors.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    _until(lambda: (ticket := load_ticket(tmp_path / TICKET)) is not None
           and (info := slurm.job_info(ticket.job_id)) is not None and info.state == "RUNNING")
    job_id = load_ticket(tmp_path / TICKET).job_id
    stop.set()
    thread.join(30)
    assert not thread.is_alive() and len(errors) == 1
    assert not (tmp_path / TICKET).exists()
    _until(lambda: (info := slurm.job_info(job_id)) is not None and info.state == "CANCELLED")


def test_wait_for_job_logs_each_state_once(tmp_path, caplog):
    script = tmp_path / "job.sbatch"
    script.write_text(f"#!/bin/bash\n#SBATCH --output={tmp_path}/job-%j.log\nsleep 1\n")
    job_id = slurm.submit(script)
    with caplog.at_level(logging.INFO, logger=LOG.name):
        wait_for_job(job_id, LOG, poll_interval_s=0.1)
    states = [r.getMessage() for r in caplog.records]
    assert states[-1].startswith(f"SLURM job {job_id}: COMPLETED")
    assert len(states) == len(set(states))
