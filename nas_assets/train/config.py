"""Configuration of one training run (plain dataclasses: CLI, tests and Dagster share them)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Literal

from nas_assets.core.nb101.protocol import (
    NB101_BUDGETS,
    NB101_CELLS_PER_STACK,
    NB101_NUM_STACKS,
    NB101_STEM_CHANNELS,
)
from nas_assets.core.settings import SettingError, require_int_at_least, require_positive_finite
from nas_assets.core.store.results import PROTOCOLS, TrainingProtocol

#: NB101's epoch budgets; a run records metrics at each of them.
DEFAULT_BUDGETS: tuple[int, ...] = NB101_BUDGETS


@dataclass(frozen=True)
class Recipe:
    """Optimiser and schedule.

    Attributes:
        name: ``sgd`` (the report's recipe) or ``nb101`` (NAS-Bench-101's).
        lr: learning rate for one process with ``batch_size`` samples; multiplied by the
            number of processes (linear scaling), since every process takes its own batch.
        momentum, weight_decay: optimiser settings.
        eps: RMSProp epsilon (NB101: 1.0); unused by SGD.
    """

    name: Literal["sgd", "nb101"]
    lr: float
    momentum: float
    weight_decay: float
    eps: float = 1.0


RECIPES: dict[str, Recipe] = {
    # The report: SGD momentum 0.9, weight decay 5e-4, batch 256 per GPU, LR scaled with GPUs;
    # it gives no base LR or schedule -- we use 0.1 per 256 with a per-step cosine to zero.
    "sgd": Recipe("sgd", lr=0.1, momentum=0.9, weight_decay=5e-4),
    # NAS-Bench-101: RMSProp (decay 0.9, momentum 0.9, eps 1.0), LR 0.2 per-step cosine, wd 1e-4.
    "nb101": Recipe("nb101", lr=0.2, momentum=0.9, weight_decay=1e-4, eps=1.0),
}


#: TrainConfig fields that change what a run measures. The Dagster configuration id and the
#: trainer's reuse of an existing result compare these (with the data source, sensor and
#: normalisation); precision, compile, the evaluation batch and where the run executes
#: (accelerator, devices, nodes) do not enter.
MEASURING_FIELDS: tuple[str, ...] = ("budgets", "protocol", "recipe", "lr", "batch_size", "stem_channels",
                                     "num_stacks", "cells_per_stack", "augment", "seed")


@dataclass(frozen=True)
class TrainConfig:
    """One training run of one architecture.

    Attributes:
        budgets: epochs at which metrics (train, val, test) are recorded.
        protocol: how the budgets are trained. ``nb101`` (NAS-Bench-101's): one independent run
            per budget, each from the same seeded initialisation with its own optimiser and a
            per-step cosine schedule annealed to zero over exactly that budget's epochs.
            ``snapshot``: one run of ``max(budgets)`` epochs, one schedule spanning all of them,
            measured at each budget epoch on the way (cheaper: 108 instead of 160 epochs for
            4/12/36/108, but an early budget is then a snapshot of an un-annealed run).
        recipe: key of :data:`RECIPES`.
        lr: override of the recipe's per-process learning rate.
        batch_size: samples per process and step.
        stem_channels, num_stacks, cells_per_stack: network skeleton (NB101: 128, 3, 3).
        augment: random flips and crops on training batches.
        seed: seeds weights, data order and augmentation.
        precision: Lightning precision; ``auto`` = bf16-mixed on GPU, 32-true on CPU.
        channels_last: memory format; ``None`` = on for GPU.
        compile: wrap the network in ``torch.compile``.
        eval_batch_size: batch for evaluation passes.
    """

    budgets: tuple[int, ...] = DEFAULT_BUDGETS
    protocol: TrainingProtocol = "nb101"
    recipe: str = "sgd"
    lr: float | None = None
    batch_size: int = 256
    stem_channels: int = NB101_STEM_CHANNELS
    num_stacks: int = NB101_NUM_STACKS
    cells_per_stack: int = NB101_CELLS_PER_STACK
    augment: bool = True
    seed: int = 0
    precision: str = "auto"
    channels_last: bool | None = None
    compile: bool = False
    eval_batch_size: int = 1024
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.budgets or any(int(b) <= 0 for b in self.budgets):
            raise ValueError(f"budgets must be positive epoch numbers, got {self.budgets}")
        object.__setattr__(self, "budgets", tuple(sorted({int(b) for b in self.budgets})))
        if self.protocol not in PROTOCOLS:
            raise ValueError(f"protocol {self.protocol!r} unknown; expected one of {list(PROTOCOLS)}")
        if self.recipe not in RECIPES:
            raise ValueError(f"unknown recipe {self.recipe!r}; expected one of {sorted(RECIPES)}")
        if self.lr is not None:
            require_positive_finite("lr", self.lr)
        for name in ("batch_size", "eval_batch_size", "stem_channels", "num_stacks", "cells_per_stack"):
            require_int_at_least(name, getattr(self, name), 1)
        require_int_at_least("seed", self.seed, 0)
        if self.seed >= 2**32:  # numpy and Lightning seed with 32 bits
            raise SettingError("seed", self.seed, "an integer in 0..4294967295")

    @property
    def epochs(self) -> int:
        """Epochs of the longest training run (the only one, for ``snapshot``)."""
        return max(self.budgets)

    def runs(self) -> tuple[TrainConfig, ...]:
        """The independent training runs this configuration stands for, shortest first.

        A ``snapshot`` configuration is one run; an ``nb101`` one is a single-budget snapshot run
        per budget -- so its b-epoch record is, by construction, what a ``snapshot`` run with
        budgets ``(b,)`` measures.
        """
        if self.protocol == "snapshot":
            return (self,)
        return tuple(replace(self, budgets=(b,), protocol="snapshot") for b in self.budgets)

    def optimiser(self) -> Recipe:
        base = RECIPES[self.recipe]
        return base if self.lr is None else Recipe(base.name, self.lr, base.momentum, base.weight_decay,
                                                   base.eps)

    def to_dict(self) -> dict:
        return asdict(self)


#: The embedded demo: a narrow network (stem 16, one cell per stack) and four one-epoch budgets
#: measured as snapshots of one 4-epoch run (nb101 would train 10 epochs), so each architecture
#: trains in well under a minute on 2 CPU cores on the demo synthetic data.
DEMO_TRAINING = TrainConfig(budgets=(1, 2, 3, 4), protocol="snapshot", stem_channels=16, cells_per_stack=1,
                            batch_size=64, lr=0.05)
#: The report's recipe with NAS-Bench-101's budget protocol (the default TrainConfig).
PAPER_TRAINING = TrainConfig()
