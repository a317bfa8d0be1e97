"""A predictive standard deviation a user can trust: calibration of the ensemble spread.

The spread of the XGBoost ensemble (members differ only by seed) is member disagreement, not
an error bar: fitted on 1,000 NB101 cells and tested on 5,000 others, ±2 raw std covered 26-29 %
of the errors (median std 0.0011 against a median error of 0.0042). Out-of-fold residuals say
how large the errors really are, and this module turns them into a calibrated std.

Method -- normalised split-conformal with a floor, in the fitted space. Let ``u`` be the slope
of the target transform's inverse at the predicted mean (``1 - mean`` for ``-log(1 - y)``,
1 for ``"none"``), so that ``e = |y - mean| / u`` and ``s = raw_std / u`` are the residual and
the spread in the fitted space (delta method). The calibrated std is

    std = sqrt((scale * raw_std)**2 + (floor * u)**2)

i.e. ``u * scale * sqrt(s**2 + t**2)`` with ``t = floor / scale``. The ratio ``t`` is chosen on
a grid so that the normalised scores ``e / sqrt(s**2 + t**2)`` have the Gaussian shape at
±1σ and ±2σ as nearly as they can (their 95.45 % quantile twice their 68.27 % quantile), and
``scale`` is the conformal 95.45 % quantile of those scores (the ceil((n + 1) 0.9545)-th
smallest) divided by 2, so that ±2 std covers 95.45 % of out-of-fold errors. (Split-conformal's
finite-sample guarantee is for the residuals of the model itself; these come from the k-fold
models, a close and slightly pessimistic stand-in -- see the last paragraph.)

Why this form: (1) a plain scale of the raw std is already right at ±2σ but the raw std
barely ranks the errors (rank correlation ~0.25), so its ±1σ coverage came out at 0.77-0.87;
(2) the floor in the fitted space is the homoscedastic error of ``-log(1 - y)``, which widens
the interval where the error rate ``1 - y`` is large -- where NB101's errors are large; with the
raw std under it the interval still widens where members disagree. The data choose between
the two through ``t`` (``t = 0`` is the plain scale). (3) NB101's errors are heavier-tailed than
a Gaussian (diverged runs), so no Gaussian std gets both levels right; ±2σ is matched exactly
and ±1σ comes out conservative (0.70-0.83 on NB101 at 4-108 epochs, 200-5,000 training
cells; ``benchmarks/surrogate_calibration.py``). A scale fitted by Gaussian likelihood (the
RMS of the normalised residuals) was rejected for the same reason: the tails pulled it to
±1σ 0.91 and ±2σ 0.98 (1,000 cells, 108 epochs).

Residuals come from models fitted on part of the data (k-fold), so they are slightly larger
than the final model's errors: the calibration errs on the wide side.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Mapping, NamedTuple

import numpy as np

#: Gaussian mass within ±1σ and ±2σ: the coverage a calibrated std should have.
COVERAGE_LEVELS: dict[str, tuple[float, float]] = {"1sigma": (1.0, 0.6827), "2sigma": (2.0, 0.9545)}
METHOD = "normalised_conformal"
UNCALIBRATED = "none"
#: Candidate ratios floor/scale, in units of the median fitted-space spread (0 = plain scale).
_RATIOS = np.r_[0.0, np.logspace(-2, 2, 41)]


def error_unit(mean: np.ndarray, transform: str) -> np.ndarray:
    """Slope of the inverse target transform at ``mean``: metric units per fitted-space unit.

    ``1 - mean`` for ``"neg_log_error"`` (``y = 1 - exp(-z)``), 1 for ``"none"``.
    """
    mean = np.asarray(mean, dtype=np.float64)
    if transform == "none":
        return np.ones_like(mean)
    # a prediction is < 1 by construction; the clip only keeps a division finite
    return np.clip(1.0 - mean, 1e-9, None)


def coverage(residuals: np.ndarray, std: np.ndarray) -> dict[str, float]:
    """Fraction of ``|residual| <= k * std`` for k = 1, 2 (NaN pairs ignored; NaN if none)."""
    r = np.abs(np.asarray(residuals, dtype=np.float64)).ravel()
    s = np.asarray(std, dtype=np.float64).ravel()
    ok = np.isfinite(r) & np.isfinite(s)
    if not ok.any():
        return {name: float("nan") for name in COVERAGE_LEVELS}
    return {name: float(np.mean(r[ok] <= k * s[ok])) for name, (k, _) in COVERAGE_LEVELS.items()}


@dataclass(frozen=True)
class Calibration:
    """How the raw ensemble std becomes the predictive std (see the module docstring).

    Attributes:
        method: :data:`METHOD`, or :data:`UNCALIBRATED` (the raw ensemble std is returned).
        transform: the surrogate's target transform (decides the unit of ``floor``).
        scale: multiplies the raw std.
        floor: std in the fitted space added in quadrature (``floor * u`` in metric units).
        n_residuals: out-of-fold residuals it was fitted on.
        source: where the residuals came from.
        oof_coverage: ±1σ/±2σ coverage of the calibrated std on those residuals -- in-sample
            for ``scale`` and ``floor`` (two numbers fitted on thousands of residuals), so
            close to honest; :func:`cross_fitted_std` gives the held-out number.
        raw_oof_coverage: the same for the raw ensemble std.
        note: why it is uncalibrated, when it is.
    """

    method: str = UNCALIBRATED
    transform: str = "none"
    scale: float = 1.0
    floor: float = 0.0
    n_residuals: int = 0
    source: str = ""
    oof_coverage: dict[str, float] = field(default_factory=dict)
    raw_oof_coverage: dict[str, float] = field(default_factory=dict)
    note: str = ""

    @property
    def calibrated(self) -> bool:
        return self.method != UNCALIBRATED

    def apply(self, mean: np.ndarray, raw_std: np.ndarray) -> np.ndarray:
        """The calibrated std (metric units) for predictions ``mean`` with ensemble spread ``raw_std``."""
        raw_std = np.asarray(raw_std, dtype=np.float64)
        if not self.calibrated:
            return raw_std
        return np.hypot(self.scale * raw_std, self.floor * error_unit(mean, self.transform))

    def to_json(self) -> dict[str, Any]:
        """The manifest's ``calibration`` block."""
        return {
            "method": self.method, "calibrated": self.calibrated, "transform": self.transform,
            "scale": self.scale, "floor": self.floor,
            "formula": "std = sqrt((scale * ensemble_std)^2 + (floor * u)^2), u = "
                       + ("1 - mean" if self.transform == "neg_log_error" else "1"),
            "level": COVERAGE_LEVELS["2sigma"][1], "n_residuals": self.n_residuals, "source": self.source,
            "oof_coverage": {**self.oof_coverage,
                             "kind": "in-sample (scale and floor fitted on these residuals)"},
            "raw_oof_coverage": self.raw_oof_coverage, "note": self.note,
        }

    @classmethod
    def from_json(cls, block: Mapping[str, Any] | None, transform: str) -> "Calibration":
        """Read a manifest's block; ``None`` (an artifact from before calibration) gives the raw std."""
        if block is None:
            return cls(transform=transform, note="artifact saved before calibration existed: std is the raw "
                                                 "ensemble spread, too narrow; refit to calibrate it")
        numbers = lambda d: {k: float(v) for k, v in (d or {}).items() if k in COVERAGE_LEVELS}  # noqa: E731
        return cls(method=str(block["method"]), transform=str(block.get("transform", transform)),
                   scale=float(block["scale"]), floor=float(block["floor"]),
                   n_residuals=int(block.get("n_residuals", 0)), source=str(block.get("source", "")),
                   oof_coverage=numbers(block.get("oof_coverage")),
                   raw_oof_coverage=numbers(block.get("raw_oof_coverage")), note=str(block.get("note", "")))


