"""A small SLURM client: render a job script, submit with ``sbatch``, track with ``scontrol``.

No Dagster here (the resource in ``nas_assets.defs`` wraps it). Facts it relies on, measured on
our cluster (shared/notes/slurm_local_cluster.md): ``sbatch --parsable`` returns the id at once;
``scontrol -o show job ID`` keeps finished jobs for ``MinJobAge`` seconds; ``sacct`` may be
unavailable (no accounting storage), so it is only a fallback.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from string import Template
from typing import Mapping

#: The job script template, shipped as package data (works from a wheel as from a checkout).
TEMPLATE = Path(__file__).resolve().parent / "train_job.sbatch.tmpl"

PENDING_STATES = {"PENDING", "CONFIGURING", "REQUEUED", "RESIZING", "SUSPENDED", "REQUEUE_HOLD",
                  "REQUEUE_FED"}
RUNNING_STATES = {"RUNNING", "COMPLETING", "STAGE_OUT", "SIGNALING"}
FAILED_STATES = {"FAILED", "TIMEOUT", "CANCELLED", "NODE_FAIL", "PREEMPTED", "OUT_OF_MEMORY", "BOOT_FAIL",
                 "DEADLINE"}
TERMINAL_STATES = FAILED_STATES | {"COMPLETED"}


class SlurmError(RuntimeError):
    """sbatch/scontrol failed; the message holds the command and its stderr."""


@dataclass(frozen=True)
class JobResources:
    """Everything site-specific about a job; all of it is configuration, none of it code.

    Attributes:
        account, partition, qos: scheduler accounting and queue (None = site default).
        time_limit: ``--time`` (e.g. ``02:00:00``).
        nodes: ``--nodes`` (= the Trainer's ``num_nodes``).
        tasks_per_node: ``--ntasks-per-node`` (= the Trainer's ``devices``; one rank per GPU).
        gpus_per_node: ``--gres=gpu:N`` (0 = none); must equal ``tasks_per_node`` when > 0.
        cpus_per_task: ``--cpus-per-task``.
        mem: ``--mem`` (e.g. ``64G``).
        extra_sbatch_args: more ``#SBATCH`` lines' arguments, verbatim.
        setup_lines: shell lines before training (module loads, venv/conda activation).
        container_prefix: command prefix, e.g. ``apptainer exec --nv image.sif``.
    """

    account: str | None = None
    partition: str | None = None
    qos: str | None = None
    time_limit: str | None = "04:00:00"
    nodes: int = 1
    tasks_per_node: int = 1
    gpus_per_node: int = 0
    cpus_per_task: int | None = None
    mem: str | None = None
    extra_sbatch_args: tuple[str, ...] = ()
    setup_lines: tuple[str, ...] = ()
    container_prefix: str = ""

    def check(self) -> None:
        if self.nodes < 1 or self.tasks_per_node < 1:
            raise ValueError(f"nodes ({self.nodes}) and tasks_per_node ({self.tasks_per_node}) must be >= 1")
        if self.gpus_per_node and self.gpus_per_node != self.tasks_per_node:
            raise ValueError(
                f"gpus_per_node ({self.gpus_per_node}) must equal tasks_per_node ({self.tasks_per_node}): "
                "one DDP rank per GPU"
            )

    def sbatch_lines(self) -> list[str]:
        lines = []
        for flag, value in (("--account", self.account), ("--partition", self.partition), ("--qos", self.qos),
                            ("--time", self.time_limit), ("--cpus-per-task", self.cpus_per_task), ("--mem",
                                                                                                   self.mem)):
            if value not in (None, ""):
                lines.append(f"#SBATCH {flag}={value}")
        if self.gpus_per_node:
            lines.append(f"#SBATCH --gres=gpu:{self.gpus_per_node}")
        lines.extend(f"#SBATCH {arg}" for arg in self.extra_sbatch_args)
        return lines


@dataclass(frozen=True)
class StageData:
    """Copy a directory to node-local storage once per node before training.

    ``srun --ntasks-per-node=1`` runs the copy on every node; a lock file and a marker make it
    once per node even when several jobs land there together.
    """

    source: str
    target: str

    def lines(self) -> list[str]:
        src, dst = shlex.quote(self.source.rstrip("/")), shlex.quote(self.target.rstrip("/"))
        copy = (
            f"mkdir -p {dst} && exec 9>{dst}.lock && flock 9 && "
            f"if [ ! -e {dst}/.staged ]; then cp -a {src}/. {dst}/ && touch {dst}/.staged; fi"
        )
        return [f"srun --ntasks-per-node=1 --ntasks=$SLURM_JOB_NUM_NODES bash -c {shlex.quote(copy)}"]


def render_script(
    job_name: str, command: list[str], log_path: str | Path, resources: JobResources,
    stage: StageData | None = None, template: Path = TEMPLATE,
) -> str:
    """The sbatch script for one training job."""
    resources.check()
    text = Template(Path(template).read_text())
    return text.substitute(
        job_name=job_name,
        nodes=resources.nodes,
        ntasks_per_node=resources.tasks_per_node,
        log_path=str(log_path),
        optional_sbatch="\n".join(resources.sbatch_lines()),
        setup_lines="\n".join(resources.setup_lines),
        stage_lines="\n".join(stage.lines()) if stage else "",
        container_prefix=((resources.container_prefix.strip() + " ")
                          if resources.container_prefix.strip() else ""),
        command=" ".join(shlex.quote(c) for c in command),
    )


def _run(cmd: list[str], timeout: float = 60) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except FileNotFoundError:
        raise SlurmError(f"{cmd[0]}: not found; is SLURM installed and on PATH "
                         "(and SLURM_CONF set)?") from None


def submit(script: str | Path, env: Mapping[str, str] | None = None) -> str:
    """``sbatch --parsable SCRIPT``; returns the job id or raises with sbatch's message."""
    import os

    if not _have("sbatch"):
        raise SlurmError("sbatch: not found; is SLURM installed and on PATH (and SLURM_CONF set)?")
    out = subprocess.run(["sbatch", "--parsable", str(script)], capture_output=True, text=True, timeout=60,
                         env={**os.environ, **(env or {})})
    if out.returncode != 0:
        raise SlurmError(f"sbatch rejected {script}: {out.stderr.strip() or out.stdout.strip()}")
    return out.stdout.strip().split(";")[0]


def _have(binary: str) -> bool:
    import shutil

    return shutil.which(binary) is not None


@dataclass
class JobInfo:
    """What the scheduler says about a job."""

    job_id: str
    state: str
    exit_code: str = ""
    node: str = ""
    elapsed: str = ""
    reason: str = ""
    raw: dict = field(default_factory=dict)

    @property
    def terminal(self) -> bool:
        return self.state in TERMINAL_STATES


# A key of ``scontrol -o`` output ("JobState", "Socks/Node", "ReqB:S:C:T", ...); a value runs
# up to the next " Key=" because values may contain spaces (e.g. WorkDir).
_FIELD = re.compile(r"(?:^|\s)([A-Za-z][A-Za-z0-9_:/]*)=(.*?)(?=\s[A-Za-z][A-Za-z0-9_:/]*=|\s*$)")


def parse_scontrol_line(line: str) -> dict[str, str]:
    """Fields of one ``scontrol -o show job`` line."""
    return {m.group(1): m.group(2) for m in _FIELD.finditer(line.strip())}


def job_info(job_id: str) -> JobInfo | None:
    """State of a job from ``scontrol`` (``sacct`` as a fallback); None if unknown to both."""
    out = _run(["scontrol", "-o", "show", "job", str(job_id)])
    if out.returncode == 0 and out.stdout.strip():
        fields = parse_scontrol_line(out.stdout.strip().splitlines()[0])
        return JobInfo(
            job_id=str(job_id),
            state=fields.get("JobState", "UNKNOWN"),
            exit_code=fields.get("ExitCode", ""),
            node=fields.get("NodeList", "") if fields.get("NodeList") not in ("(null)", None) else "",
            elapsed=fields.get("RunTime", ""),
            reason=fields.get("Reason", ""),
            raw=fields,
        )
    if _have("sacct"):
        acct = _run(["sacct", "-n", "-P", "-X", "-j", str(job_id), "-o", "State,ExitCode,NodeList,Elapsed"])
        if acct.returncode == 0 and acct.stdout.strip():
            state, code, node, elapsed = (acct.stdout.strip().splitlines()[0].split("|") + ["", "", "",
                                                                                            ""])[:4]
            return JobInfo(str(job_id), state.split()[0], code, node, elapsed)
    return None


def cancel(job_id: str) -> None:
    """``scancel``; ignores jobs that already ended."""
    _run(["scancel", str(job_id)])


def queue_states(job_ids: list[str]) -> dict[str, tuple[str, str]] | None:
    """``squeue -t all -j ID,ID,...`` in one call: job id -> (state, node); None when squeue fails
    (an id the controller forgot makes it fail for all: callers fall back to :func:`job_info`)."""
    if not job_ids:
        return {}
    out = _run(["squeue", "-h", "-t", "all", "-j", ",".join(job_ids), "-o", "%i|%T|%N"])
    if out.returncode != 0:
        return None
    states = {}
    for line in out.stdout.splitlines():
        job_id, state, node = (line.strip().split("|") + ["", ""])[:3]
        states[job_id] = (state, node)
    return states


class SharedQueue:
    """The states of every job this process waits on, from one ``squeue`` call at most every
    ``max_age_s`` (a run waiting on 25 jobs polls the scheduler once, not 25 times)."""

    def __init__(self, max_age_s: float = 1.0) -> None:
        self.max_age_s = max_age_s
        self._lock = threading.Lock()
        self._ids: set[str] = set()
        self._states: dict[str, tuple[str, str]] | None = {}
        self._at = 0.0

    def state(self, job_id: str) -> tuple[str, str] | None:
        """(state, node) of ``job_id``; None when the queue could not say (ask :func:`job_info`)."""
        with self._lock:
            self._ids.add(job_id)
            stale = time.monotonic() - self._at > self.max_age_s
            if stale or self._states is None or job_id not in self._states:
                self._states = queue_states(sorted(self._ids))
                self._at = time.monotonic()
            return None if self._states is None else self._states.get(job_id)

    def forget(self, job_id: str) -> None:
        with self._lock:
            self._ids.discard(job_id)
