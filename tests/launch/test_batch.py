"""The batch loop (``launch.batch``) as a state machine over fake jobs: each job's scripted
outcomes, no cluster. Retries of cluster failures, failures kept per job, and stopping."""

from __future__ import annotations

import threading
import time

import pytest

from nas_assets.launch.batch import launch_retrying, run_batch
from nas_assets.launch.slurm_job import LaunchStopped


class ClusterFailed(Exception):
    """A fake end state worth a retry (TIMEOUT, NODE_FAIL, ...)."""


class JobFailed(Exception):
    """A fake end state of the job's own making (FAILED)."""


def retry_reason(exc: Exception) -> str | None:
    return f"ended {exc}" if isinstance(exc, ClusterFailed) else None


def scripted(outcomes: dict[str, list]):
    """A launch function: each call of a job takes its next scripted outcome (a value is its
    result, an exception is raised, 'block' waits until stopped)."""
    calls: dict[str, int] = {}

    def launch(job: str, stop: threading.Event) -> str:
        n = calls.get(job, 0)
        calls[job] = n + 1
        outcome = outcomes[job][n]
        if outcome == "block":
            stop.wait(10)
            raise LaunchStopped(f"{job}: stopped")
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    return launch, calls


def test_a_cluster_failure_is_retried_and_the_attempts_counted():
    launch, calls = scripted({"a": [ClusterFailed("TIMEOUT"), ClusterFailed("NODE_FAIL"), "done"]})
    retried = []
    ended = launch_retrying("a", launch, threading.Event(), name="a", retry_reason=retry_reason,
                            max_retries=2, on_retry=lambda job, reason, n: retried.append((job, reason, n)))
    assert (ended.result, ended.error, ended.attempts) == ("done", None, 3)
    assert retried == [("a", "ended TIMEOUT", 1), ("a", "ended NODE_FAIL", 2)]


def test_retries_are_bounded_and_the_last_failure_is_kept():
    launch, calls = scripted({"a": [ClusterFailed("TIMEOUT")] * 3})
    ended = launch_retrying("a", launch, threading.Event(), name="a", retry_reason=retry_reason,
                            max_retries=2)
    assert ended.result is None and isinstance(ended.error, ClusterFailed) and ended.attempts == 3
    assert calls == {"a": 3}


@pytest.mark.parametrize("error", [JobFailed("FAILED"), KeyError("a bug")])
def test_other_failures_end_the_job_at_once(error):
    launch, calls = scripted({"a": [error, "never"]})
    ended = launch_retrying("a", launch, threading.Event(), name="a", retry_reason=retry_reason,
                            max_retries=2)
    assert ended.error is error and ended.attempts == 1 and calls == {"a": 1}


def test_a_stopped_batch_starts_no_attempt():
    launch, calls = scripted({"a": ["never"]})
    stop = threading.Event()
    stop.set()
    with pytest.raises(LaunchStopped, match="a: not started"):
        launch_retrying("a", launch, stop, name="a", retry_reason=retry_reason, max_retries=2)
    assert calls == {}


def test_every_job_ends_once_and_failures_do_not_stop_the_others():
    launch, calls = scripted({"ok": ["r-ok"], "flaky": [ClusterFailed("PREEMPTED"), "r-flaky"],
                              "bad": [JobFailed("FAILED")], "bug": [ValueError("boom")]})
    ends = {e.job: e for e in run_batch(["ok", "flaky", "bad", "bug"], launch, concurrency=2, name=str,
                                        retry_reason=retry_reason, max_retries=2)}
    summary = {j: (e.result, type(e.error).__name__ if e.error else None, e.attempts)
               for j, e in ends.items()}
    assert summary == {"ok": ("r-ok", None, 1), "flaky": ("r-flaky", None, 2), "bad": (None, "JobFailed", 1),
                       "bug": (None, "ValueError", 1)}


@pytest.mark.parametrize("interrupt", ["close", "throw"])
def test_an_interrupted_batch_stops_its_running_job_and_starts_no_more(interrupt):
    launch, calls = scripted({"quick": ["r"], "slow": ["block"], "queued": ["never"]})
    batch = run_batch(["quick", "slow", "queued"], launch, concurrency=1, name=str,
                      retry_reason=retry_reason, max_retries=2)
    assert next(batch).job == "quick"
    t0 = time.monotonic()
    if interrupt == "close":  # the consumer stopped iterating (e.g. its own generator was closed)
        batch.close()
    else:  # an exception reached the consumer's yield (the run was terminated)
        with pytest.raises(KeyboardInterrupt):
            batch.throw(KeyboardInterrupt)
    assert time.monotonic() - t0 < 5  # 'slow' was stopped, not waited for ('block' waits 10 s)
    assert calls.get("slow", 0) <= 1 and "queued" not in calls
