"""trained_architecture through the real local SLURM cluster: sbatch end to end, DDP over srun,
failures, submit errors, TIMEOUT then resume, cancellation, re-attach after a crash."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest
import yaml
from dagster import instance_for_test, materialize

from nas_assets.defs.definitions import ASSETS, CHECKS
from nas_assets.defs.launchers import SlurmLauncher
from nas_assets.defs.partitions import ARCHITECTURE_PARTITIONS
from nas_assets.defs.resources import So2SatDataResource, StoreResource, TrainingSetupResource
from nas_assets.launch import slurm
from tests.factories import later_stage_resources

DESIGN = {"ops": {"sampled_architectures": {"config": {"preset": "demo", "n_initial": 2, "n_walks": 0,
                                                        "walk_length": 0, "n_local_search": 0}}}}
REPO = Path(__file__).resolve().parents[2]


def resources(tmp_path, store_path, budgets=(1, 2), **launcher) -> dict:
    return {
        "store": StoreResource(path=str(store_path)),
        "data": So2SatDataResource(path=str(tmp_path / "so2sat"), cache_dir=str(tmp_path / "cache"),
                                   synthetic=True, synthetic_train=68, synthetic_val=34, synthetic_test=34),
        # snapshot: the checkpoint layout the TIMEOUT/resume test reads (<hash>/last.ckpt), and the
        # budgets (1, 2, 100_000) as one run; the nb101 layout is covered by tests/train
        "training": TrainingSetupResource(runs_dir=str(tmp_path / "runs"), overrides=dict(
            budgets=list(budgets), protocol="snapshot", stem_channels=8, cells_per_stack=1, batch_size=16)),
        "launcher": SlurmLauncher(poll_interval_s=0.5, time_limit=None, **launcher),
        **later_stage_resources(tmp_path),
    }


def run(instance, res, selection, partition_key=None, run_config=None):
    return materialize([*ASSETS, *CHECKS], instance=instance, resources=res, selection=selection,
                       partition_key=partition_key, run_config=run_config or {}, raise_on_error=False)


def rows(db, sql):
    with duckdb.connect(str(db), read_only=True) as conn:
        return conn.execute(sql).fetchall()


def failure_text(result) -> str:
    return str(next(e for e in result.all_events
                    if e.event_type_value == "STEP_FAILURE").event_specific_data.error)


@pytest.fixture
def prepared(slurm_cluster, tmp_path, fresh_store):
    """Instance + design + dataset ready; yields (instance, partition keys)."""
    with instance_for_test() as instance:
        res = resources(tmp_path, fresh_store)
        assert run(instance, res, ["sampled_architectures", "so2sat_dataset"], run_config=DESIGN).success
        yield instance, instance.get_dynamic_partitions(ARCHITECTURE_PARTITIONS.name)


def test_partition_trains_through_sbatch(prepared, tmp_path, fresh_store):
    instance, keys = prepared
    result = run(instance, resources(tmp_path, fresh_store), ["trained_architecture"], partition_key=keys[0])
    assert result.success, failure_text(result)
    meta = result.asset_materializations_for_node("trained_architecture")[0].metadata
    assert meta["launcher"].value == "slurm" and meta["job_state"].value == "COMPLETED"
    assert meta["slurm_job_id"].value and meta["slurm_node"].value == "localhost"
    assert (rows(fresh_store, "SELECT count(*), max(slurm_job_id) FROM training_runs")[0]
            == (1, meta["slurm_job_id"].value))
    logs = [e.message for e in instance.all_logs(result.run_id)]
    assert any("[budget   2]" in m for m in logs)  # streamed through Dagster Pipes from the job


def test_two_task_ddp_job_writes_one_reduced_result(prepared, tmp_path, fresh_store):
    instance, keys = prepared
    res = resources(tmp_path, fresh_store, tasks_per_node=2)
    result = run(instance, res, ["trained_architecture"], partition_key=keys[1])
    assert result.success, failure_text(result)
    out = res["training"].out_dir(res["data"])
    record = json.loads((out / f"{keys[1]}.json").read_text())
    assert record["environment"]["world_size"] == 2 and record["environment"]["slurm_job_id"]
    assert record["budgets"][-1]["val"]["n_samples"] == 34  # reduced over both ranks
    assert len(list(out.glob("*.json"))) == 1


def test_failing_job_reports_state_and_log_tail_and_writes_nothing(prepared, tmp_path, fresh_store):
    instance, keys = prepared
    res = resources(tmp_path, fresh_store)
    res["training"] = TrainingSetupResource(runs_dir=str(tmp_path / "runs"), overrides=dict(
        budgets=[1], recipe="sgd", precision="bogus-precision"))
    result = run(instance, res, ["trained_architecture"], partition_key=keys[0])
    assert not result.success
    text = failure_text(result)
    assert "ended FAILED" in text and "Precision 'bogus-precision' is invalid" in text
    assert rows(fresh_store, "SELECT count(*) FROM training_runs") == [(0,)]


@pytest.mark.parametrize("launcher, message", [
    ({"partition": "no_such_partition"}, "invalid partition"),
    ({"cpus_per_task": 64}, "sbatch rejected"),
    ({"gpus_per_node": 2, "tasks_per_node": 1}, "must equal tasks_per_node"),
])
def test_submit_errors_are_clear(prepared, tmp_path, fresh_store, launcher, message):
    instance, keys = prepared
    result = run(instance, resources(tmp_path, fresh_store, **launcher), ["trained_architecture"],
                 partition_key=keys[0])
    assert not result.success
    assert message.lower() in failure_text(result).lower()


def test_timeout_then_resubmission_resumes_from_checkpoint(prepared, tmp_path, fresh_store):
    """A one-minute limit and far more epochs than fit: TIMEOUT. The resubmitted job (same
    partition, same configuration) resumes from last.ckpt -- shown by its log and by the epoch
    stored in the checkpoint -- and times out again; independent of how fast this machine is."""
    import torch

    instance, keys = prepared
    endless = resources(tmp_path, fresh_store, budgets=(1, 2, 100_000))
    endless["launcher"] = SlurmLauncher(poll_interval_s=1.0, time_limit="1")  # one minute
    ckpt = endless["training"].out_dir(endless["data"]) / "checkpoints" / keys[0] / "last.ckpt"
    first = run(instance, endless, ["trained_architecture"], partition_key=keys[0])
    assert not first.success and "ended TIMEOUT" in failure_text(first)
    epoch_first = torch.load(ckpt, weights_only=False)["epoch"]
    assert epoch_first >= 1 and ckpt.with_name("budget-002.ckpt").exists()
    assert rows(fresh_store, "SELECT count(*) FROM training_runs") == [(0,)]
    second = run(instance, endless, ["trained_architecture"], partition_key=keys[0])
    assert not second.success and "ended TIMEOUT" in failure_text(second)
    logs = ckpt.parents[2].glob(f"jobs/{keys[0]}/slurm-*.log")
    log = max(logs, key=lambda p: int(p.stem.split("-")[1])).read_text()  # the resubmitted job's log
    assert f"resuming {keys[0]} from {ckpt}" in log
    first_epoch_line = next(line for line in log.splitlines() if line.startswith("epoch "))
    assert int(first_epoch_line.split()[1].split("/")[0]) > epoch_first  # continued, not restarted
    assert torch.load(ckpt, weights_only=False)["epoch"] > epoch_first


def _dagster_materialize(tmp_path: Path, key: str, env: dict) -> subprocess.Popen:
    return subprocess.Popen(
        [str(Path(sys.executable).parent / "dagster"), "asset", "materialize", "-m", "nas_assets.defs",
         "--select", "trained_architecture", "--partition", key],
        cwd=REPO, env=env, stdout=open(tmp_path / f"dagster-{time.time()}.log", "w"),
        stderr=subprocess.STDOUT, start_new_session=True,
    )


@pytest.fixture
def cli_env(slurm_cluster, tmp_path, space_store):
    """A DAGSTER_HOME + data dir for `dagster` subprocesses using the slurm profile."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(REPO / "dagster_home" / "dagster.yaml", home / "dagster.yaml")
    data = tmp_path / "data"
    data.mkdir()
    shutil.copy(space_store, data / "nas_assets.duckdb")
    settings = tmp_path / "slurm.json"
    settings.write_text(json.dumps({"poll_interval_s": 0.5, "time_limit": None}))
    env = {**os.environ, "DAGSTER_HOME": str(home), "NAS_ASSETS_DATA_DIR": str(data),
           "NAS_ASSETS_PROFILE": "slurm", "NAS_ASSETS_TRAINING": "demo",
           "NAS_ASSETS_SLURM_CONFIG": str(settings)}
    prep = subprocess.run(
        [str(Path(sys.executable).parent / "dagster"), "asset", "materialize", "-m", "nas_assets.defs",
         "--select", "sampled_architectures,so2sat_dataset", "--config-json", json.dumps(DESIGN)],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300,
    )
    assert prep.returncode == 0, prep.stderr[-3000:]
    return env, data


