"""XGBoost surrogate of architecture accuracy: fit, predict, save/load, evaluate (XGBoost, repeated k-fold).

Usable without Dagster or DuckDB::

    from nas_assets.core.surrogate.model import fit_surrogate, evaluate_surrogate
    report = evaluate_surrogate(specs, accuracies, n_repeats=2, seed=0)
    model = fit_surrogate(specs, accuracies, data_info={"source": "results_table@v3"})
    mean, std = model.predict_arrays(space.matrices, space.labels, space.n_vertices)
    model.save("artifacts/surrogate")

The surrogate is an ensemble of ``ensemble_size`` XGBoost regressors that differ by seed (row
and column subsampling) and, optionally, by a bootstrap of the training set -- NAS-Bench-301's
recipe for a mean and a spread. Targets are accuracies as fractions by default and are fitted
as ``-log(1 - accuracy)`` (``target_transform="neg_log_error"``): this spreads the crowded top
of the distribution, where ranking matters, and squashes the rare diverged runs (NB101 has
cells at 10 % accuracy) that would otherwise dominate a squared loss. Every member's prediction
is mapped back to accuracy before the ensemble mean and standard deviation are taken.

The member spread is far too narrow to be an error bar (±2 spreads covered ~29 % of NB101
held-out errors), so the std the surrogate returns is *calibrated* on out-of-fold residuals:
:func:`fit_surrogate` refits the ensemble on k folds of its training data (or takes the
out-of-fold predictions of an evaluation it is given) and fits a scale and a floor such that
mean ± 2 std covers 95.45 % of the out-of-fold errors (:mod:`nas_assets.core.surrogate.calibration`).
``predict(..., calibrated=False)`` still gives the raw spread.

Features: :mod:`nas_assets.core.surrogate.features`; metrics and splits:
:mod:`nas_assets.core.surrogate.metrics`; calibration: :mod:`nas_assets.core.surrogate.calibration`
(all re-exported here).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import platform
import shutil
import time
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd
import xgboost as xgb

from nas_assets.core.cells.cost import CIFAR10_SHAPE, NetworkShape
from nas_assets.core.files import remove_dead_temps, replace_dir, staged_path
from nas_assets.core.surrogate.calibration import (
    Calibration,
    OutOfFold,
    coverage,
    cross_fitted_std,
    fit_calibration,
)
from nas_assets.core.surrogate.features import (
    DEFAULT_FEATURE_SETS,
    FEATURE_SETS,
    check_feature_sets,
    feature_names,
    features_from_arrays,
    features_from_specs,
    specs_from_nb101_columns,
    specs_to_arrays,
)
from nas_assets.core.surrogate.metrics import (
    METRIC_NAMES,
    SPARSE_RESOLUTION,
    kfold_splits,
    random_splits,
    regression_metrics,
    sparse_kendall_tau,
)

__all__ = [
    "CALIBRATION_MIN_RESIDUALS", "Calibration", "OutOfFold", "coverage",
    "FEATURE_SETS", "DEFAULT_FEATURE_SETS", "FORMAT_VERSION", "METRIC_NAMES", "Surrogate",
    "SurrogateArtifactError", "SurrogateConfig", "TARGET_TRANSFORMS", "evaluate_surrogate",
    "feature_names", "features_from_arrays", "features_from_specs", "fit_surrogate",
    "learning_curve", "predict_many", "regression_metrics", "sparse_kendall_tau", "specs_from_nb101_columns",
    "specs_to_arrays", "tune_config",
]

Spec = tuple[Any, Sequence[str]]
FORMAT = "nas_assets.surrogate"
#: Bumped whenever the artifact layout or the meaning of a manifest field changes. Adding the
#: optional ``calibration`` block did not bump it: a manifest without one still loads, uncalibrated.
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
TARGET_TRANSFORMS: tuple[str, ...] = ("neg_log_error", "none")
#: Rows per featurize+predict chunk: bounds memory (FLA features are 1.3 kB a row) and keeps
#: the arrays cache-friendly; larger chunks were not faster.
PREDICT_CHUNK = 65_536
#: Out-of-fold residuals the calibration refit inside :func:`fit_surrogate` collects before it
#: stops fitting folds: ~2,000 pin the 95.45 % quantile to about ±0.5 % coverage, and a
#: 20,000-cell fit then costs one extra fold (0.8 of a fit) instead of five (4 fits).
CALIBRATION_MIN_RESIDUALS = 2_000
#: Groups a random split's test part is cut into for the cross-fitted coverage (k-fold uses its folds).
_CROSS_FIT_GROUPS = 5


class SurrogateArtifactError(ValueError):
    """A saved surrogate directory is missing a file, corrupt, or of another format version."""


@dataclass(frozen=True)
class SurrogateConfig:
    """Features and XGBoost hyper-parameters of a surrogate.

    The defaults were chosen on NB101 CIFAR-10 (1,000 architectures, 108-epoch validation
    accuracy) by a two-stage random search (40 single models on 5 random 800/200 splits, then the
    top 6 as 5-member ensembles on 10 splits) whose splits are disjoint from the reported ones;
    ``python benchmarks/surrogate.py --tune`` reruns it. Its winner (depth 8, 600 rounds) was
    within noise of this runner-up (τ 0.757 vs 0.753, split std 0.025) but took 15-16 s to
    predict the whole space on the shared 2-core machine against 5-8 s for these shallow trees:
    over the 15 s budget. Reported numbers: benchmarks/surrogate.py (τ 0.756 on 800/200).

    Attributes:
        feature_sets: which of :data:`FEATURE_SETS` to use, in order.
        n_estimators: boosting rounds per member.
        max_depth: tree depth.
        learning_rate: shrinkage (XGBoost ``eta``).
        subsample: fraction of rows per tree.
        colsample_bytree: fraction of features per tree.
        min_child_weight: minimum hessian sum (= rows, for squared error) in a leaf.
        reg_lambda: L2 penalty on leaf weights.
        ensemble_size: members, one per seed (NAS-Bench-301 style); 1 gives std = 0.
        bootstrap: fit each member on a bootstrap resample (wider, more honest spread, slightly
            worse mean) instead of the full training set.
        target_transform: ``"neg_log_error"`` fits ``-log(1 - y)`` (y an accuracy fraction in
            [0, 1)); ``"none"`` fits y as given (any units).
        seed: root seed; member k gets the k-th child of ``numpy.random.SeedSequence(seed)``.
        calibration_folds: k of the k-fold refit whose out-of-fold residuals calibrate the std
            (only as many folds are fitted as give :data:`CALIBRATION_MIN_RESIDUALS`
            residuals); 0 disables calibration and the std is the raw member spread.
        nthread: XGBoost threads for fitting and prediction. 1 by default: a fit on ~1,000 rows
            takes ~0.1 s on one thread, while 2 OpenMP threads on a busy 2-core machine
            spin-waited to 2-30 s per fit; predicting the whole space was no faster with 2.
    """

    feature_sets: tuple[str, ...] = FEATURE_SETS
    n_estimators: int = 400
    max_depth: int = 3
    learning_rate: float = 0.1
    subsample: float = 0.7
    colsample_bytree: float = 1.0
    min_child_weight: float = 3.0
    reg_lambda: float = 10.0
    ensemble_size: int = 5
    bootstrap: bool = False
    target_transform: str = "neg_log_error"
    seed: int = 0
    calibration_folds: int = 5
    nthread: int = 1

    def __post_init__(self) -> None:
        object.__setattr__(self, "feature_sets", check_feature_sets(self.feature_sets))
        checks = [
            ("n_estimators", self.n_estimators >= 1, ">= 1"),
            ("max_depth", 1 <= self.max_depth <= 16, "in 1..16"),
            ("learning_rate", 0 < self.learning_rate <= 1, "in (0, 1]"),
            ("subsample", 0 < self.subsample <= 1, "in (0, 1]"),
            ("colsample_bytree", 0 < self.colsample_bytree <= 1, "in (0, 1]"),
            ("min_child_weight", self.min_child_weight >= 0, ">= 0"),
            ("reg_lambda", self.reg_lambda >= 0, ">= 0"),
            ("ensemble_size", self.ensemble_size >= 1, ">= 1"),
            ("nthread", self.nthread >= 1, ">= 1"),
            ("calibration_folds", self.calibration_folds == 0 or self.calibration_folds >= 2, "0 or >= 2"),
            ("target_transform", self.target_transform in TARGET_TRANSFORMS, f"one of {TARGET_TRANSFORMS}"),
        ]
        for name, ok, want in checks:
            if not ok:
                raise ValueError(f"SurrogateConfig.{name}={getattr(self, name)!r}: must be {want}")

    @classmethod
    def from_kwargs(cls, config: "SurrogateConfig | None" = None, **overrides: Any) -> "SurrogateConfig":
        """``config`` (or the defaults) with ``overrides`` applied; unknown names are refused."""
        base = config if config is not None else cls()
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(overrides) - known)
        if unknown:
            raise TypeError(f"unknown SurrogateConfig field(s) {unknown}; known: {sorted(known)}")
        return dataclasses.replace(base, **overrides) if overrides else base

    def xgb_params(self, seed: int) -> dict[str, Any]:
        """Booster parameters of one member."""
        return {
            "objective": "reg:squarederror",
            "tree_method": "hist",  # deterministic for a seed, and the fastest on CPU
            "max_depth": self.max_depth,
            "eta": self.learning_rate,
            "subsample": self.subsample,
            "colsample_bytree": self.colsample_bytree,
            "min_child_weight": self.min_child_weight,
            "lambda": self.reg_lambda,
            "nthread": self.nthread,
            "seed": seed,
            "verbosity": 0,
        }

    def member_seeds(self) -> list[int]:
        children = np.random.SeedSequence(self.seed).spawn(self.ensemble_size)
        return [int(s.generate_state(1)[0]) for s in children]


# -- target transform -------------------------------------------------------------------------

def _forward(y: np.ndarray, transform: str) -> np.ndarray:
    if transform == "none":
        return y
    if np.any(y < 0) or np.any(y >= 1):
        raise ValueError(
            f"target_transform='neg_log_error' needs accuracies as fractions in [0, 1); got values in "
            f"[{y.min():.4g}, {y.max():.4g}]. Divide percentages by 100, or pass target_transform='none'."
        )
    return -np.log1p(-y)


def _inverse(z: np.ndarray, transform: str) -> np.ndarray:
    return z if transform == "none" else -np.expm1(-z)


def _targets(targets: Iterable[float], n: int) -> np.ndarray:
    y = np.asarray(targets, dtype=np.float64)
    if y.shape != (n,):
        raise ValueError(f"targets must be 1-D with one value per spec ({n}), got shape {y.shape}")
    if not np.isfinite(y).all():
        bad = np.flatnonzero(~np.isfinite(y))[:5].tolist()
        raise ValueError(f"targets must be finite; non-finite at positions {bad} (drop those architectures)")
    return y


# -- fitting ----------------------------------------------------------------------------------

def _fit_members(x: np.ndarray, y: np.ndarray, cfg: SurrogateConfig) -> list[xgb.Booster]:
    z = _forward(y, cfg.target_transform)
    names = feature_names(cfg.feature_sets)
    models = []
    for k, seed in enumerate(cfg.member_seeds()):
        if cfg.bootstrap:
            rows = np.random.default_rng(seed).integers(0, x.shape[0], x.shape[0])
            dtrain = xgb.DMatrix(x[rows], label=z[rows], feature_names=names, nthread=cfg.nthread)
        elif k == 0:
            dtrain = xgb.DMatrix(x, label=z, feature_names=names, nthread=cfg.nthread)
        models.append(xgb.train(cfg.xgb_params(seed), dtrain, num_boost_round=cfg.n_estimators))
    return models


def _predict_members(models: Sequence[xgb.Booster], x: np.ndarray, transform: str) -> np.ndarray:
    """(members, N) predictions in target units."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    # inplace_predict skips the DMatrix copy; validate_features=False because the column order
    # is ours by construction (features_from_arrays) and numpy input carries no names
    return np.stack([_inverse(m.inplace_predict(x, validate_features=False), transform) for m in models])