def _conformal_quantile(scores: np.ndarray, level: float) -> float:
    """The ceil((n + 1) level)-th smallest score (the largest when n is too small)."""
    n = scores.size
    k = min(n, int(np.ceil((n + 1) * level)))
    return float(np.partition(scores, k - 1)[k - 1])


def fit_calibration(
    y: np.ndarray,
    mean: np.ndarray,
    raw_std: np.ndarray,
    transform: str,
    *,
    source: str = "",
) -> Calibration:
    """Fit ``scale`` and ``floor`` on out-of-fold predictions (module docstring).

    Args:
        y: measured targets, broadcastable to ``mean`` (e.g. (n,) against (repeats, n)).
        mean: out-of-fold ensemble means (NaN where a cell was not predicted).
        raw_std: their ensemble spreads, same shape.
        transform: the surrogate's target transform.
        source: provenance for the manifest.

    Returns:
        The calibration; uncalibrated (with a note) when fewer than 2 residuals are finite.
    """
    y, mean, raw_std = np.broadcast_arrays(*(np.asarray(a, dtype=np.float64) for a in (y, mean, raw_std)))
    ok = np.isfinite(y) & np.isfinite(mean) & np.isfinite(raw_std)
    if ok.sum() < 2:
        return Calibration(transform=transform, source=source,
                           note=f"{int(ok.sum())} out-of-fold residuals: too few to calibrate; "
                                "raw ensemble std")
    y, mean, raw_std = y[ok], mean[ok], raw_std[ok]
    u = error_unit(mean, transform)
    e, s = np.abs(y - mean) / u, raw_std / u
    # the grid is relative to the typical spread; with one member (s = 0) the residuals set it
    ref = next((v for v in (np.median(s), np.median(e)) if v > 0), 1.0)
    (_, level1), (_, level2) = COVERAGE_LEVELS["1sigma"], COVERAGE_LEVELS["2sigma"]
    best = (np.inf, 0.0, 0.0)
    for t in _RATIOS * ref:
        if t == 0 and (s == 0).any():
            continue  # 0 / 0 scores: the plain scale needs a spread everywhere
        scores = e / np.hypot(s, t)
        q1, q2 = np.quantile(scores, level1), _conformal_quantile(scores, level2)
        # distance from the Gaussian shape q2 = 2 q1; when most residuals are exactly 0 the
        # shape is undefined but q2 is still the right scale (q2 = 0: a zero std covers 95 %)
        gap = abs(np.log(q2 / (2 * q1))) if q1 > 0 else (1e6 if q2 > 0 else 1e9)
        if gap < best[0] - 1e-9:  # ties keep the smaller floor
            best = (gap, float(t), float(q2 / 2))
    _, t, scale = best
    cal = Calibration(method=METHOD, transform=transform, scale=scale, floor=scale * t,
                      n_residuals=int(y.size), source=source)
    return replace(cal, oof_coverage=coverage(y - mean, cal.apply(mean, raw_std)),
                   raw_oof_coverage=coverage(y - mean, raw_std))


