"""How many CPU threads one training process may use: the CPUs it was given, not the machine's.

PyTorch (and OpenMP/MKL under it) starts one intra-op thread per core of the machine. A training
process that shares the machine -- a SLURM job given one CPU of a node, two DDP ranks on one
node, a laptop with other work -- then runs more spinning threads than it has CPUs and slows down
by 4-10x (measured in issue 13). One number, :func:`allotted_cpus`, is the smallest of what the
process was given:

- ``NAS_ASSETS_CPU_THREADS`` when set (a person or a launcher that knows better);
- the process's CPU affinity (``taskset``, SLURM's task binding, a container's cpuset);
- the cgroup CPU quota (``cpu.max``: Docker/Kubernetes ``--cpus``, SLURM's cgroup plugin);
- under SLURM, ``SLURM_CPUS_PER_TASK``, else the job's CPUs on this node
  (``SLURM_CPUS_ON_NODE``) divided among the node's tasks (``SLURM_NTASKS_PER_NODE``);
- outside SLURM, divided among the DDP ranks this process starts on the node (``local_ranks``).

:func:`configure_threads` applies it to torch and to the environment of any child process.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

#: Set this to pin the number of threads of a training process (an integer >= 1).
THREADS_VAR = "NAS_ASSETS_CPU_THREADS"
#: ``adaptive`` (default): a training's threads follow the other trainings and the measured free CPU
#: (:mod:`nas_assets.train.thread_share`), so a busy machine does not stall it; ``fixed``: the
#: allotment for the whole training, so a CPU training is bit-reproducible (a different thread count
#: changes the order of floating-point reductions, and so the trained weights).
SHARING_VAR = "NAS_ASSETS_CPU_SHARING"
SHARING_MODES = ("adaptive", "fixed")
#: Environment variables of the math libraries, set to the same number for child processes.
LIBRARY_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


@dataclass(frozen=True)
class CpuAllotment:
    """The threads a process may use, and what limited them (for the result file)."""

    threads: int
    source: str


def cgroup_cpu_limit(root: Path = Path("/sys/fs/cgroup")) -> float | None:
    """CPUs of the cgroup v2 quota of this process (``cpu.max`` "quota period"); None = no limit."""
    try:
        rel = next((line.split(":", 2)[2] for line in Path("/proc/self/cgroup").read_text().splitlines()
                    if line.startswith("0::")), "/")
        cpu_max = next(p for p in (root / rel.lstrip("/") / "cpu.max", root / "cpu.max") if p.is_file())
        quota, period = cpu_max.read_text().split()[:2]
        return None if quota == "max" else int(quota) / int(period)
    except (OSError, ValueError, IndexError, StopIteration):  # no cgroup v2, no quota file
        return None


def _positive_int(environ: Mapping[str, str], name: str) -> int | None:
    text = environ.get(name, "").strip()
    if not text:
        return None
    # SLURM writes counts such as "2(x3)" in *_PER_NODE variables: the first number is ours
    head = text.split("(", 1)[0].split(",", 1)[0]
    try:
        value = int(head)
    except ValueError:
        raise ValueError(f"{name}={text!r}: expected a positive integer") from None
    if value < 1:
        raise ValueError(f"{name}={text!r}: expected a positive integer")
    return value


def cpu_sharing(environ: Mapping[str, str] | None = None) -> str:
    """``NAS_ASSETS_CPU_SHARING`` (one of :data:`SHARING_MODES`; unset = ``adaptive``).

    Raises:
        ValueError: another value, named with the allowed ones.
    """
    environ = os.environ if environ is None else environ
    mode = environ.get(SHARING_VAR, "").strip() or SHARING_MODES[0]
    if mode not in SHARING_MODES:
        raise ValueError(f"{SHARING_VAR}={environ[SHARING_VAR]!r}: expected one of {SHARING_MODES}")
    return mode


def allotted_cpus(
    environ: Mapping[str, str] | None = None,
    *,
    affinity: int | None = None,
    cgroup_limit: float | None | str = "read",
    local_ranks: int = 1,
) -> CpuAllotment:
    """The CPU threads one training process should use (>= 1) and why.

    Args:
        environ: the environment (default ``os.environ``).
        affinity: CPUs in the process's affinity mask (default: ``os.sched_getaffinity``).
        cgroup_limit: CPUs of the cgroup quota; ``"read"`` reads it, None means no quota.
        local_ranks: training processes this one starts on the node outside SLURM (DDP devices).

    Raises:
        ValueError: a malformed ``NAS_ASSETS_CPU_THREADS`` or SLURM count, named.
    """
    environ = os.environ if environ is None else environ
    explicit = _positive_int(environ, THREADS_VAR)
    if explicit is not None:
        return CpuAllotment(explicit, THREADS_VAR)
    if affinity is None:
        affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    limits = {"affinity": affinity}
    quota = cgroup_cpu_limit() if cgroup_limit == "read" else cgroup_limit
    if quota is not None:
        limits["cgroup cpu.max"] = max(1, math.floor(float(quota)))
    if environ.get("SLURM_JOB_ID"):
        per_task = _positive_int(environ, "SLURM_CPUS_PER_TASK")
        if per_task is not None:
            limits["SLURM_CPUS_PER_TASK"] = per_task
        else:
            on_node = _positive_int(environ, "SLURM_CPUS_ON_NODE")
            tasks = (_positive_int(environ, "SLURM_NTASKS_PER_NODE")
                     or _positive_int(environ, "SLURM_TASKS_PER_NODE") or 1)
            if on_node is not None:
                limits["SLURM_CPUS_ON_NODE / tasks"] = max(1, on_node // tasks)
    elif local_ranks > 1:
        limits[f"affinity / {local_ranks} ranks"] = max(1, affinity // local_ranks)
    source, threads = min(limits.items(), key=lambda item: item[1])
    return CpuAllotment(max(1, int(threads)), source)


def configure_threads(allotment: CpuAllotment) -> None:
    """Use ``allotment.threads`` intra-op threads in torch, here and in any child process."""
    import torch

    for name in LIBRARY_VARS:
        os.environ[name] = str(allotment.threads)
    os.environ[THREADS_VAR] = str(allotment.threads)
    torch.set_num_threads(allotment.threads)
    try:  # only possible before the first inter-op parallel work; 1-2 suffices for a CNN step
        torch.set_num_interop_threads(min(2, allotment.threads))
    except RuntimeError:
        pass
