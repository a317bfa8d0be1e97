"""Submit, poll and read SLURM jobs for the cluster tests: `sbatch --parsable` + `scontrol`.

Without slurmdbd there is no `sacct`; a finished job's state is read from `scontrol -o show job ID`,
which slurmctld keeps for `MinJobAge` (a day on the local cluster). Job ids restart at 1 whenever
the cluster's state is wiped, so nothing here remembers a job by its id beyond one test.
"""

from __future__ import annotations

import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from nas_assets.launch.slurm import parse_scontrol_line

REPO = Path(__file__).resolve().parents[2]
CLUSTER_SH = REPO / "slurm" / "cluster.sh"

TERMINAL_STATES = frozenset({
    "BOOT_FAIL", "CANCELLED", "COMPLETED", "DEADLINE", "FAILED", "NODE_FAIL", "OUT_OF_MEMORY",
    "PREEMPTED", "TIMEOUT",
})



class SbatchError(RuntimeError):
    """`sbatch` refused the job; the message carries its stderr."""


@dataclass(frozen=True)
class JobInfo:
    """One job as `scontrol -o show job` reports it."""

    job_id: str
    state: str
    exit_status: int
    exit_signal: int
    fields: dict[str, str] = field(repr=False)

    @property
    def terminal(self) -> bool:
        return self.state in TERMINAL_STATES


def parse_job_line(line: str) -> JobInfo:
    """Parse one line of `scontrol -o show job`.

    Args:
        line: e.g. ``"JobId=7 JobName=wrap ... JobState=FAILED Reason=NonZeroExitCode ... ExitCode=3:0 ..."``.

    Returns:
        The job's id, state (``"FAILED"``), exit status and signal (``3``, ``0``) and all fields.

    Raises:
        ValueError: the line has no JobId, JobState or ExitCode.
    """
    fields = parse_scontrol_line(line)
    missing = [k for k in ("JobId", "JobState", "ExitCode") if k not in fields]
    if missing:
        raise ValueError(f"scontrol job line lacks {', '.join(missing)}: {line[:200]!r}")
    status, _, signal = fields["ExitCode"].partition(":")
    return JobInfo(
        job_id=fields["JobId"],
        state=fields["JobState"],
        exit_status=int(status),
        exit_signal=int(signal or 0),
        fields=fields,
    )


def run_sbatch(script: str, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run `sbatch --parsable ARGS` with SCRIPT (a bash script's text) on stdin; never raises."""
    return subprocess.run(
        ["sbatch", "--parsable", *args],
        input=script,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=30,
    )


def submit(script: str, *args: str, cwd: Path) -> str:
    """Submit a batch script and return its job id.

    Args:
        script: the script's text, starting with a ``#!`` line; ``#SBATCH`` lines are honoured.
        *args: extra sbatch options, e.g. ``"-p", "gpu", "--gres=gpu:2"``.
        cwd: the job's working directory (relative ``-o`` paths resolve against it).

    Raises:
        SbatchError: sbatch exited non-zero.
    """
    proc = run_sbatch(script, *args, cwd=cwd)
    if proc.returncode != 0:
        raise SbatchError(f"sbatch {' '.join(args)} exited {proc.returncode}: {proc.stderr.strip()}")
    # --parsable prints "ID" or "ID;CLUSTER".
    return proc.stdout.strip().split(";")[0]


def show_job(job_id: str) -> JobInfo:
    """The job's current record from `scontrol -o show job ID`."""
    proc = subprocess.run(
        ["scontrol", "-o", "show", "job", job_id], capture_output=True, text=True, timeout=30
    )
    if proc.returncode != 0 or not proc.stdout.strip():
        raise RuntimeError(f"scontrol show job {job_id} failed ({proc.returncode}): {proc.stderr.strip()}")
    return parse_job_line(proc.stdout.splitlines()[0])


def cancel(job_id: str) -> None:
    subprocess.run(["scancel", job_id], capture_output=True, text=True, timeout=30, check=True)


def wait_for_job(
    job_id: str,
    until: frozenset[str] | set[str] = TERMINAL_STATES,
    timeout: float = 30.0,
    poll: float = 0.2,
) -> JobInfo:
    """Poll `scontrol` until the job reaches one of UNTIL (by default any terminal state).

    On timeout the job is cancelled, so that a stuck test leaves nothing running behind.

    Raises:
        TimeoutError: the job is still not there after TIMEOUT seconds (names its last state).
        RuntimeError: the job ended in a terminal state not in UNTIL.
    """
    deadline = time.monotonic() + timeout
    while True:
        info = show_job(job_id)
        if info.state in until:
            return info
        if info.terminal or time.monotonic() > deadline:
            break
        time.sleep(poll)
    last = f"JobState={info.state} Reason={info.fields.get('Reason')} ExitCode={info.fields.get('ExitCode')}"
    if info.terminal:
        raise RuntimeError(f"job {job_id} ended before reaching {sorted(until)}: {last}")
    cancel(job_id)
    raise TimeoutError(f"job {job_id} not in {sorted(until)} after {timeout:.0f}s (cancelled it): {last}")
