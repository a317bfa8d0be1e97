"""The local SLURM cluster behaves as the launcher will rely on: end states, exit codes, ranks,
fake GPUs and rejection at submit. Real jobs; each test takes about a second or two."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.slurm.slurm_helpers import (
    CLUSTER_SH,
    SbatchError,
    cancel,
    parse_job_line,
    run_sbatch,
    submit,
    wait_for_job,
)


def test_parse_job_line() -> None:
    line = ("JobId=7 JobName=wrap UserId=root(0) JobState=FAILED Reason=NonZeroExitCode Dependency=(null) "
            "ExitCode=3:0 TRES=cpu=1,mem=1G,node=1 Socks/Node=* WorkDir=/tmp/a dir StdOut=/tmp/a dir/o")
    info = parse_job_line(line)
    assert (info.job_id, info.state, info.exit_status, info.exit_signal) == ("7", "FAILED", 3, 0)
    assert info.terminal
    assert info.fields["TRES"] == "cpu=1,mem=1G,node=1"
    assert info.fields["WorkDir"] == "/tmp/a dir"
    with pytest.raises(ValueError, match="JobState"):
        parse_job_line("JobId=7 ExitCode=0:0")


def test_status_and_env(slurm_cluster) -> None:
    env = slurm_cluster.env | {"NAS_ASSETS_SLURM_DIR": str(slurm_cluster.state_dir)}
    status = subprocess.run(["bash", str(CLUSTER_SH), "status"], env=env,
                            capture_output=True, text=True, timeout=60)
    assert status.returncode == 0, status.stdout + status.stderr
    assert status.stdout.splitlines()[-1] == "healthy"
    assert "debug*" in status.stdout and "gpu" in status.stdout
    printed = subprocess.run(["bash", str(CLUSTER_SH), "env"], env=env,
                             capture_output=True, text=True, timeout=60, check=True)
    assert printed.stdout.strip() == f"export SLURM_CONF={slurm_cluster.conf}"


def test_trivial_job_completes_and_inherits_environment(slurm_cluster, tmp_path: Path) -> None:
    script = "#!/bin/bash\necho \"hello $SLURM_JOB_ID\"\necho \"$SLURM_CONF\"\necho \"$PATH\"\n"
    job_id = submit(script, "-o", "out.txt", "-J", "trivial", cwd=tmp_path)
    info = wait_for_job(job_id)
    assert (info.state, info.exit_status, info.exit_signal) == ("COMPLETED", 0, 0)
    assert info.fields["Partition"] == "debug"
    # The default --export=ALL carries SLURM_CONF and the submitting venv's PATH into the job.
    assert (tmp_path / "out.txt").read_text().splitlines() == [
        f"hello {job_id}", str(slurm_cluster.conf), os.environ["PATH"],
    ]


@pytest.mark.usefixtures("slurm_cluster")
def test_failing_job_is_failed_with_its_exit_code(tmp_path: Path) -> None:
    job_id = submit("#!/bin/bash\necho about to fail >&2\nexit 3\n", "-o", "out.txt", cwd=tmp_path)
    info = wait_for_job(job_id)
    assert (info.state, info.fields["ExitCode"]) == ("FAILED", "3:0")
    assert (tmp_path / "out.txt").read_text() == "about to fail\n"


@pytest.mark.usefixtures("slurm_cluster")
def test_scancel_cancels_a_running_job(tmp_path: Path) -> None:
    job_id = submit("#!/bin/bash\necho started\nexec sleep 300\n", "-o", "out.txt", cwd=tmp_path)
    try:
        wait_for_job(job_id, until={"RUNNING"}, timeout=20)
    finally:
        cancel(job_id)
    info = wait_for_job(job_id, timeout=20)
    assert info.state == "CANCELLED"


@pytest.mark.usefixtures("slurm_cluster")
def test_srun_gives_two_ranks(tmp_path: Path) -> None:
    script = "#!/bin/bash\n#SBATCH --ntasks=2\nsrun bash -c 'echo \"$SLURM_PROCID $SLURM_NTASKS\"'\n"
    job_id = submit(script, "-o", "out.txt", cwd=tmp_path)
    info = wait_for_job(job_id)
    assert info.state == "COMPLETED", (tmp_path / "out.txt").read_text()
    assert sorted((tmp_path / "out.txt").read_text().splitlines()) == ["0 2", "1 2"]


@pytest.mark.usefixtures("slurm_cluster")
def test_gpu_partition_hands_out_two_fake_gpus(tmp_path: Path) -> None:
    script = "#!/bin/bash\necho \"$CUDA_VISIBLE_DEVICES\"\necho \"$SLURM_GPUS_ON_NODE\"\n"
    job_id = submit(script, "-p", "gpu", "--gres=gpu:2", "-o", "out.txt", cwd=tmp_path)
    info = wait_for_job(job_id)
    assert (info.state, info.fields["Partition"]) == ("COMPLETED", "gpu")
    visible, on_node = (tmp_path / "out.txt").read_text().splitlines()
    assert len(visible.split(",")) == 2 and on_node == "2"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-p", "no_such_partition"], "invalid partition"),
        (["--cpus-per-task=10000"], "More processors requested than permitted"),
        (["--gres=tpu:1"], "Invalid generic resource"),
    ],
    ids=["unknown-partition", "too-many-cpus", "unknown-gres"],
)
@pytest.mark.usefixtures("slurm_cluster")
def test_impossible_jobs_are_rejected_at_submit(tmp_path: Path, args: list[str], message: str) -> None:
    proc = run_sbatch("#!/bin/bash\ntrue\n", *args, cwd=tmp_path)
    assert proc.returncode != 0 and proc.stdout.strip() == ""
    assert message.lower() in proc.stderr.lower(), proc.stderr
    with pytest.raises(SbatchError, match=message):
        submit("#!/bin/bash\ntrue\n", *args, cwd=tmp_path)