def _training_hash(matrices: np.ndarray, labels: np.ndarray, n_vertices: np.ndarray, y: np.ndarray) -> str:
    """sha256 of the pruned padded cells and float64 targets, in training order."""
    h = hashlib.sha256()
    for arr, dtype in ((matrices, np.uint8), (labels, np.int8), (n_vertices, np.int8), (y, np.float64)):
        h.update(np.ascontiguousarray(arr, dtype=dtype).tobytes())
    return h.hexdigest()


def _versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for dist in ("nas_assets", "numpy", "xgboost-cpu", "xgboost", "scipy", "scikit-learn", "pandas"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            pass
    out["xgboost_module"] = xgb.__version__
    return out


def _calibrate(x: np.ndarray, y: np.ndarray, cfg: SurrogateConfig, oof: OutOfFold | None) -> Calibration:
    """The std calibration: from ``oof`` when given, else from a k-fold refit on (x, y)."""
    if cfg.calibration_folds == 0:
        return Calibration(transform=cfg.target_transform, note="calibration_folds=0: raw ensemble spread")
    if oof is not None:
        mean, std = np.asarray(oof.mean, dtype=np.float64), np.asarray(oof.std, dtype=np.float64)
        if mean.shape != std.shape or mean.shape[-1] != y.size:
            raise ValueError(f"out-of-fold mean {mean.shape} and std {std.shape} must both be (n,) or "
                             f"(repeats, n) with n = {y.size} training architectures")
        return fit_calibration(y, mean, std, cfg.target_transform,
                               source=f"out-of-fold predictions: {oof.source}")
    k = min(cfg.calibration_folds, y.size)
    mean, std = np.full(y.size, np.nan), np.full(y.size, np.nan)
    done = 0
    # a seed other than the members' so that the fold shuffle and the member subsamples are unrelated
    for _, fold, train, test in kfold_splits(y.size, k, 1, seed=cfg.seed + 1):
        preds = _predict_members(_fit_members(x[train], y[train], cfg), x[test], cfg.target_transform)
        mean[test], std[test] = preds.mean(axis=0), preds.std(axis=0)
        done += test.size
        if done >= CALIBRATION_MIN_RESIDUALS:
            break
    return fit_calibration(y, mean, std, cfg.target_transform,
                           source=f"{k}-fold refit inside fit_surrogate ({fold + 1} of {k} folds fitted)")


def fit_surrogate(
    specs: Sequence[Spec],
    targets: Iterable[float],
    *,
    config: SurrogateConfig | None = None,
    shape: NetworkShape = CIFAR10_SHAPE,
    target: str = "validation accuracy (fraction)",
    data_info: Mapping[str, Any] | None = None,
    metrics: Mapping[str, Any] | None = None,
    oof: OutOfFold | None = None,
    **overrides: Any,
) -> "Surrogate":
    """Fit an ensemble surrogate on ``(matrix, ops)`` specs and their measured targets.

    The returned surrogate's std is calibrated (module docstring): on the out-of-fold
    predictions ``oof`` when the caller has them (an evaluation with the same configuration,
    e.g. ``evaluate_surrogate``'s ``oof_predictions`` and ``oof_std`` -- no extra fitting), else
    on a ``config.calibration_folds``-fold refit on the training data, which costs up to
    ``calibration_folds`` more fits on small data and about one on ~10,000 cells or more
    (:data:`CALIBRATION_MIN_RESIDUALS`).

    Args:
        specs: ``(matrix, ops)`` pairs (pruned and validated here).
        targets: one value per spec, e.g. 108-epoch validation accuracy as a fraction.
        config: a :class:`SurrogateConfig`; ``overrides`` (its field names) are applied on top.
        shape: network skeleton for the ``cost`` features (CIFAR10_SHAPE, SO2SAT_SHAPE).
        target: what the targets are, for the manifest.
        data_info: caller's snapshot description (e.g. table version, budget), stored in the
            manifest next to the computed ``n_train`` and ``train_sha256``.
        metrics: held-out quality to record (e.g. ``evaluate_surrogate(...)["mean"]``).
        oof: out-of-fold predictions of the training cells to calibrate the std on, instead of
            refitting (:class:`OutOfFold`; same order as ``specs``).

    Returns:
        The fitted :class:`Surrogate`.

    Raises:
        InvalidSpecError: a spec is not a cell of the space.
        ValueError: bad targets, config or out-of-fold shapes.
    """
    cfg = SurrogateConfig.from_kwargs(config, **overrides)
    arrays = specs_to_arrays(specs)
    y = _targets(targets, arrays[0].shape[0])
    if y.size < 2:
        raise ValueError(f"need at least 2 training architectures, got {y.size}")
    x = features_from_arrays(*arrays, feature_sets=cfg.feature_sets, shape=shape)
    t0 = time.perf_counter()
    models = _fit_members(x, y, cfg)
    t1 = time.perf_counter()
    calibration = _calibrate(x, y, cfg, oof)
    manifest = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "created_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "feature_sets": list(cfg.feature_sets),
        "feature_names": feature_names(cfg.feature_sets),
        "network_shape": asdict(shape),
        "config": _config_json(cfg),
        "target": {
            "description": target,
            "transform": cfg.target_transform,
            "train_min": float(y.min()), "train_max": float(y.max()), "train_mean": float(y.mean()),
        },
        "ensemble": {"size": cfg.ensemble_size,
                     "std": "calibrated predictive std (see 'calibration') built on the population std "
                            "(ddof=0) of member predictions",
                     "sample": "normal draw from N(mean, std)"},
        "calibration": calibration.to_json(),
        "data": {"n_train": int(y.size), "train_sha256": _training_hash(*arrays, y), **dict(data_info or {})},
        "metrics": dict(metrics or {}),
        "fit_seconds": round(time.perf_counter() - t0, 3),
        "calibration_seconds": round(time.perf_counter() - t1, 3),
        "versions": _versions(),
    }
    return Surrogate(models, cfg, shape, manifest)


