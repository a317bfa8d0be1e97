"""Run-time knobs of the assets (shown and editable in the Dagster launchpad)."""

from __future__ import annotations

from typing import Literal, Optional

from dagster import Config
from pydantic import Field

from nas_assets.core.cells.cost import NetworkShape
from nas_assets.core.cells.sampling import PRESETS, DesignConfig
from nas_assets.core.nb101.protocol import (
    NB101_BUDGETS,
    NB101_CELLS_PER_STACK,
    NB101_NUM_STACKS,
    NB101_STEM_CHANNELS,
)


class ArchitectureSpaceConfig(Config):
    """Network skeleton used for the ``params``/``flops`` columns, and hashing parallelism."""

    in_channels: int = Field(default=18,
                             description="Input channels: 18 So2Sat fusion, 8 Sentinel-1, 10 Sentinel-2.")
    num_classes: int = Field(default=17, description="Classes: 17 Local Climate Zones for So2Sat LCZ42.")
    stem_channels: int = Field(default=NB101_STEM_CHANNELS,
                               description="Stem / first-stack width (NB101: 128).")
    num_stacks: int = Field(default=NB101_NUM_STACKS, description="Stacks of cells (NB101: 3).")
    cells_per_stack: int = Field(default=NB101_CELLS_PER_STACK, description="Cells per stack (NB101: 3).")
    input_size: int = Field(default=32, description="Image height = width in pixels (So2Sat: 32).")
    workers: int = Field(default=0, description="Processes for bulk hashing; 0 = all available CPUs (max 8).")
    force: bool = Field(default=False, description="Recompute even if the store already holds this space.")

    def shape(self) -> NetworkShape:
        return NetworkShape(
            in_channels=self.in_channels,
            num_classes=self.num_classes,
            stem_channels=self.stem_channels,
            num_stacks=self.num_stacks,
            cells_per_stack=self.cells_per_stack,
            input_size=self.input_size,
        )


class DesignSettings(Config):
    """The design of experiment: a preset, optionally with any size or the seed overridden."""

    preset: Literal["demo", "paper"] = Field(
        default="demo",
        description="'demo' (~15 architectures, CPU minutes) or 'paper' (~1,000, like the report's 907)."
    )
    n_initial: Optional[int] = Field(default=None,
                                     description="Stage (a) uniform sample size (overrides the preset).")
    n_walks: Optional[int] = Field(default=None,
                                   description="Stage (b) number of random walks (overrides the preset).")
    walk_length: Optional[int] = Field(default=None,
                                       description="Steps per random walk (overrides the preset).")
    n_local_search: Optional[int] = Field(
        default=None,
        description="Stage (c) new neighbours added around sampled points (overrides the preset)."
    )
    seed: Optional[int] = Field(default=None, description="RNG seed (preset default 42).")
    prefer_cifar10_measured: Optional[bool] = Field(
        default=None,
        description="Draw the initial sample from the cells NB101 measured on CIFAR-10 (the shipped "
                    "20,001, or those of `cifar10_reference_path`), so a small design compares with "
                    "CIFAR-10 on measured values; walks and local search still roam the whole space. "
                    "None = the preset's choice: on for 'demo', off for 'paper'.")
    cifar10_reference_path: Optional[str] = Field(
        default=None,
        description="NB101 file whose cells prefer_cifar10_measured draws from; None = the shipped cells.")
    allow_empty: bool = Field(
        default=False,
        description="Accept a design with no architecture (n_initial 0). It empties the design "
                    "and removes every architecture partition; without this flag such a design "
                    "fails and changes nothing.")

    def prefers_cifar10_measured(self) -> bool:
        if self.prefer_cifar10_measured is not None:
            return self.prefer_cifar10_measured
        return self.preset == "demo"

    def design(self) -> DesignConfig:
        base = PRESETS[self.preset]
        overrides = {
            k: getattr(self, k)
            for k in ("n_initial", "n_walks", "walk_length", "n_local_search", "seed")
            if getattr(self, k) is not None
        }
        return DesignConfig(**{**base.__dict__, **overrides})


