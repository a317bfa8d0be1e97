"""The environment is checked when the definitions load: a bad variable names itself and its
allowed values; an impossible training setup fails when the resource is built, not in a job."""

from __future__ import annotations

import re
import subprocess
import sys
from dataclasses import replace

import pytest

from nas_assets.core.run_keys import legacy_folder_key
from nas_assets.defs import profiles
from nas_assets.defs.resources import So2SatDataResource, TrainingSetupResource
from nas_assets.train.config import TrainConfig
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


def test_placement_does_not_change_the_run_key(env, tmp_path):
    env.setenv("NAS_ASSETS_DEVICES", "2")
    env.setenv("NAS_ASSETS_ACCELERATOR", "auto")
    two = profiles.resources()
    assert (two["launcher"].devices, two["launcher"].accelerator) == (2, "auto")
    env.delenv("NAS_ASSETS_DEVICES")
    env.delenv("NAS_ASSETS_ACCELERATOR")
    one = profiles.resources()
    assert two["training"].run_key(two["data"]) == one["training"].run_key(one["data"])


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
        TrainingSetupResource(runs_dir=str(tmp_path), overrides={field: value})


@pytest.mark.parametrize(("preset", "overrides", "message"), [
    ("paper", {"epochs": [4]}, "unknown training setting 'epochs'; expected one of: budgets, protocol, "),
    ("paper", {"augment": "no"}, "augment = 'no': expected true or false"),
    ("paper", {"budgets": "4,12"}, "budgets = '4,12': expected a list of whole numbers"),
    ("paper", {"protocol": "nb201"}, "protocol = 'nb201': expected one of ['snapshot', 'nb101']"),
    ("quick", {}, "preset 'quick': expected one of ['demo', 'paper']"),
])
def test_unknown_or_mistyped_override_fails_when_built_naming_it(tmp_path, preset, overrides, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        TrainingSetupResource(runs_dir=str(tmp_path), preset=preset, overrides=overrides)


def test_the_resource_is_a_preset_with_overrides(tmp_path):
    from nas_assets.train.config import DEMO_TRAINING, PAPER_TRAINING, TrainConfig

    assert TrainingSetupResource(runs_dir=str(tmp_path)).train_config() == PAPER_TRAINING == TrainConfig()
    demo = TrainingSetupResource(runs_dir=str(tmp_path), preset="demo", overrides={"seed": 3, "lr": 1})
    assert demo.train_config() == replace(DEMO_TRAINING, seed=3, lr=1.0)
    env_demo = profiles.training_setup("demo", tmp_path)  # NAS_ASSETS_TRAINING=demo
    assert (env_demo.preset, env_demo.overrides, env_demo.train_config()) == ("demo", {}, DEMO_TRAINING)


def test_old_configuration_ids_are_still_computed(tmp_path):
    """The 12-hex ids older versions named runs directories by (so those directories are found)."""
    data = So2SatDataResource(path="/data/so2sat", cache_dir="/data/cache").identity()
    demo = TrainingSetupResource(runs_dir=str(tmp_path), preset="demo").train_config()
    assert legacy_folder_key(demo.to_dict(), data) == "faac1ee1e90e"  # the values main computed
    assert legacy_folder_key(TrainConfig().to_dict(), data) == "83664c891584"


def test_the_runs_folder_key_is_the_run_key_ingestion_computes(tmp_path):
    """The resource names the folder before the job; ingestion keys the rows from the result file."""
    import json

    from nas_assets.core.store.results import config_key, run_key

    data = So2SatDataResource(path=str(tmp_path / "so2sat"), cache_dir=str(tmp_path / "cache"), stats="spec")
    setup = TrainingSetupResource(runs_dir=str(tmp_path / "runs"), preset="demo",
                                  overrides={"lr": 1, "seed": 2})
    # what the trainer records (nas_assets.train.runner, so2sat_data): the config and the data settings
    data_info = {"name": "so2sat-x", **data.identity(), "cache_dtype": "float16"}
    record = json.loads(json.dumps({"config": setup.train_config().to_dict(), "data": data_info}))
    assert setup.out_dir(data).name == setup.run_key(data) == run_key(record)
    assert config_key(record) != run_key(record)