def _config_json(cfg: SurrogateConfig) -> dict[str, Any]:
    d = asdict(cfg)
    d["feature_sets"] = list(cfg.feature_sets)
    return d


# -- the model --------------------------------------------------------------------------------

class Surrogate:
    """A fitted ensemble: predicts mean and calibrated std of the target for any cell of the space.

    Attributes:
        config: the :class:`SurrogateConfig` it was fitted with.
        feature_sets: the feature sets, in column order.
        shape: network skeleton of the ``cost`` features.
        models: the ensemble members (``xgboost.Booster``).
        manifest: provenance (see :meth:`save`).
        calibration: how the member spread becomes the returned std (from the manifest's
            ``calibration`` block; uncalibrated, with a note, for artifacts saved without one).
    """

    def __init__(
        self,
        models: list[xgb.Booster],
        config: SurrogateConfig,
        shape: NetworkShape,
        manifest: dict[str, Any],
    ) -> None:
        if not models:
            raise ValueError("a Surrogate needs at least one member model")
        self.models = list(models)
        self.config = config
        self.shape = shape
        self.manifest = manifest
        self.calibration = Calibration.from_json(manifest.get("calibration"), config.target_transform)

    @property
    def feature_sets(self) -> tuple[str, ...]:
        return self.config.feature_sets

    def __repr__(self) -> str:
        return (f"Surrogate(feature_sets={self.feature_sets}, members={len(self.models)}, "
                f"n_train={self.manifest.get('data', {}).get('n_train')}, "
                f"calibrated={self.calibration.calibrated})")

    def predict_features(self, x: np.ndarray, *, calibrated: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """(mean, std) for a precomputed feature matrix (columns of :func:`feature_names`).

        ``calibrated=False`` gives the raw member spread (population std) instead of the
        calibrated std; the mean is the same.
        """
        n_features = len(self.manifest["feature_names"])
        if x.ndim != 2 or x.shape[1] != n_features:
            raise ValueError(f"feature matrix has shape {x.shape}, this surrogate expects (N, {n_features})")
        preds = _predict_members(self.models, x, self.config.target_transform)
        mean, spread = preds.mean(axis=0), preds.std(axis=0)
        return mean, self.calibration.apply(mean, spread) if calibrated else spread

    def predict(self, specs: Sequence[Spec], *, calibrated: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """Mean and calibrated standard deviation for ``(matrix, ops)`` specs.

        mean ± 2 std covers ~95 % of held-out errors (``self.calibration`` records the
        out-of-fold coverage); ``calibrated=False`` gives the raw ensemble spread.

        Raises:
            InvalidSpecError: a spec is not a cell of the space.
        """
        return self.predict_arrays(*specs_to_arrays(specs), calibrated=calibrated)

    def predict_arrays(
        self, matrices: np.ndarray, labels: np.ndarray, n_vertices: np.ndarray, *, chunk: int = PREDICT_CHUNK,
        calibrated: bool = True,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Vectorised (mean, std) for padded cells (e.g. the whole enumerated space).

        Args:
            matrices: (N, 7, 7) pruned adjacency, zero-padded, output at ``n_vertices - 1``.
            labels: (N, 7) NB101 labels, -3 as padding.
            n_vertices: (N,) vertex counts.
            chunk: rows featurized and predicted at a time (bounds memory).
            calibrated: calibrated std (default) or the raw ensemble spread.

        Returns:
            ``(mean, std)``, each (N,) float64, in target units.
        """
        n = np.asarray(matrices).shape[0]
        mean = np.empty(n, dtype=np.float64)
        std = np.empty(n, dtype=np.float64)
        for start in range(0, n, chunk):
            sl = slice(start, min(start + chunk, n))
            x = features_from_arrays(matrices[sl], labels[sl], n_vertices[sl], self.feature_sets, self.shape)
            mean[sl], std[sl] = self.predict_features(x, calibrated=calibrated)
        return mean, std

    def predict_members_arrays(
        self, matrices: np.ndarray, labels: np.ndarray, n_vertices: np.ndarray, *, chunk: int = PREDICT_CHUNK,
    ) -> np.ndarray:
        """(members, N) predictions of each ensemble member for padded cells (see :meth:`predict_arrays`):
        each member's predictions of the whole space form a landscape of their own."""
        n = np.asarray(matrices).shape[0]
        out = np.empty((len(self.models), n), dtype=np.float64)
        for start in range(0, n, chunk):
            sl = slice(start, min(start + chunk, n))
            x = features_from_arrays(matrices[sl], labels[sl], n_vertices[sl], self.feature_sets, self.shape)
            out[:, sl] = _predict_members(self.models, x, self.config.target_transform)
        return out

    def sample(self, specs: Sequence[Spec], rng: np.random.Generator | int | None = None) -> np.ndarray:
        """A "noisy benchmark" query: one draw per spec from N(mean, std), std calibrated.

        The draw uses the calibrated std, so its spread matches the surrogate's real error on
        unseen cells (the raw member spread covered 24-29 % of NB101 held-out errors at ±2σ).
        With ``ensemble_size=1`` the std is the calibrated floor alone; an uncalibrated
        single-member surrogate returns the point prediction.

        Args:
            specs: ``(matrix, ops)`` pairs.
            rng: a numpy Generator (or a seed) -- the only source of randomness.
        """
        mean, std = self.predict(specs)
        return np.random.default_rng(rng).normal(mean, std)

    # -- persistence --------------------------------------------------------------------------

    def save(self, directory: str | os.PathLike, *, overwrite: bool = False) -> Path:
        """Write the members (XGBoost UBJSON, ``member_<k>.ubj``) and ``manifest.json``.

        The manifest holds the format version, features, config, target description, data
        snapshot (``n_train``, ``train_sha256`` and the caller's ``data_info``), metrics, the
        std calibration, library versions and a sha256 of each member file. Everything is
        written to a staged sibling directory first and renamed into place, so readers never
        see a half-written artifact; staged copies left by killed writers are removed first.

        Args:
            directory: the artifact directory to create.
            overwrite: replace an existing artifact there (renamed aside, then deleted).

        Returns:
            The artifact directory.

        Raises:
            FileExistsError: ``directory`` exists and ``overwrite`` is False.
        """
        target = Path(directory)
        if target.exists() and not overwrite:
            raise FileExistsError(f"{target} exists; pass overwrite=True to replace the artifact")
        target.parent.mkdir(parents=True, exist_ok=True)
        remove_dead_temps(target)
        # a plain mkdir (not mkdtemp, which makes it 0700) so the artifact gets the umask's mode
        tmp = staged_path(target)
        tmp.mkdir()
        try:
            self.write_files(tmp)
            replace_dir(tmp, target)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return target

    def write_files(self, directory: str | os.PathLike) -> None:
        """Write the members and the manifest into the existing directory ``directory`` (not atomic:
        :meth:`save` calls it on a staged directory)."""
        directory = Path(directory)
        members = []
        for k, model in enumerate(self.models):
            name = f"member_{k}.ubj"
            model.save_model(str(directory / name))
            members.append({"file": name, "sha256": _sha256(directory / name)})
        manifest = {**self.manifest, "members": members}
        (directory / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
        self.manifest = manifest

    @classmethod
    def load(cls, directory: str | os.PathLike, *, nthread: int | None = None) -> "Surrogate":
        """Load an artifact written by :meth:`save` (no Dagster needed).

        Args:
            directory: the artifact directory.
            nthread: prediction threads (default: the ``nthread`` it was fitted with).

        Raises:
            FileNotFoundError: no such directory.
            SurrogateArtifactError: the manifest or a member file is missing, corrupt, or of
                another format version (the message names the file).
        """
        root = Path(directory)
        if not root.is_dir():
            raise FileNotFoundError(
                f"{root}: no surrogate artifact here (expected a directory with {MANIFEST})"
            )
        path = root / MANIFEST
        if not path.is_file():
            raise SurrogateArtifactError(
                f"{path} is missing: not a surrogate artifact, or an interrupted copy"
            )
        try:
            manifest = json.loads(path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise SurrogateArtifactError(f"{path} is not valid JSON ({exc}); re-save the surrogate") from None
        if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
            raise SurrogateArtifactError(f"{path}: 'format' is not {FORMAT!r}; not a surrogate manifest")
        version = manifest.get("format_version")
        if version != FORMAT_VERSION:
            raise SurrogateArtifactError(
                f"{path}: format_version {version!r}, this code reads {FORMAT_VERSION}; refit and re-save it"
            )
        try:
            stored = manifest["config"]
            config = SurrogateConfig(**{**stored, "feature_sets": tuple(stored["feature_sets"])})
            shape = NetworkShape(**manifest["network_shape"])
            members = manifest["members"]
            if manifest["feature_names"] != feature_names(config.feature_sets):
                raise ValueError("feature_names differ from what this code computes for its feature_sets")
        except (KeyError, TypeError, ValueError) as exc:
            raise SurrogateArtifactError(
                f"{path}: missing or invalid field ({exc!r}); re-save the surrogate"
            ) from None
        models = []
        for member in members:
            file = root / str(member.get("file"))
            if not file.is_file():
                raise SurrogateArtifactError(f"{file} is missing (listed in {path})")
            if _sha256(file) != member.get("sha256"):
                raise SurrogateArtifactError(
                    f"{file}: sha256 differs from {path}; the file is corrupt or was replaced"
                )
            booster = xgb.Booster()
            try:
                booster.load_model(str(file))
            except xgb.core.XGBoostError as exc:
                first_line = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                raise SurrogateArtifactError(f"{file}: XGBoost cannot read it ({first_line})") from None
            models.append(booster)
        return cls(models, config, shape,
                   manifest).set_nthread(config.nthread if nthread is None else nthread)

    def set_nthread(self, nthread: int) -> "Surrogate":
        """Use ``nthread`` threads for prediction from now on (fits use one; see SurrogateConfig)."""
        self.config = dataclasses.replace(self.config, nthread=int(nthread))
        for booster in self.models:
            booster.set_param({"nthread": self.config.nthread})
        return self


def predict_many(
    surrogates: Mapping[Any, "Surrogate"],
    matrices: np.ndarray,
    labels: np.ndarray,
    n_vertices: np.ndarray,
    *,
    chunk: int = PREDICT_CHUNK,
    calibrated: bool = True,
) -> dict[Any, tuple[np.ndarray, np.ndarray]]:
    """(mean, std) of several surrogates over the same padded cells, featurizing each chunk once.

    Surrogates sharing feature sets and network shape (the usual case: one per metric x budget)
    reuse one feature matrix per chunk; featurizing the space costs about as much as one
    member's predictions, so this saves it once per extra target.

    Returns:
        ``{key: (mean, std)}``, each (N,) float64 in the surrogate's target units; std is each
        surrogate's calibrated std (its raw ensemble spread with ``calibrated=False``).
    """
    n = np.asarray(matrices).shape[0]
    out = {key: (np.empty(n), np.empty(n)) for key in surrogates}
    groups: dict[tuple, list] = {}
    for key, model in surrogates.items():
        groups.setdefault((model.feature_sets, model.shape), []).append(key)
    for start in range(0, n, chunk):
        sl = slice(start, min(start + chunk, n))
        for (feature_sets, shape), keys in groups.items():
            x = features_from_arrays(matrices[sl], labels[sl], n_vertices[sl], feature_sets, shape)
            for key in keys:
                out[key][0][sl], out[key][1][sl] = surrogates[key].predict_features(x, calibrated=calibrated)
    return out


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# -- evaluation -------------------------------------------------------------------------------

def _splits(n: int, n_repeats: int, n_folds: int, train_fraction: float | None, seed: int):
    if train_fraction is None:
        return kfold_splits(n, n_folds, n_repeats, seed), f"{n_repeats} x {n_folds}-fold CV, seed {seed}"
    if not 0 < train_fraction < 1:
        raise ValueError(f"train_fraction must be in (0, 1), got {train_fraction}")
    size = int(round(train_fraction * n))
    protocol = f"{n_repeats} random {size}/{n - size} splits, seed {seed}"
    return random_splits(n, size, n_repeats, seed), protocol


def tune_config(
    specs: Sequence[Spec],
    targets: Iterable[float],
    candidates: Sequence[Mapping[str, Any]],
    *,
    config: SurrogateConfig | None = None,
    n_folds: int = 4,
    seed: int = 0,
    metric: str = "kendall_tau",
    shape: NetworkShape = CIFAR10_SHAPE,
) -> tuple[SurrogateConfig, pd.DataFrame]:
    """Pick the candidate with the best k-fold CV ``metric`` on the given data only.

    Call it on a training set (never on the data the result will be reported on).
    Candidates are scored with single models (``ensemble_size=1``) for speed: an ensemble
    lowers the variance of every candidate alike; the returned config keeps ``config``'s size.

    Args:
        specs, targets: the training data.
        candidates: dicts of :class:`SurrogateConfig` overrides.
        config: base config the candidates override.
        n_folds: CV folds.
        seed: seed of the fold shuffle.
        metric: one of :data:`METRIC_NAMES` (``rmse`` is minimised, the others maximised).

    Returns:
        The best config, and a table of every candidate's CV mean metric.
    """
    if metric not in METRIC_NAMES:
        raise ValueError(f"metric must be one of {METRIC_NAMES}, got {metric!r}")
    if not candidates:
        raise ValueError("tune_config needs at least one candidate")
    base = SurrogateConfig.from_kwargs(config)
    arrays = specs_to_arrays(specs)
    y = _targets(targets, arrays[0].shape[0])
    cache: dict[tuple[str, ...], np.ndarray] = {}
    rows = []
    folds = list(kfold_splits(y.size, n_folds, 1, seed))
    for i, cand in enumerate(candidates):
        cfg = SurrogateConfig.from_kwargs(base, **{**cand, "ensemble_size": 1})
        if cfg.feature_sets not in cache:
            cache[cfg.feature_sets] = features_from_arrays(*arrays, cfg.feature_sets, shape)
        x = cache[cfg.feature_sets]
        scores = []
        for _, _, tr, te in folds:
            pred = _predict_members(_fit_members(x[tr], y[tr], cfg), x[te], cfg.target_transform)[0]
            scores.append(regression_metrics(y[te], pred)[metric])
        rows.append({"candidate": i, **cand, metric: float(np.mean(scores))})
    table = pd.DataFrame(rows)
    best = int(table[metric].idxmin() if metric == "rmse" else table[metric].idxmax())
    return SurrogateConfig.from_kwargs(base, **candidates[best]), table


def evaluate_surrogate(
    specs: Sequence[Spec],
    targets: Iterable[float],
    *,
    n_repeats: int = 5,
    n_folds: int = 5,
    train_fraction: float | None = None,
    seed: int = 0,
    config: SurrogateConfig | None = None,
    shape: NetworkShape = CIFAR10_SHAPE,
    sparse_resolution: float = SPARSE_RESOLUTION,
    tune_candidates: Sequence[Mapping[str, Any]] | None = None,
    tune_folds: int = 4,
    **overrides: Any,
) -> dict[str, Any]:
    """Honest held-out quality: fit on each training part, score on its unseen test part.

    Splits are repeated k-fold (default) or, with ``train_fraction``, ``n_repeats`` repeated
    random splits; each split is one row of ``per_split``. With ``tune_candidates`` the
    hyper-parameters are chosen per split by :func:`tune_config` on that split's training part
    only (nested CV), so the reported numbers include the cost of tuning.

    Args:
        specs, targets: all labelled architectures.
        n_repeats: repeats (fresh shuffles).
        n_folds: folds per repeat (ignored with ``train_fraction``).
        train_fraction: use random train/test splits of this training fraction instead.
        seed: seed of the splits (the model seed is ``config.seed``).
        config, overrides: the surrogate configuration.
        shape: network skeleton of the ``cost`` features.
        sparse_resolution: rounding step of the sparse τ (0.001 = 0.1 pp for fractions).
        tune_candidates: optional config overrides to choose from inside each training part.
        tune_folds: inner CV folds for the tuning.

    Returns:
        ``{"mean": {metric: ...}, "std": {...}, "pooled": {...}, "pooled_std": {...},
        "oof_predictions": (n_repeats, n) array, "oof_std": (n_repeats, n),
        "oof_std_calibrated": (n_repeats, n), "calibration": {...}, "per_split": [ {repeat,
        fold, n_train, n_test, metrics..., fit_seconds, chosen (when tuned)} ], "protocol": str,
        "config": dict}``; mean and std (ddof=1) are over all splits. ``oof_predictions[r, i]``
        is the prediction for architecture i by the model of repeat r that did not see it (NaN
        where i was in no test part, e.g. with ``train_fraction``); ``pooled`` scores each
        repeat's predictions over all its tested architectures at once and averages over
        repeats -- the steadier number when test folds are small (a τ over 3 points is mostly
        noise). ``oof_std`` is the raw ensemble spread of those predictions (what
        :func:`fit_surrogate` calibrates on, passed as ``oof``) and ``oof_std_calibrated`` the
        calibrated std with the calibration *cross-fitted*: fitted on the residuals of the
        repeat's other folds (other fifths of the test part with ``train_fraction``), never on
        the cell's own. ``calibration`` holds the ±1σ/±2σ coverage of both over all repeats:
        ``{"coverage_1sigma", "coverage_2sigma"`` (calibrated), ``"raw_coverage_1sigma",
        "raw_coverage_2sigma", "protocol"}``.
    """
    cfg = SurrogateConfig.from_kwargs(config, **overrides)
    arrays = specs_to_arrays(specs)
    y = _targets(targets, arrays[0].shape[0])
    splits, protocol = _splits(y.size, n_repeats, n_folds, train_fraction, seed)
    x_all = None if tune_candidates else features_from_arrays(*arrays, cfg.feature_sets, shape)
    specs_list = list(specs) if tune_candidates else []
    per_split = []
    oof = np.full((n_repeats, y.size), np.nan)
    oof_std = np.full((n_repeats, y.size), np.nan)
    groups = np.full((n_repeats, y.size), -1)
    for r, f, tr, te in splits:
        t0 = time.perf_counter()
        row: dict[str, Any] = {"repeat": r, "fold": f, "n_train": int(tr.size), "n_test": int(te.size)}
        if tune_candidates:
            split_cfg, table = tune_config(
                [specs_list[i] for i in tr], y[tr], tune_candidates, config=cfg, n_folds=tune_folds,
                seed=seed * 1000 + r * 100 + f, shape=shape,
            )
            row["chosen"] = int(table["kendall_tau"].idxmax())
            x = features_from_arrays(*arrays, split_cfg.feature_sets, shape)
        else:
            assert x_all is not None  # computed above when there is nothing to tune
            split_cfg, x = cfg, x_all
        models = _fit_members(x[tr], y[tr], split_cfg)
        row["fit_seconds"] = time.perf_counter() - t0
        preds = _predict_members(models, x[te], split_cfg.target_transform)
        mean = preds.mean(axis=0)
        oof[r, te], oof_std[r, te] = mean, preds.std(axis=0)
        if train_fraction is None:
            groups[r, te] = f
        else:  # one test part per repeat: cut it into seeded fifths to cross-fit the calibration
            groups[r, te] = np.random.default_rng([seed, r]).permutation(te.size) % _CROSS_FIT_GROUPS
        row.update(regression_metrics(y[te], mean, sparse_resolution=sparse_resolution))
        per_split.append(row)
    frame = pd.DataFrame(per_split)
    cols = [*METRIC_NAMES, "fit_seconds"]
    pooled = pd.DataFrame([
        regression_metrics(y[np.isfinite(row)], row[np.isfinite(row)], sparse_resolution=sparse_resolution)
        for row in oof
    ])
    calibrated_std = cross_fitted_std(y, oof, oof_std, groups, cfg.target_transform)
    return {
        "mean": {c: float(frame[c].mean()) for c in cols},
        "std": {c: float(frame[c].std(ddof=1)) if len(frame) > 1 else 0.0 for c in cols},
        "pooled": {c: float(pooled[c].mean()) for c in METRIC_NAMES},
        "pooled_std": {c: float(pooled[c].std(ddof=1)) if len(pooled) > 1 else 0.0 for c in METRIC_NAMES},
        "oof_predictions": oof,
        "oof_std": oof_std,
        "oof_std_calibrated": calibrated_std,
        "calibration": {
            **{f"coverage_{k}": v for k, v in coverage(y - oof, calibrated_std).items()},
            **{f"raw_coverage_{k}": v for k, v in coverage(y - oof, oof_std).items()},
            "protocol": "fraction of out-of-fold predictions with |measured - mean| <= k std; calibrated: "
                        "cross-fitted, each fold's calibration fitted on the other folds of its repeat "
                        "(fifths of the test part for random splits), never on its own residuals",
        },
        "per_split": per_split,
        "protocol": protocol + (f", hyper-parameters tuned by {tune_folds}-fold CV inside each training part"
                                if tune_candidates else ""),
        "config": _config_json(cfg),
    }


def learning_curve(
    specs: Sequence[Spec],
    targets: Iterable[float],
    sizes: Sequence[int],
    *,
    n_repeats: int = 5,
    test_size: int | None = None,
    seed: int = 0,
    config: SurrogateConfig | None = None,
    shape: NetworkShape = CIFAR10_SHAPE,
    sparse_resolution: float = SPARSE_RESOLUTION,
    **overrides: Any,
) -> pd.DataFrame:
    """Held-out metrics against training-set size.

    Each repeat shuffles once, holds out the last ``test_size`` architectures (default: all
    beyond ``max(sizes)``) and trains on nested prefixes of the rest, so every size is scored on
    the same test set within a repeat.

    Returns:
        One row per size: ``n_train``, ``n_test``, ``<metric>_mean``, ``<metric>_std`` (over
        repeats) for every metric and ``fit_seconds``.
    """
    cfg = SurrogateConfig.from_kwargs(config, **overrides)
    arrays = specs_to_arrays(specs)
    y = _targets(targets, arrays[0].shape[0])
    sizes = sorted(int(s) for s in sizes)
    if not sizes:
        raise ValueError("learning_curve needs at least one training-set size")
    n_test = y.size - sizes[-1] if test_size is None else int(test_size)
    if sizes[0] < 2 or n_test < 2 or sizes[-1] + n_test > y.size:
        raise ValueError(
            f"sizes {sizes} with test_size {n_test} do not fit {y.size} architectures "
            "(need 2 <= size and max(sizes) + test_size <= n)"
        )
    x = features_from_arrays(*arrays, cfg.feature_sets, shape)
    rows = []
    for r, child in enumerate(np.random.SeedSequence(seed).spawn(n_repeats)):
        perm = np.random.default_rng(child).permutation(y.size)
        te, pool = perm[y.size - n_test :], perm[: y.size - n_test]
        for size in sizes:
            tr = pool[:size]
            t0 = time.perf_counter()
            models = _fit_members(x[tr], y[tr], cfg)
            seconds = time.perf_counter() - t0
            mean = _predict_members(models, x[te], cfg.target_transform).mean(axis=0)
            rows.append({"repeat": r, "n_train": size, "n_test": n_test, "fit_seconds": seconds,
                         **regression_metrics(y[te], mean, sparse_resolution=sparse_resolution)})
    frame = pd.DataFrame(rows)
    agg = frame.groupby("n_train")[[*METRIC_NAMES, "fit_seconds"]].agg(["mean", "std"])
    agg.columns = [f"{metric}_{stat}" for metric, stat in agg.columns]
    return agg.reset_index().assign(n_test=n_test)