class SurrogateModelConfig(Config):
    """Which surrogates to fit, how to evaluate them, and the quality gate."""

    targets: list[str] = Field(
        default=["val_overall_accuracy@all", "val_macro_accuracy@last"],
        description="'<metric>@<budget>' items (the footprint's default fitness is val_overall_accuracy at "
                    "36 epochs, or the budget both sides share, and its persistence needs every budget); "
                    "metric val_macro_accuracy, val_overall_accuracy or val_kappa; budget an epoch count, "
                    "'all' (every recorded budget) or 'last'.",
    )
    feature_sets: list[str] = Field(default=["fla", "adjacency", "cost"],
                                    description="Features: any of 'fla' (289-bit), 'adjacency' (36 "
                                                "one-hot), 'cost'.")
    ensemble_size: int = Field(default=5,
                               description="XGBoost members per surrogate (mean and std over members).")
    n_estimators: int = Field(default=400, description="Boosting rounds per member.")
    max_depth: int = Field(default=3, description="Tree depth.")
    learning_rate: float = Field(default=0.1, description="XGBoost eta.")
    seed: int = Field(default=0, description="Model seed (members get child seeds).")
    eval_repeats: int = Field(default=3, description="Repeats of the k-fold evaluation.")
    eval_folds: int = Field(default=5,
                            description="Folds (capped so every test fold has >= 3 architectures).")
    config_key: Optional[str] = Field(
        default=None,
        description="Training configuration to fit on (training_runs.config_key, or a run key of one of "
                    "its runs); None = the one with the most trained architectures. Each cell's value is "
                    "the mean over the configuration's seeds; configurations are never mixed.")
    gate_metric: Literal["kendall_tau", "spearman_rho", "r2", "sparse_kendall_tau"] = Field(
        default="kendall_tau", description="Metric of the quality gate (pooled out-of-fold predictions).")
    gate_min: float = Field(default=0.5,
                            description="Quality gate: WARN when any target's gate metric is below this.")


class ReferenceLandscapeConfig(Config):
    """How the CIFAR-10 reference landscape is completed over the whole space."""

    budgets: list[int] = Field(default=list(NB101_BUDGETS),
                               description="NB101 epoch budgets to load and predict.")
    ensemble_size: int = Field(
        default=2,
        description="XGBoost members per budget's surrogate. 2: on the shipped 20,001 cells (36 epochs) "
                    "out-of-fold tau 0.757 vs 0.758 with 5 members, in 40 s vs 88 s per budget.")
    eval_repeats: int = Field(default=1,
                              description="Repeats of the 5-fold evaluation of each budget's surrogate.")
    seed: int = Field(default=0, description="Model and split seed.")
    workers: int = Field(default=0, description="Processes fitting budgets at once; 0 = min(2, CPUs).")


class FootprintConfig(Config):
    """Fitness definition and sampling settings of the fitness landscape footprint (Traoré et al.).

    One fitness for both sides: a metric per side at the same epoch budget."""

    metric: Literal["val_overall_accuracy", "val_macro_accuracy", "val_kappa",
                    "test_overall_accuracy", "test_macro_accuracy", "test_kappa"] = Field(
        default="val_overall_accuracy",
        description="So2Sat fitness metric. Overall accuracy matches CIFAR-10's accuracy (a class-balanced "
                    "data set); test_* metrics have no surrogate, so the So2Sat full-space "
                    "landscape is left out.")
    cifar10_metric: Literal["val_accuracy", "test_accuracy"] = Field(
        default="val_accuracy",
        description="CIFAR-10 fitness metric. test_accuracy needs an NB101 file measured on every cell "
                    "(nasbench_full.tfrecord); the shipped 20k cells hold validation accuracy only.")
    budget: Optional[int] = Field(
        default=None,
        description="Fitness budget in epochs, the same on both sides; None = 36 when both sides "
                    "recorded it, else the largest budget both recorded, else So2Sat's largest.")
    cifar10_budget: Optional[int] = Field(
        default=None,
        description="CIFAR-10 budget when it must differ from So2Sat's (reported as a mismatch); "
                    "None = the same as So2Sat's.")
    neighbourhood: Literal["fla", "graph_edit"] = Field(
        default="fla", description="'fla' (Hamming-1 on the 289-bit encoding, the report's) or 'graph_edit' "
                                   "(one edge flip or op change, made symmetric; builds its index, ~1 min).")
    n_walks: int = Field(default=30, description="Random walks on full landscapes (report: 30).")
    walk_length: int = Field(default=100, description="Steps per random walk (report: 100).")
    estimator_repeats: int = Field(default=100,
                                   description="Repeats of the birthday-paradox local-optima estimator.")
    seed: int = Field(default=0, description="Seed of walks, estimator and bootstrap resamples.")
    config_key: Optional[str] = Field(
        default=None,
        description="So2Sat training configuration to compare (training_runs.config_key, or a run key "
                    "of one of its runs); None = the configuration with the most trained architectures. "
                    "Seeds of one configuration are averaged per cell; configurations are never mixed.")
    bootstrap_resamples: int = Field(
        default=1000, description="Bootstrap resamples behind every footprint interval and paired verdict "
                                  "(>= 100 for a stable 95 % interval).")
    full_space_cell_resamples: int = Field(
        default=200,
        description="Resamples of the cell metrics (mean, spread, persistence) of the full-space "
                    "landscapes: over 423,624 cells their intervals are a few thousandths wide, and "
                    "1,000 resamples cost ~15 s per landscape on 2 cores; walks and estimator repeats "
                    "still use bootstrap_resamples.")
