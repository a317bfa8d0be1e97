"""One partition's SLURM job run to its end: submitted, or re-attached to after a restart of the
process that submitted it, polled until it ends, and cancelled if the caller is interrupted.

No Dagster here: the launcher resource in ``nas_assets.defs`` passes the Pipes session (what the
job's environment needs) in as ``session`` and logs through ``log``; it turns the outcome into a
materialization or a ``Failure``.
"""

from __future__ import annotations

import threading
import time
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping, Protocol

from nas_assets.launch import slurm
from nas_assets.launch.tickets import JobTicket, clear_ticket, load_ticket, save_ticket

#: The job's ticket (for re-attaching) and script, in the partition's run directory.
TICKET = "job.json"
SCRIPT = "job.sbatch"


class LaunchStopped(RuntimeError):
    """The batched run was interrupted: this job was stopped (cancelled) with it."""


class SubmitFailed(slurm.SlurmError):
    """``sbatch`` refused the job (nothing was submitted); the message is sbatch's."""


class Log(Protocol):
    """Where progress goes (a Dagster run's ``context.log``, or a ``logging.Logger``)."""

    def info(self, msg: str) -> None: ...

    def warning(self, msg: str) -> None: ...


@dataclass
class JobRequest:
    """One partition's job.

    Attributes:
        arch_hash, run_key: the partition and its training configuration (kept in the ticket).
        run_dir: the partition's directory (ticket, script, log).
        command: what ``srun`` runs.
        resources: the ``#SBATCH`` header.
        stage: data to copy to node-local storage first, if any.
    """

    arch_hash: str
    run_key: str
    run_dir: Path
    command: list[str]
    resources: slurm.JobResources
    stage: slurm.StageData | None = None

    @property
    def job_name(self) -> str:
        return f"nas-{self.arch_hash[:12]}"


@dataclass
class JobOutcome:
    """How the job ended (``final`` is None when the scheduler forgot it)."""

    job_id: str
    log_path: Path
    reattached: bool
    elapsed_s: float
    final: slurm.JobInfo | None

    @property
    def state(self) -> str:
        return self.final.state if self.final else "UNKNOWN"


def reattachable(ticket: JobTicket | None, arch_hash: str, run_key: str,
                 job_name: str) -> slurm.JobInfo | None:
    """The still-queued or running job of a previous step for this partition, if any."""
    if ticket is None or ticket.arch_hash != arch_hash or ticket.run_key != run_key:
        return None
    info = slurm.job_info(ticket.job_id)
    # job ids restart when a cluster's state is wiped: the name must match too
    if info is None or info.terminal or info.raw.get("JobName") != job_name:
        return None
    return info


def cancel_job(job_id: str, ticket_path: Path, log: Log) -> None:
    """Cancel the job and forget its ticket."""
    slurm.cancel(job_id)
    clear_ticket(ticket_path)
    log.warning(f"cancelled SLURM job {job_id}")


def wait_for_job(job_id: str, log: Log, poll_interval_s: float, stop: threading.Event | None = None,
                 queue: slurm.SharedQueue | None = None) -> None:
    """Poll until the job ends, logging each new state (the caller cancels it if this is interrupted).

    Args:
        job_id: the scheduler's id.
        log: gets one line per state change.
        poll_interval_s: seconds between polls.
        stop: once set, raise :class:`LaunchStopped` (a batched run was interrupted).
        queue: with ``stop`` (a batched run), the jobs of all partitions share one ``squeue`` call
            per poll; ``scontrol`` confirms each end state. Default: this process's shared queue.

    Raises:
        LaunchStopped: ``stop`` was set before the job ended.
    """
    queue = queue if queue is not None else SHARED_QUEUE
    last_state = None
    try:
        while True:
            if stop is not None and stop.is_set():
                raise LaunchStopped(f"SLURM job {job_id}: the run was interrupted")
            queued = queue.state(job_id) if stop is not None else None
            if queued is not None and queued[0] not in slurm.TERMINAL_STATES:
                state, node = queued
                terminal = False
            else:
                info = slurm.job_info(job_id)
                state, node = (info.state, info.node) if info else ("UNKNOWN", "")
                terminal = info is not None and info.terminal
            if state != last_state:
                log.info(f"SLURM job {job_id}: {state}" + (f" on {node}" if node else ""))
                last_state = state
            if terminal:
                return
            if stop is not None:
                stop.wait(poll_interval_s)
            else:
                time.sleep(poll_interval_s)
    finally:
        queue.forget(job_id)


def run_job(request: JobRequest, session: Callable[[], AbstractContextManager[Mapping[str, str]]],
            log: Log, poll_interval_s: float, stop: threading.Event | None = None) -> JobOutcome:
    """Run the partition's job to its end: re-attach to the job a previous process submitted (its
    ticket names it and it is still queued or running), else submit a new one.

    Whatever interrupts the wait (``stop``, Ctrl-C, the run's termination) cancels the job before
    it propagates: no job is left behind.

    Args:
        request: the job.
        session: entered around submitting and waiting for a new job; yields the environment
            ``sbatch`` adds (Dagster Pipes' bootstrap variables). Not entered when re-attaching.
        log: progress (submitted, re-attached, states, cancelled).
        poll_interval_s, stop: as for :func:`wait_for_job`.

    Raises:
        SubmitFailed: sbatch refused the job.
        LaunchStopped: ``stop`` was set (the job was cancelled).
    """
    request.run_dir.mkdir(parents=True, exist_ok=True)
    ticket_path = request.run_dir / TICKET
    ticket = load_ticket(ticket_path)
    info = reattachable(ticket, request.arch_hash, request.run_key, request.job_name)
    started = time.monotonic()
    job_id = None
    try:
        if info is not None:
            assert ticket is not None  # reattachable returns None when there is no ticket
            log.info(f"re-attaching to SLURM job {ticket.job_id} ({info.state}) instead of resubmitting")
            job_id, log_path, reattached = ticket.job_id, Path(ticket.log_path), True
            wait_for_job(job_id, log, poll_interval_s, stop)
        else:
            log_path = request.run_dir / "slurm-%j.log"
            script = request.run_dir / SCRIPT
            script.write_text(slurm.render_script(request.job_name, request.command, log_path,
                                                  request.resources, request.stage))
            with session() as env:
                try:
                    job_id = slurm.submit(script, env=env)
                except slurm.SlurmError as exc:
                    raise SubmitFailed(str(exc)) from None
                try:
                    log_path = Path(str(log_path).replace("%j", job_id))
                    save_ticket(ticket_path, JobTicket(request.arch_hash, request.run_key, job_id,
                                                       request.job_name, str(log_path), time.time()))
                    log.info(f"submitted SLURM job {job_id} ({request.job_name}); log {log_path}")
                    reattached = False
                    wait_for_job(job_id, log, poll_interval_s, stop)
                except BaseException:
                    # cancel while the session's files still exist: leaving the session deletes
                    # them, and a job starting in that gap would fail on the missing context
                    # file (ending FAILED) instead of being cancelled
                    cancel_job(job_id, ticket_path, log)
                    job_id = None
                    raise
    except BaseException:
        # interrupted (or crashed) while re-attached: do not leave the job behind
        if job_id is not None:
            cancel_job(job_id, ticket_path, log)
        raise
    final = slurm.job_info(job_id)
    clear_ticket(ticket_path)
    return JobOutcome(job_id, log_path, reattached, time.monotonic() - started, final)


#: One ``squeue`` per poll for the jobs of every batched run in this process.
SHARED_QUEUE = slurm.SharedQueue()
