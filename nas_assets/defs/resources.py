"""External systems as Dagster resources."""

from __future__ import annotations

from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any, Iterator, Optional

import duckdb
from dagster import ConfigurableResource, Failure
from pydantic import Field, model_validator

from nas_assets.core import run_keys, store
from nas_assets.train.config import TRAINING_PRESETS, TrainConfig, setting_fields


class StoreResource(ConfigurableResource):
    """The nas_assets DuckDB file (one writer: the Dagster step holding the connection).

    Not dagster-duckdb's ``DuckDBResource``: that one retries every IOException -- a
    corrupt file included -- for minutes, and does not close on errors; ``core.store.connect``
    refuses foreign or corrupt files at once with a message naming the file.
    """

    path: str = Field(description="Path of the DuckDB database file (created if absent).")
    lock_timeout_s: float = Field(
        default=30.0, description="Seconds to wait for another process's write lock before failing."
    )

    @contextmanager
    def connect(self, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        """A connection; a locked, corrupt or foreign file fails the step with the store's message
        (which names the file and, for a lock, the process holding it) instead of a traceback."""
        with ExitStack() as stack:
            try:
                conn = stack.enter_context(store.connect(self.path, read_only=read_only,
                                                         lock_timeout_s=self.lock_timeout_s))
            except store.StoreError as exc:
                raise Failure(description=str(exc), metadata={"store": self.path}) from None
            yield conn


class So2SatDataResource(ConfigurableResource):
    """The So2Sat LCZ42 directory (real files, or the embedded synthetic stand-in) and its cache."""

    path: str = Field(description="Directory with training.h5, validation.h5, testing.h5 (v2) "
                                  "or a v3 variant.")
    cache_dir: str = Field(description="Where the normalised float16 cache is built (reused by every job).")
    synthetic: bool = Field(default=False,
                            description="Generate a synthetic So2Sat-format dataset at `path` if absent.")
    synthetic_train: int = Field(default=2000, description="Synthetic training samples.")
    synthetic_val: int = Field(default=500, description="Synthetic validation samples.")
    synthetic_test: int = Field(default=500, description="Synthetic test samples.")
    synthetic_seed: int = Field(default=0, description="Synthetic data seed.")
    sensor: str = Field(default="fusion", description="'fusion' (18 bands), 's1' (8) or 's2' (10).")
    s1_transform: str = Field(default="signed_log",
                              description="S1 heavy-tail treatment: 'signed_log' or 'clip'.")
    stats: str = Field(default="train",
                       description="z-score statistics: 'train' (computed) or 'spec' (published v2).")

    def identity(self) -> dict[str, str]:
        """The data settings a run key covers (:data:`nas_assets.core.run_keys.DATA_FIELDS`), as a
        result file records them."""
        return {"source": str(Path(self.path).resolve()), "sensor": self.sensor,
                "s1_transform": self.s1_transform, "stats": self.stats}

    def train_args(self) -> list[str]:
        return ["--data", self.path, "--cache-dir", self.cache_dir, "--sensor", self.sensor,
                "--s1-transform", self.s1_transform, "--stats", self.stats]


def _override_help() -> str:
    """The ``overrides`` field's description: the settings and their help, from TrainConfig."""
    return ("TrainConfig fields that replace the preset's, e.g. {budgets: [4, 12, 36], recipe: nb101}; "
            "an unknown name or an impossible value fails when the resource is built. Fields: "
            f"{', '.join(f.name for f in setting_fields())} (docs/configuration.md, Training settings).")


class TrainingSetupResource(ConfigurableResource):
    """How every architecture of a benchmark is trained (one setting for all partitions, so the
    benchmark is uniform): a named preset of ``nas_assets.train.config`` with overrides, and where
    runs write results and checkpoints.

    The overrides are one mapping checked by building the :class:`TrainConfig` rather than a
    resource field per setting, so the dataclass stays the only declaration of the settings, their
    defaults and help (Dagster shows the mapping as a free-form map in the launchpad).
    """

    runs_dir: str = Field(description="Result files, checkpoints and job logs (a shared file "
                                      "system for SLURM).")
    preset: str = Field(default="paper", description=f"Named training setup: one of {list(TRAINING_PRESETS)} "
                                                     "(docs/configuration.md, Training presets).")
    overrides: dict[str, Any] = Field(default={}, description=_override_help())

    @model_validator(mode="after")
    def _valid_training(self) -> "TrainingSetupResource":
        self.train_config()  # an unknown or impossible setting fails here, naming it, not in a job
        return self

    def train_config(self) -> TrainConfig:
        """The preset with the overrides (raises ``ValueError`` naming an unknown preset or field, and
        ``SettingError`` naming a field and its allowed values)."""
        if self.preset not in TRAINING_PRESETS:
            raise ValueError(f"preset {self.preset!r}: expected one of {list(TRAINING_PRESETS)}")
        return TrainConfig.from_dict(self.overrides, TRAINING_PRESETS[self.preset])

    def run_key(self, data: "So2SatDataResource") -> str:
        """The run key of this setup on ``data`` (:func:`nas_assets.core.run_keys.run_key`): names the
        runs directory, and the ingested results' ``training_runs.run_key`` is the same."""
        return run_keys.run_key(self.train_config().to_dict(), data.identity())

    def out_dir(self, data: "So2SatDataResource") -> Path:
        return Path(self.runs_dir) / self.run_key(data)

    def adopt_legacy_runs(self, data: "So2SatDataResource") -> Path | None:
        """Rename a runs directory an older version named by its 12-hex config id to the run key,
        leaving a link under the old name (for jobs and notes that know it). Returns the directory
        when it was adopted now, None otherwise (nothing to adopt, or adopted before)."""
        new = self.out_dir(data)
        old = Path(self.runs_dir) / run_keys.legacy_folder_key(self.train_config().to_dict(), data.identity())
        if new.exists() or old.is_symlink() or not old.is_dir():
            return None
        try:
            old.rename(new)
        except OSError:  # another step adopted it first
            return None
        old.symlink_to(new.name, target_is_directory=True)
        return new

    def config_file(self, data: "So2SatDataResource") -> Path:
        """The setup as a JSON file under the runs directory's ``jobs/`` (beside the jobs' own
        directories, so the runs directory holds result files only), the one argument jobs get for
        it (written once per content: two setups differing only in precision or compile share the
        directory)."""
        import hashlib

        from nas_assets.core.files import atomic_write

        text = self.train_config().to_json()
        path = self.out_dir(data) / "jobs" / f"train_config-{hashlib.md5(text.encode()).hexdigest()[:8]}.json"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write(path, text)
        return path

    def train_args(self, data: "So2SatDataResource") -> list[str]:
        return ["--config", str(self.config_file(data)), "--progress-every", "10"]


class ArtifactsResource(ConfigurableResource):
    """Where fitted models and reports are written (plain files, readable without Dagster)."""

    models_dir: str = Field(description="Surrogate artifacts: <target>/<version>/ plus index.json.")
    reports_dir: str = Field(description="The footprint report (HTML + PNG figures).")


class ReferenceDataResource(ConfigurableResource):
    """NAS-Bench-101 CIFAR-10 data for the reference landscape: the 20,001 cells shipped with the
    package by default, or a user's NB101 file (``nasbench_full.tfrecord`` /
    ``nasbench_only108.tfrecord``, or a JSON export in the 1k format)."""

    path: Optional[str] = Field(default=None,
                                description="*.json or *.tfrecord; None = the shipped 20,001 NB101 cells.")
    enabled: bool = Field(default=True, description="False leaves CIFAR-10 out of the footprint report.")
