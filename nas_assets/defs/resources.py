"""External systems as Dagster resources."""

from __future__ import annotations

from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Iterator, Optional

import duckdb
from dagster import ConfigurableResource, Failure
from pydantic import Field, model_validator

from nas_assets.core import store
from nas_assets.core.nb101.protocol import (
    NB101_BUDGETS,
    NB101_CELLS_PER_STACK,
    NB101_NUM_STACKS,
    NB101_STEM_CHANNELS,
)
from nas_assets.core.store.results import LEGACY_PROTOCOL, TrainingProtocol
from nas_assets.train.config import MEASURING_FIELDS, TrainConfig


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

    def train_args(self) -> list[str]:
        return ["--data", self.path, "--cache-dir", self.cache_dir, "--sensor", self.sensor,
                "--s1-transform", self.s1_transform, "--stats", self.stats]


class TrainingSetupResource(ConfigurableResource):
    """How every architecture of a benchmark is trained (one setting for all partitions, so the
    benchmark is uniform), and where runs write results and checkpoints."""

    runs_dir: str = Field(description="Result files, checkpoints and job logs (a shared file "
                                      "system for SLURM).")
    budgets: list[int] = Field(default=list(NB101_BUDGETS),
                               description="Epochs at which metrics are recorded.")
    protocol: TrainingProtocol = Field(
        default=TrainConfig.protocol,
        description="'nb101': each budget is its own run with its own cosine schedule (NAS-Bench-101); "
                    "'snapshot': one run of the largest budget, measured at the smaller ones on "
                    "the way (cheaper).",
    )
    recipe: str = Field(default="sgd", description="'sgd' (the report's) or 'nb101' (RMSProp, cosine).")
    lr: Optional[float] = Field(default=None, description="Per-process learning rate (None: the recipe's).")
    batch_size: int = Field(default=256, description="Per-process batch size.")
    stem_channels: int = Field(default=NB101_STEM_CHANNELS, description="Stem width (NB101: 128).")
    num_stacks: int = Field(default=NB101_NUM_STACKS, description="Stacks (NB101: 3).")
    cells_per_stack: int = Field(default=NB101_CELLS_PER_STACK, description="Cells per stack (NB101: 3).")
    seed: int = Field(default=0, description="Training seed.")
    augment: bool = Field(default=True, description="Random flips and crops.")
    precision: str = Field(default="auto", description="'auto' (bf16-mixed on GPU) or a Lightning precision.")

    @model_validator(mode="after")
    def _valid_training(self) -> "TrainingSetupResource":
        self.train_config()  # an impossible setting (lr nan, stem_channels 0...) fails here, not in a job
        return self

    def train_config(self) -> TrainConfig:
        """The setup as the trainer's :class:`TrainConfig` (raises ``SettingError`` / ``ValueError``
        naming the field and its allowed range)."""
        return TrainConfig(budgets=tuple(self.budgets), protocol=self.protocol, recipe=self.recipe,
                           lr=self.lr, batch_size=self.batch_size, stem_channels=self.stem_channels,
                           num_stacks=self.num_stacks, cells_per_stack=self.cells_per_stack,
                           augment=self.augment, seed=self.seed, precision=self.precision)

    def config_id(self, data: "So2SatDataResource") -> str:
        """Short id of everything that changes what a run measures (names the runs directory).

        The launcher's accelerator and devices (``NAS_ASSETS_ACCELERATOR`` / ``NAS_ASSETS_DEVICES``)
        and ``precision`` are not part of it: where a run executes does not change what it measures."""
        import hashlib
        import json

        basis = {k: getattr(self, k) for k in MEASURING_FIELDS if k != "protocol"}
        if self.protocol != LEGACY_PROTOCOL:  # snapshot runs keep the directories they had before protocols
            basis["protocol"] = self.protocol
        basis.update(data=str(Path(data.path).resolve()), sensor=data.sensor, s1=data.s1_transform,
                     stats=data.stats)
        return hashlib.md5(json.dumps(basis, sort_keys=True).encode()).hexdigest()[:12]

    def out_dir(self, data: "So2SatDataResource") -> Path:
        return Path(self.runs_dir) / self.config_id(data)

    def train_args(self) -> list[str]:
        args = ["--epochs", ",".join(str(b) for b in self.budgets), "--protocol", self.protocol,
                "--recipe", self.recipe,
                "--batch-size", str(self.batch_size), "--stem-channels", str(self.stem_channels),
                "--num-stacks", str(self.num_stacks), "--cells-per-stack", str(self.cells_per_stack),
                "--seed", str(self.seed), "--precision", self.precision, "--progress-every", "10"]
        if self.lr is not None:
            args += ["--lr", str(self.lr)]
        if not self.augment:
            args.append("--no-augment")
        return args



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