def _runs_by_state(home: Path) -> tuple[int, int]:
    """(runs launched and not ended, runs waiting in the daemon's queue) of the instance at ``home``."""
    from dagster import DagsterInstance, DagsterRunStatus, RunsFilter

    with DagsterInstance.from_config(str(home)) as instance:
        active = instance.get_runs_count(RunsFilter(statuses=[
            DagsterRunStatus.STARTING, DagsterRunStatus.STARTED, DagsterRunStatus.CANCELING]))
        queued = instance.get_runs_count(RunsFilter(statuses=[DagsterRunStatus.QUEUED]))
    return active, queued


def _our_jobs(tmp_path: Path) -> list[dict]:
    """This test's nas_assets jobs (their script lies under tmp_path; other runs may share the cluster)."""
    out = subprocess.run(["squeue", "-h", "-o", "%i %j %T %o"], capture_output=True,
                         text=True).stdout.split("\n")
    jobs = [dict(zip(("id", "name", "state", "command"), line.split(maxsplit=3)))
            for line in out if line.strip()]
    return [j for j in jobs if j["name"].startswith("nas-") and str(tmp_path) in j.get("command", "")]


def _wait_for_running_job(tmp_path: Path, timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        running = [j for j in _our_jobs(tmp_path) if j["state"] == "RUNNING"]
        if running:
            return running[0]
        time.sleep(0.3)
    raise AssertionError("no nas_assets SLURM job started running")


def _key(data: Path) -> str:
    return rows(data / "nas_assets.duckdb",
                "SELECT arch_hash FROM sampled_architectures ORDER BY visit LIMIT 1")[0][0]


def test_terminating_the_dagster_run_cancels_the_job(cli_env, tmp_path):
    env, data = cli_env
    env = {**env, "NAS_ASSETS_TRAINING": "paper"}  # long enough to be cancelled mid-way
    proc = _dagster_materialize(tmp_path, _key(data), env)
    job = _wait_for_running_job(tmp_path)
    os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C / run termination
    proc.wait(timeout=60)
    deadline = time.monotonic() + 30
    while (info := slurm.job_info(job["id"])) and not info.terminal and time.monotonic() < deadline:
        time.sleep(0.5)
    assert info is not None and info.state == "CANCELLED"


def test_restarted_dagster_reattaches_instead_of_resubmitting(cli_env, tmp_path):
    env, data = cli_env
    key = _key(data)
    proc = _dagster_materialize(tmp_path, key, env)
    job = _wait_for_running_job(tmp_path)
    os.killpg(proc.pid, signal.SIGKILL)  # the Dagster process dies; the job goes on
    proc.wait()
    assert slurm.job_info(job["id"]).state in ("RUNNING", "COMPLETING", "COMPLETED")
    again = subprocess.run(
        [str(Path(sys.executable).parent / "dagster"), "asset", "materialize", "-m", "nas_assets.defs",
         "--select", "trained_architecture", "--partition", key],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300,
    )
    assert again.returncode == 0, again.stderr[-3000:]
    assert f"re-attaching to SLURM job {job['id']}" in again.stderr + again.stdout
    assert rows(data / "nas_assets.duckdb", "SELECT slurm_job_id FROM training_runs") == [(job["id"],)]


def test_backfill_of_all_partitions_respects_the_pool_limit(cli_env, tmp_path):
    """One backfill (CLI, launched by the daemon) over every partition, with the repo's instance
    settings at a pool limit of 1: at most one SLURM job queued or running at a time, and the runs
    that wait for the pool wait QUEUED in the daemon, never launched (a launched run whose step
    waits for a slot spins a core in Dagster's executor; `granularity: run` prevents it)."""
    env, data = cli_env
    home = Path(env["DAGSTER_HOME"])
    settings = yaml.safe_load((REPO / "dagster_home" / "dagster.yaml").read_text())
    settings["concurrency"]["pools"]["default_limit"] = 1
    (home / "dagster.yaml").write_text(yaml.safe_dump(settings))
    dagster_bin = Path(sys.executable).parent
    daemon = subprocess.Popen([str(dagster_bin / "dagster-daemon"), "run", "-m", "nas_assets.defs"],
                              cwd=REPO, env=env,
                              stdout=open(tmp_path / "daemon.log", "w"), stderr=subprocess.STDOUT,
                              start_new_session=True)
    try:
        launched = subprocess.run(
            [str(dagster_bin / "dagster"), "job", "backfill", "-m", "nas_assets.defs", "-j",
             "train_architectures", "--all", "--noprompt"],
            cwd=REPO, env=env, capture_output=True, text=True, timeout=120,
        )
        assert launched.returncode == 0, launched.stderr[-3000:]
        n_partitions = len(rows(data / "nas_assets.duckdb",
                                "SELECT DISTINCT arch_hash FROM sampled_architectures"))
        most_at_once, deadline, trained = 0, time.monotonic() + 420, 0
        most_runs_active, most_runs_queued = 0, 0
        while time.monotonic() < deadline:
            ours = _our_jobs(tmp_path)
            most_at_once = max(most_at_once, len(ours))
            active, queued = _runs_by_state(home)
            most_runs_active, most_runs_queued = max(most_runs_active, active), max(most_runs_queued, queued)
            try:
                trained = rows(data / "nas_assets.duckdb", "SELECT count(*) FROM training_runs")[0][0]
            except duckdb.IOException:  # a run holds the write lock right now
                pass
            if trained == n_partitions and not ours:
                break
            time.sleep(0.5)
        assert trained == n_partitions, (tmp_path / "daemon.log").read_text()[-3000:]
        assert most_at_once == 1
        assert most_runs_active == 1, f"{most_runs_active} runs launched at once with a pool limit of 1"
        assert most_runs_queued >= 1, "no run ever waited in the daemon's queue"
    finally:
        os.killpg(daemon.pid, signal.SIGTERM)
        daemon.wait(timeout=60)
