"""The environment is checked when the definitions load: a bad variable names itself and its
allowed values; an impossible training setup fails when the resource is built, not in a job."""

from __future__ import annotations

import subprocess
import sys

import pytest

from nas_assets.defs import profiles
from nas_assets.defs.resources import So2SatDataResource, TrainingSetupResource
from tests.dagster_server import REPO


@pytest.fixture
def env(monkeypatch, tmp_path):
    monkeypatch.setenv("NAS_ASSETS_DATA_DIR", str(tmp_path))
    for name in ("NAS_ASSETS_PROFILE", "NAS_ASSETS_TRAINING", "NAS_ASSETS_DEVICES", "NAS_ASSETS_ACCELERATOR",
                 "NAS_ASSETS_SO2SAT_DIR", "NAS_ASSETS_DB", "NAS_ASSETS_BATCH", "NAS_ASSETS_CPU_SHARING"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


@pytest.mark.parametrize(("name", "value", "message"), [
    ("NAS_ASSETS_TRAINING", "foo", "NAS_ASSETS_TRAINING='foo': expected one of ('demo', 'paper')"),
    ("NAS_ASSETS_DEVICES", "abc", "NAS_ASSETS_DEVICES='abc': expected a whole number >= 1 (training "
                                  "processes per job)"),
    ("NAS_ASSETS_DEVICES", "0", "NAS_ASSETS_DEVICES='0': expected a whole number >= 1 (training processes "
                                "per job)"),
    ("NAS_ASSETS_DEVICES", "-2", "NAS_ASSETS_DEVICES='-2': expected a whole number >= 1 (training processes "
                                 "per job)"),
    ("NAS_ASSETS_ACCELERATOR", "tpu", "NAS_ASSETS_ACCELERATOR='tpu': expected one of ('auto', 'cpu', 'gpu')"),
    ("NAS_ASSETS_CPU_SHARING", "off", "NAS_ASSETS_CPU_SHARING='off': expected one of ('adaptive', 'fixed')"),
])
def test_bad_variables_fail_when_the_definitions_load(env, name, value, message):
    env.setenv(name, value)
    with pytest.raises(ValueError) as info:
        profiles.resources()
    assert str(info.value) == message


def test_gpu_accelerator_needs_a_visible_gpu(env):
    import torch

    env.setenv("NAS_ASSETS_ACCELERATOR", "gpu")
    if torch.cuda.is_available():  # this machine has one: the launcher is built as asked
        assert profiles.resources()["launcher"].accelerator == "gpu"
    else:
        with pytest.raises(ValueError, match=r"^NAS_ASSETS_ACCELERATOR='gpu' with NAS_ASSETS_DEVICES='1': "
                                             r"accelerator "
                                             r"'gpu': no CUDA GPU is visible on this machine; use cpu or "
                                             r"auto$"):
            profiles.resources()


def test_placement_does_not_change_the_configuration_id(env, tmp_path):
    env.setenv("NAS_ASSETS_DEVICES", "2")
    env.setenv("NAS_ASSETS_ACCELERATOR", "auto")
    two = profiles.resources()
    assert (two["launcher"].devices, two["launcher"].accelerator) == (2, "auto")
    env.delenv("NAS_ASSETS_DEVICES")
    env.delenv("NAS_ASSETS_ACCELERATOR")
    one = profiles.resources()
    assert two["training"].config_id(two["data"]) == one["training"].config_id(one["data"])


@pytest.mark.parametrize(("profile", "batch", "per_run"), [("local", None, 1), ("slurm", None, 25), ("local",
                                                                                                     "8", 8)])
def test_training_backfills_are_batched_by_profile(env, profile, batch, per_run):
    from nas_assets.defs.definitions import batched

    env.setenv("NAS_ASSETS_PROFILE", profile)
    if batch:
        env.setenv("NAS_ASSETS_BATCH", batch)
    assert profiles.partitions_per_run() == per_run
    trained = next(a for a in batched(per_run) if a.key.to_user_string() == "trained_architecture")
    policy = trained.backfill_policy
    assert (policy.max_partitions_per_run if policy else 1) == per_run


@pytest.mark.parametrize("value", ["0", "-1", "x"])
def test_bad_batch_fails_when_the_definitions_load(env, value):
    env.setenv("NAS_ASSETS_BATCH", value)
    with pytest.raises(ValueError, match=rf"^NAS_ASSETS_BATCH='{value}': expected a whole number >= 1 "
                                         r"\(partitions per backfill run\)$"):
        profiles.partitions_per_run()


def test_dagster_reports_the_variable_in_one_line(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "NAS_ASSETS_DATA_DIR": str(tmp_path), "NAS_ASSETS_TRAINING": "foo"}
    out = subprocess.run([sys.executable, "-c", "import nas_assets.defs"], cwd=REPO, env=env,
                         capture_output=True,
                         text=True, timeout=120)
    assert out.returncode != 0
    assert out.stderr.strip().splitlines()[-1] == (
        "ValueError: NAS_ASSETS_TRAINING='foo': expected one of ('demo', 'paper')")


@pytest.mark.parametrize(("field", "value", "message"), [
    ("lr", float("nan"), "lr = nan: expected a finite number > 0"),
    ("lr", -0.1, "lr = -0.1: expected a finite number > 0"),
    ("stem_channels", 0, "stem_channels = 0: expected an integer >= 1"),
    ("num_stacks", 0, "num_stacks = 0: expected an integer >= 1"),
    ("batch_size", 0, "batch_size = 0: expected an integer >= 1"),
])
def test_impossible_training_setup_fails_when_built(tmp_path, field, value, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        TrainingSetupResource(runs_dir=str(tmp_path), **{field: value})


def test_configuration_id_is_unchanged_by_the_refactoring(tmp_path):
    """The id names existing run directories: the same fields as before give the same id."""
    data = So2SatDataResource(path="/data/so2sat", cache_dir="/data/cache")
    setup = TrainingSetupResource(runs_dir=str(tmp_path), budgets=[1, 2, 3, 4], protocol="snapshot",
                                  stem_channels=16,
                                  cells_per_stack=1, batch_size=64, lr=0.05)
    assert setup.config_id(data) == "faac1ee1e90e"  # the values main computed before this change
    assert TrainingSetupResource(runs_dir=str(tmp_path)).config_id(data) == "83664c891584"