def cross_fitted_std(
    y: np.ndarray,
    mean: np.ndarray,
    raw_std: np.ndarray,
    groups: np.ndarray,
    transform: str,
) -> np.ndarray:
    """Calibrated std of out-of-fold predictions whose calibration never saw their residuals.

    For each repeat (row) and each group of cells, the calibration is fitted on the residuals
    of the other groups of that repeat and applied to this group's cells -- so the coverage
    measured with the result is held-out for the calibration as well as for the model.

    Args:
        y: (n,) measured targets.
        mean, raw_std: (repeats, n) out-of-fold ensemble means and spreads (NaN = not tested).
        groups: (repeats, n) integer group of each tested cell (e.g. its test fold), -1 = untested.
        transform: the surrogate's target transform.

    Returns:
        (repeats, n) calibrated std, NaN where untested or where a repeat has one group only.
    """
    mean, raw_std, groups = (np.atleast_2d(np.asarray(a)) for a in (mean, raw_std, groups))
    out = np.full(mean.shape, np.nan)
    for r in range(mean.shape[0]):
        for g in np.unique(groups[r][groups[r] >= 0]):
            this, rest = groups[r] == g, (groups[r] >= 0) & (groups[r] != g)
            if not rest.any():
                continue
            cal = fit_calibration(y[rest], mean[r, rest], raw_std[r, rest], transform)
            out[r, this] = cal.apply(mean[r, this], raw_std[r, this])
    return out


class OutOfFold(NamedTuple):
    """Out-of-fold ensemble predictions of every training cell, from an evaluation with the
    surrogate's own configuration: ``mean`` and ``std`` (raw spread) of shape (n,) or
    (repeats, n), NaN where a cell was not tested; ``source`` says how they were made."""

    mean: np.ndarray
    std: np.ndarray
    source: str
