"""Configuration of one training run (plain dataclasses: CLI, tests and Dagster share them)."""

from __future__ import annotations

import json
from dataclasses import MISSING, Field, asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Literal, Mapping, get_args, get_origin, get_type_hints

from nas_assets.core.nb101.protocol import (
    NB101_BUDGETS,
    NB101_CELLS_PER_STACK,
    NB101_NUM_STACKS,
    NB101_STEM_CHANNELS,
)
from nas_assets.core.run_keys import MEASURING_FIELDS, PROTOCOLS, TrainingProtocol
from nas_assets.core.settings import SettingError, require_int_at_least, require_positive_finite

__all__ = ["MEASURING_FIELDS", "RECIPES", "TRAINING_PRESETS", "Recipe", "TrainConfig", "setting"]

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


def setting(default: Any = MISSING, help: str = "", flag: str | None = "", **cli: Any) -> Any:
    """A :class:`TrainConfig` field with the help text and command-line spelling every front end
    reads (the trainer's options, the Dagster resource's override check, the docs).

    Args:
        default: the field's default (``default_factory`` for mutable ones goes through ``cli``).
        help: one sentence on what it does.
        flag: the option of ``python -m nas_assets.train`` ("" = ``--<name with dashes>``; None =
            no option: set in a ``--config`` file only).
        cli: argparse overrides (``type``, ``action``, ``const``), or ``default_factory``.
    """
    factory = cli.pop("default_factory", MISSING)
    metadata = {"help": help, "flag": flag, "cli": cli}
    if factory is not MISSING:
        return field(default_factory=factory, metadata=metadata)
    return field(default=default, metadata=metadata)


@dataclass(frozen=True)
class TrainConfig:
    """One training run of one architecture: the only declaration of the training settings.

    Each field carries its default and help text (:func:`setting`); the trainer's options, the
    Dagster resource's overrides and docs/configuration.md are made from them. The fields that
    change what a run measures are :data:`MEASURING_FIELDS` (its run key); precision, channels_last,
    compile and the evaluation batch change only how fast it goes.
    """

    budgets: tuple[int, ...] = setting(
        DEFAULT_BUDGETS, "epochs at which metrics (train, val, test) are recorded", flag="--epochs",
        metavar="EPOCHS")
    protocol: TrainingProtocol = setting(
        "nb101", "nb101: one independent run per budget, each from the same seeded initialisation with its "
        "own cosine schedule annealed to zero over exactly that budget (NAS-Bench-101); snapshot: one run of "
        "the largest budget, measured at the smaller ones on the way (cheaper, but an early budget is then "
        "a snapshot of an un-annealed run)")
    recipe: str = setting("sgd", "optimiser and schedule: sgd (the report's) or nb101 (RMSProp, cosine)",
                          choices=tuple(RECIPES))
    lr: float | None = setting(None, "per-process learning rate (null: the recipe's); multiplied by the "
                                     "number of processes")
    batch_size: int = setting(256, "samples per process and step")
    stem_channels: int = setting(NB101_STEM_CHANNELS, "stem width (NB101: 128)")
    num_stacks: int = setting(NB101_NUM_STACKS, "stacks of cells (NB101: 3)")
    cells_per_stack: int = setting(NB101_CELLS_PER_STACK, "cells per stack (NB101: 3)")
    augment: bool = setting(True, "random flips and crops on training batches", flag="--no-augment",
                            action="store_const", const=False)
    seed: int = setting(0, "seeds weights, data order and augmentation")
    precision: str = setting("auto", "Lightning precision; auto = bf16-mixed on GPU, 32-true on CPU")
    channels_last: bool | None = setting(None, "memory format; null = on for GPU", flag=None)
    compile: bool = setting(False, "wrap the network in torch.compile", action="store_const", const=True)
    eval_batch_size: int = setting(1024, "batch of evaluation passes", flag=None)
    extra: dict = setting(help="free-form notes recorded with the run", flag=None, default_factory=dict)

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

    @classmethod
    def from_dict(cls, values: Mapping[str, Any], base: TrainConfig | None = None) -> TrainConfig:
        """``base`` (default: the defaults) with ``values`` replacing its fields, each checked.

        Raises:
            ValueError: a name that is no field (naming it and the fields).
            SettingError: a value of the wrong type or out of range (naming the field and what it
                expects).
        """
        hints = get_type_hints(cls)
        checked = {}
        for name, value in values.items():
            if name not in hints:
                raise ValueError(f"unknown training setting {name!r}; expected one of: {', '.join(hints)}")
            checked[name] = _typed(name, value, hints[name])
        return replace(base or cls(), **checked)

    @classmethod
    def from_file(cls, path: str | Path) -> TrainConfig:
        """A configuration written by :meth:`write` (or by hand: any subset of the fields).

        Raises:
            ValueError: the file is unreadable or not a JSON object (naming it); SettingError
                as :meth:`from_dict`.
        """
        try:
            values = json.loads(Path(path).read_text())
        except (OSError, ValueError) as exc:
            raise ValueError(f"{path}: cannot read the training configuration ({exc})") from None
        if not isinstance(values, dict):
            raise ValueError(f"{path}: expected a JSON object of training settings")
        return cls.from_dict(values)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True, indent=1)


def _typed(name: str, value: Any, hint: Any) -> Any:
    """``value`` as field ``name`` of type ``hint`` takes it (JSON lists become tuples, integers
    floats), or a SettingError saying what the field expects. Ranges are __post_init__'s."""
    args = get_args(hint)
    if type(None) in args:
        if value is None:
            return None
        hint = next(a for a in args if a is not type(None))
        args = get_args(hint)
    origin = get_origin(hint)
    if origin is tuple:
        if isinstance(value, (list, tuple)) and all(isinstance(v, int) and not isinstance(v, bool)
                                                    for v in value):
            return tuple(value)
        raise SettingError(name, value, "a list of whole numbers")
    if origin is Literal:
        if value in args:
            return value
        raise SettingError(name, value, f"one of {list(args)}")
    ok = {bool: isinstance(value, bool), int: isinstance(value, int) and not isinstance(value, bool),
          float: isinstance(value, (int, float)) and not isinstance(value, bool),
          str: isinstance(value, str), dict: isinstance(value, dict)}[hint]
    if not ok:
        words = {bool: "true or false", int: "a whole number", float: "a number", str: "a string",
                 dict: "an object"}[hint]
        raise SettingError(name, value, words)
    return float(value) if hint is float else value


def setting_fields() -> tuple[Field, ...]:
    """The fields of :class:`TrainConfig` in declaration order (with their ``metadata``)."""
    return fields(TrainConfig)


#: The embedded demo: a narrow network (stem 16, one cell per stack) and four one-epoch budgets
#: measured as snapshots of one 4-epoch run (nb101 would train 10 epochs), so each architecture
#: trains in well under a minute on 2 CPU cores on the demo synthetic data.
DEMO_TRAINING = TrainConfig(budgets=(1, 2, 3, 4), protocol="snapshot", stem_channels=16, cells_per_stack=1,
                            batch_size=64, lr=0.05)
#: The report's recipe with NAS-Bench-101's budget protocol (the default TrainConfig).
PAPER_TRAINING = TrainConfig()
#: The named presets: ``NAS_ASSETS_TRAINING`` and the Dagster resource's ``preset`` pick one.
TRAINING_PRESETS: dict[str, TrainConfig] = {"demo": DEMO_TRAINING, "paper": PAPER_TRAINING}
