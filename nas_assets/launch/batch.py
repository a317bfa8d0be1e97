"""The jobs of a batched run (several partitions in one run): in flight together, each yielded as it
ends, a job that failed for the cluster's reasons resubmitted on its own, and every job still
running stopped when the caller is interrupted.

No Dagster here: what a job is, how it is launched and which failures deserve another attempt
are the caller's (``launch``, ``retry_reason``).
"""

from __future__ import annotations

import threading
from collections.abc import Generator
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from typing import Callable, Generic, TypeVar

from nas_assets.launch.slurm_job import LaunchStopped

J = TypeVar("J")
R = TypeVar("R")


@dataclass
class Ended(Generic[J, R]):
    """One job's end: its ``result``, or the ``error`` it ended with, after ``attempts`` launches."""

    job: J
    result: R | None
    error: Exception | None
    attempts: int


def launch_retrying(
    job: J,
    launch: Callable[[J, threading.Event], R],
    stop: threading.Event,
    *,
    name: str,
    retry_reason: Callable[[Exception], str | None],
    max_retries: int,
    on_retry: Callable[[J, str, int], None] = lambda job, reason, attempt: None,
) -> Ended[J, R]:
    """Launch ``job`` until it succeeds, fails for good, or has been retried ``max_retries`` times.

    Args:
        job: what ``launch`` runs.
        launch: runs the job to its end (returns its result, or raises why it failed); gets
            ``stop`` to stop early (then raises :class:`LaunchStopped`).
        stop: set when the batch is interrupted: no new attempt starts.
        name: the job's name in the :class:`LaunchStopped` message.
        retry_reason: why a failure deserves another attempt (the cluster failed, not the job);
            None when it does not.
        max_retries: attempts after the first.
        on_retry: called with the job, the reason and the attempt that failed, before the next.

    Returns:
        The job's end; an exception other than :class:`LaunchStopped` (a bug, a broken file
        system) ends this job, never the batch.

    Raises:
        LaunchStopped: ``stop`` was set.
    """
    attempt = 0
    while True:
        attempt += 1
        if stop.is_set():
            raise LaunchStopped(f"{name}: not started, the run was interrupted")
        try:
            return Ended(job, launch(job, stop), None, attempt)
        except LaunchStopped:
            raise
        except Exception as exc:
            reason = retry_reason(exc)
            if reason is not None and attempt <= max_retries and not stop.is_set():
                on_retry(job, reason, attempt)
                continue
            return Ended(job, None, exc, attempt)


def run_batch(
    jobs: list[J],
    launch: Callable[[J, threading.Event], R],
    *,
    concurrency: int,
    name: Callable[[J], str],
    retry_reason: Callable[[Exception], str | None],
    max_retries: int,
    on_retry: Callable[[J, str, int], None] = lambda job, reason, attempt: None,
) -> Generator[Ended[J, R], None, None]:
    """Run ``jobs`` with up to ``concurrency`` in flight; yield each job's end as it comes, so one
    failed job neither stops nor fails the others (see :func:`launch_retrying`).

    When the caller is interrupted (an exception, or it closes this generator), every job still
    running is stopped and those not started never start, before this returns.
    """
    stop = threading.Event()
    workers = max(1, min(concurrency, len(jobs)))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="launch") as pool:
        futures = [pool.submit(launch_retrying, job, launch, stop, name=name(job), retry_reason=retry_reason,
                               max_retries=max_retries, on_retry=on_retry) for job in jobs]
        try:
            for future in as_completed(futures):
                yield future.result()
        except BaseException:
            stop.set()
            for future in futures:
                future.cancel()
            raise
