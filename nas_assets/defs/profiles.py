"""Resource sets chosen by the environment -- the only module (with definitions.py) that reads it.

``NAS_ASSETS_PROFILE``: ``local`` (default: a subprocess on this machine) or ``slurm`` (sbatch;
site settings from the JSON file ``NAS_ASSETS_SLURM_CONFIG`` holding SlurmLauncher fields).
``NAS_ASSETS_TRAINING``: ``demo`` (default for local: narrow network, budgets 1-4) or
``paper`` (NB101 protocol; default for slurm).
``NAS_ASSETS_ACCELERATOR`` (``cpu``, ``gpu``, ``auto``) and ``NAS_ASSETS_DEVICES`` (>= 1): local profile
only; checked when the definitions load; not part of the run key (results do not depend on them).
``NAS_ASSETS_BATCH``: partitions of ``trained_architecture`` one backfill run covers (>= 1; default
1 for local: a run per partition; 25 for slurm: one run submits 25 jobs and waits for all, see
docs/orchestration.md).
``NAS_ASSETS_SO2SAT_DIR``: a real So2Sat directory; unset = the embedded synthetic stand-in.
``NAS_ASSETS_DATA_DIR`` (default ./data) and ``NAS_ASSETS_DB``: where files and the store live.
``NAS_ASSETS_CPU_SHARING``: ``adaptive`` (default) or ``fixed`` threads for CPU trainings (checked here,
read by each trainer; see ``nas_assets.train.cpus``).
``NAS_ASSETS_NB101``: NAS-Bench-101 CIFAR-10 data (``nasbench_full.tfrecord`` or a .json export)
for the reference landscape; default: the 20,001 NB101 cells shipped with the package.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from nas_assets.defs.launchers import LocalLauncher, SlurmLauncher, TrainingLauncher
from nas_assets.defs.resources import (
    ArtifactsResource,
    ReferenceDataResource,
    So2SatDataResource,
    StoreResource,
    TrainingSetupResource,
)
from nas_assets.locations import data_dir, reference_path, store_path
from nas_assets.train.config import TRAINING_PRESETS
from nas_assets.train.cpus import cpu_sharing
from nas_assets.train.placement import ACCELERATORS, check_placement

PROFILES = ("local", "slurm")
#: Partitions per backfill run by profile (``NAS_ASSETS_BATCH`` overrides): a Dagster run costs a few
#: CPU seconds of the submitting machine (two Python processes loading Dagster and the definitions),
#: which a SLURM job of minutes to hours pays back only when shared (docs/orchestration.md).
PARTITIONS_PER_RUN = {"local": 1, "slurm": 25}


def _whole_number(variable: str, text: str, meaning: str) -> int:
    """The value of an environment variable that must be a whole number >= 1, or a ValueError
    naming the variable, its value and what it counts."""
    try:
        count = int(text)
    except ValueError:
        count = 0
    if count < 1:
        raise ValueError(f"{variable}={text!r}: expected a whole number >= 1 ({meaning})")
    return count


def training_setup(preset: str, runs_dir: Path) -> TrainingSetupResource:
    """The training resource of ``NAS_ASSETS_TRAINING`` (a preset of :data:`TRAINING_PRESETS`)."""
    if preset not in TRAINING_PRESETS:
        raise ValueError(f"NAS_ASSETS_TRAINING={preset!r}: expected one of {tuple(TRAINING_PRESETS)}")
    return TrainingSetupResource(runs_dir=str(runs_dir), preset=preset)


def local_launcher(accelerator: str, devices: str) -> LocalLauncher:
    """The local launcher from ``NAS_ASSETS_ACCELERATOR`` / ``NAS_ASSETS_DEVICES``, checked now (when the
    definitions load) rather than inside a training process. Neither changes the run key:
    where a run executes does not change what it measures."""
    if accelerator not in ACCELERATORS:
        raise ValueError(f"NAS_ASSETS_ACCELERATOR={accelerator!r}: expected one of {ACCELERATORS}")
    count = _whole_number("NAS_ASSETS_DEVICES", devices, "training processes per job")
    try:
        check_placement(accelerator, count)
    except ValueError as exc:
        raise ValueError(f"NAS_ASSETS_ACCELERATOR={accelerator!r} with NAS_ASSETS_DEVICES={devices!r}: "
                         f"{exc}") from None
    return LocalLauncher(accelerator=accelerator, devices=count)


def launcher(profile: str) -> TrainingLauncher:
    if profile == "local":
        return local_launcher(os.environ.get("NAS_ASSETS_ACCELERATOR", "cpu"),
                              os.environ.get("NAS_ASSETS_DEVICES", "1"))
    config_file = os.environ.get("NAS_ASSETS_SLURM_CONFIG")
    settings = json.loads(Path(config_file).read_text()) if config_file else {}
    return SlurmLauncher(**settings)


def profile_name() -> str:
    profile = os.environ.get("NAS_ASSETS_PROFILE", "local")
    if profile not in PROFILES:
        raise ValueError(f"NAS_ASSETS_PROFILE={profile!r}: expected one of {PROFILES}")
    return profile


def partitions_per_run() -> int:
    """``NAS_ASSETS_BATCH``, else the profile's :data:`PARTITIONS_PER_RUN`."""
    text = os.environ.get("NAS_ASSETS_BATCH")
    if text is None:
        return PARTITIONS_PER_RUN[profile_name()]
    return _whole_number("NAS_ASSETS_BATCH", text, "partitions per backfill run")


def resources() -> dict:
    """The resources of the selected profile."""
    profile = profile_name()
    cpu_sharing()  # read by each trainer; a wrong value fails here, when the definitions load
    preset = os.environ.get("NAS_ASSETS_TRAINING", "demo" if profile == "local" else "paper")
    root = data_dir()
    real = os.environ.get("NAS_ASSETS_SO2SAT_DIR")
    data = So2SatDataResource(
        path=str(Path(real).resolve()) if real else str(root / "so2sat_synthetic"),
        cache_dir=str(root / "cache"),
        synthetic=not real,
    )
    return {
        "store": StoreResource(path=store_path()),
        "data": data,
        "training": training_setup(preset, root / "runs"),
        "launcher": launcher(profile),
        # the report sits next to the database, the models next to the runs
        "artifacts": ArtifactsResource(models_dir=str(root / "models"),
                                       reports_dir=str(Path(store_path()).parent / "reports")),
        "reference": ReferenceDataResource(path=reference_path()),
    }
