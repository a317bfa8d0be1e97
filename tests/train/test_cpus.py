"""The CPU threads of a training process come from what it was given (issue 13, part 2)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from nas_assets.train.cpus import THREADS_VAR, allotted_cpus, cgroup_cpu_limit


def test_the_whole_machine_when_nothing_limits_it():
    got = allotted_cpus({}, affinity=16, cgroup_limit=None)
    assert (got.threads, got.source) == (16, "affinity")


@pytest.mark.parametrize("environ, affinity, quota, ranks, expected, source", [
    ({}, 8, 2.5, 1, 2, "cgroup cpu.max"),                                       # docker --cpus 2.5
    ({}, 8, 0.5, 1, 1, "cgroup cpu.max"),                                       # never below one
    ({}, 2, None, 1, 2, "affinity"),                                            # taskset -c 0,1
    ({}, 8, None, 4, 2, "affinity / 4 ranks"),                                  # local DDP, 4 ranks
    ({"SLURM_JOB_ID": "7", "SLURM_CPUS_PER_TASK": "3"}, 16, None, 1, 3, "SLURM_CPUS_PER_TASK"),
    ({"SLURM_JOB_ID": "7", "SLURM_CPUS_ON_NODE": "1"}, 16, None, 1, 1, "SLURM_CPUS_ON_NODE / tasks"),
    ({"SLURM_JOB_ID": "7", "SLURM_CPUS_ON_NODE": "8", "SLURM_NTASKS_PER_NODE": "4"}, 16, None, 4, 2,
     "SLURM_CPUS_ON_NODE / tasks"),
    ({"SLURM_JOB_ID": "7", "SLURM_CPUS_ON_NODE": "8", "SLURM_TASKS_PER_NODE": "2(x3)"}, 16, None, 1, 4,
     "SLURM_CPUS_ON_NODE / tasks"),
    ({THREADS_VAR: "5", "SLURM_JOB_ID": "7", "SLURM_CPUS_PER_TASK": "1"}, 2, 1.0, 1, 5, THREADS_VAR),
])
def test_the_smallest_allotment_wins(environ, affinity, quota, ranks, expected, source):
    got = allotted_cpus(environ, affinity=affinity, cgroup_limit=quota, local_ranks=ranks)
    assert (got.threads, got.source) == (expected, source)


@pytest.mark.parametrize("environ, name", [
    ({THREADS_VAR: "abc"}, THREADS_VAR),
    ({THREADS_VAR: "0"}, THREADS_VAR),
    ({"SLURM_JOB_ID": "7", "SLURM_CPUS_PER_TASK": "-2"}, "SLURM_CPUS_PER_TASK"),
])
def test_malformed_counts_are_named(environ, name):
    with pytest.raises(ValueError, match=f"{name}=.*positive integer"):
        allotted_cpus(environ, affinity=4, cgroup_limit=None)


def test_cgroup_limit_is_a_number_or_none():
    limit = cgroup_cpu_limit()
    assert limit is None or limit > 0


def test_a_training_process_uses_the_cpus_of_its_affinity_mask(tmp_path):
    """A real process pinned to one CPU runs torch with one thread (the default would be all cores)."""
    script = ("from nas_assets.train.cpus import allotted_cpus, configure_threads\n"
              "import torch; a = allotted_cpus(); configure_threads(a); print(a.threads, a.source, "
              "torch.get_num_threads())")
    out = subprocess.run(["taskset", "-c", "0", sys.executable, "-c", script], capture_output=True, text=True,
                         env={"PATH": "/usr/bin:/bin"}, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["1", "affinity", "1"]
