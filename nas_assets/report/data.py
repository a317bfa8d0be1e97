"""What the footprint report shows: :class:`ReportData`, metric names and the published anchors.

Plain numpy/pandas only, so an asset, a notebook or a test can assemble a report without
matplotlib or Dagster. The metric vocabulary lives once in
:data:`nas_assets.core.landscape.vocabulary.METRICS`; figures,
HTML tables and the Markdown for the Dagster UI all read their names and formats from it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone

import numpy as np
import pandas as pd

from nas_assets.core.landscape.vocabulary import METRICS
from nas_assets.core.nb101.protocol import NB101_BUDGETS

#: The eight panels of the footprint figure (the footprint's metric numbering). The local-optima panel shows
#: the exact count where there is one and falls back to the estimate.
FOOTPRINT_PANELS: tuple[str, ...] = (
    "mean_fitness",
    "fitness_std",
    "autocorrelation",
    "local_optima",
    "positive_persistence",
    "positive_auc",
    "negative_persistence",
    "negative_auc",
)

#: Persistence budgets (epochs) of the report's CIFAR-10 curves: NB101's.
PERSISTENCE_BUDGETS: tuple[int, ...] = NB101_BUDGETS

#: Published anchors: Traoré et al.'s footprints of NB101 CIFAR-10 and So2Sat (Sentinel-2).
#: ``None`` = not published. τ and ρ̄(1) are each other's inverse, std² is the variance: where only one
#: of a pair is published the other is derived (see :func:`published_footprints`).
PUBLISHED_ANCHORS: dict[str, dict[str, float | str | None]] = {
    # NB101 test accuracy @ 36 epochs (mean of 3 repeats) over all 423,624 cells; rho(1) on 30 x 100
    # walks scored on 36-epoch validation accuracy; N-hat with the 289-bit encoding (16 seeds x 200
    # searches); persistence 4 -> 12 -> 36 -> 108 on 1,000 random cells. Caveat: P+(25) = 0.32 may be
    # copied from the So2Sat value -- the authors' own CIFAR-10 notebooks give P+ 0.25-0.26.
    "CIFAR-10 (published, NB101)": {
        "fitness": "CIFAR-10 test accuracy @ 36 epochs (NB101, all cells; P⁺ caveat in the notes)",
        "mean_fitness": 0.835,
        "fitness_std": 0.091,
        "autocorrelation": 0.517,
        "ruggedness_tau": 1.93,
        "local_optima_estimate": 6373.0,
        "knn_local_optima": 4.0,
        "positive_persistence": 0.32,
        "positive_auc": 0.099,
        "negative_persistence": 0.064,
        "negative_auc": 0.043,
    },
    # So2Sat LCZ42 Sentinel-2, test kappa @ 36 epochs on the trained sample; local optima: 7 So2Sat vs
    # 4 CIFAR-10 cells beat their 10 nearest sampled neighbours, ratio x CIFAR-10's N-hat.
    "So2Sat S2 (published)": {
        "fitness": "So2Sat S2 test kappa @ 36 epochs (trained sample)",
        "mean_fitness": 0.822,
        "fitness_std": 0.099,
        "autocorrelation": 0.572,
        "ruggedness_tau": 1.75,
        "knn_local_optima": 7.0,
        "knn_optima_ratio": 1.75,
        "local_optima_extrapolated": 11153.0,
        "positive_persistence": 0.32,
        "positive_auc": 0.483,
        "negative_persistence": 0.28,
        "negative_auc": 0.264,
    },
}

#: What a reader must know about the published anchors (shown under the footprint table).
PUBLISHED_CAVEATS: tuple[str, ...] = (
    "Published anchors are the footprint authors' numbers (Traoré et al., public notebooks), each on its own "
    "fitness: CIFAR-10 test accuracy @ 36 epochs, So2Sat S2 test kappa @ 36 epochs.",
    "CIFAR-10 P⁺(25) = 0.32 may be copied from the So2Sat value: the authors' own CIFAR-10 persistence "
    "notebooks give P⁺ 0.25-0.26, AuC⁺ 0.08-0.10, P⁻ 0.04, AuC⁻ 0.016.",
)


def published_footprints() -> pd.DataFrame:
    """The published anchor footprints, one row per landscape, in :data:`METRICS` columns.

    Derived cells: ``fitness_variance`` = std², and whichever of ``autocorrelation`` /
    ``ruggedness_tau`` was not published = 1 / the other. A ``fitness`` text column says which
    metric and budget the authors used (they are not the same fitness as ours).

    Returns:
        DataFrame indexed by landscape name; NaN where nothing was published.
    """
    rows: dict[str, dict[str, float | str]] = {}
    for name, anchor in PUBLISHED_ANCHORS.items():
        row: dict[str, float | str] = {
            key: (math.nan if value is None else value) for key, value in anchor.items()
        }
        row["fitness_variance"] = float(row["fitness_std"]) ** 2
        rho, tau = float(row["autocorrelation"]), float(row["ruggedness_tau"])
        if math.isnan(rho) and not math.isnan(tau):
            row["autocorrelation"] = 1.0 / tau
        if math.isnan(tau) and not math.isnan(rho):
            row["ruggedness_tau"] = 1.0 / rho
        row["local_optima"] = math.nan
        row["n_architectures"] = math.nan
        rows[name] = row
    frame = pd.DataFrame.from_dict(rows, orient="index")
    return frame.reindex(columns=["fitness", *METRICS])


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


@dataclass
class ReportData:
    """Everything the footprint report shows; every item but ``footprints`` may be missing.

    Landscapes are identified by display names such as ``"So2Sat (trained sample)"`` or
    ``"CIFAR-10 (surrogate, full space)"``; the same name keys every mapping below, and a
    landscape may be absent from any of them.

    Attributes:
        footprints: One row per landscape (index = name), columns among :data:`METRICS` keys;
            NaN where a metric could not be computed.
        fitness_label: What "fitness" is, e.g. ``"validation macro accuracy @ 108 epochs"``.
        fitness_labels: Per landscape, when the sides differ (So2Sat vs CIFAR-10 metric); a
            landscape not named here uses ``fitness_label``.
        fitness: Fitness values per landscape (distributions; full-space ones hold 423,624 values).
        persistence_curves: Per landscape ``{"percent": N, "positive": P⁺(N), "negative": P⁻(N)}``,
            optionally ``"budgets"`` (the epochs compared, t0 first).
        correlograms: Mean autocorrelation ρ(k), k = 1..K, per landscape.
        walk_autocorrelations: Per-walk ρ(1) per landscape.
        per_class: Index = class names, columns ``"best"`` and ``"median"`` (per-class validation
            accuracy of the best and the median trained architecture).
        per_class_titles: Names of those architectures per column, e.g. ``{"best": "3f2a9c1e (0.712)"}``.
        surrogate_scatter: ``"measured"``, ``"predicted"``, optional ``"std"`` arrays, a ``"label"``
            and quality numbers (``kendall_tau``, ``r2``, ...) to annotate.
        table1: Table 1: mean macro and overall accuracy per landscape.
        published: Published anchors shown beside ours, normally :func:`published_footprints`.
        title: Report heading.
        generated_at: When the report was built (text).
        notes: Provenance lines: database path, design, budgets, surrogate configuration.
        intervals: ``landscape, metric, low, high, method``: the 95 % interval of a value (tables
            print ``value [low, high]``, the footprint figure draws error bars).
        verdicts: the paired comparison, one row per metric: ``metric, a, b, difference, ci_low,
            ci_high, verdict, method``; ``attrs["a"]``/``attrs["b"]`` name the two landscapes.
        metric_descriptions: metric -> description built from the run's settings (walks, budgets,
            neighbourhood), replacing :data:`METRICS`' generic sentence.

    Raises:
        ValueError: ``footprints`` has a column that is not a metric, or a persistence curve lacks
            a key, so a typo cannot silently drop a metric from the report.
    """

    footprints: pd.DataFrame
    fitness_label: str = "fitness"
    fitness_labels: dict[str, str] = field(default_factory=dict)
    fitness: dict[str, np.ndarray] = field(default_factory=dict)
    persistence_curves: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)
    correlograms: dict[str, np.ndarray] = field(default_factory=dict)
    walk_autocorrelations: dict[str, np.ndarray] = field(default_factory=dict)
    per_class: pd.DataFrame | None = None
    per_class_titles: dict[str, str] = field(default_factory=dict)
    surrogate_scatter: dict | None = None
    table1: pd.DataFrame | None = None
    published: pd.DataFrame | None = None
    title: str = "Fitness landscape footprint"
    generated_at: str = field(default_factory=_now)
    notes: list[str] = field(default_factory=list)
    intervals: pd.DataFrame | None = None
    verdicts: pd.DataFrame | None = None
    metric_descriptions: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        unknown = [c for c in self.footprints.columns if c not in METRICS]
        if unknown:
            raise ValueError(
                f"ReportData.footprints: unknown column(s) {unknown}; expected among {list(METRICS)}"
            )
        for name, curve in self.persistence_curves.items():
            missing = {"percent", "positive", "negative"} - set(curve)
            if missing:
                raise ValueError(
                    f"ReportData.persistence_curves[{name!r}] lacks {sorted(missing)}; "
                    "give 'percent', 'positive' and 'negative' arrays"
                )
        if self.surrogate_scatter is not None:
            missing = {"measured", "predicted"} - set(self.surrogate_scatter)
            if missing:
                raise ValueError(f"ReportData.surrogate_scatter lacks {sorted(missing)}")

    def description_of(self, key: str) -> str:
        """What a metric means in this report (the run's own settings where they matter)."""
        return self.metric_descriptions.get(key, METRICS[key].description)

    def interval_of(self, name: str, key: str) -> tuple[float, float] | None:
        """The (low, high) interval of one landscape's metric, or None."""
        if self.intervals is None or self.intervals.empty:
            return None
        hit = self.intervals[(self.intervals["landscape"] == name) & (self.intervals["metric"] == key)]
        if hit.empty or not np.isfinite(hit["low"].iloc[0]):
            return None
        return float(hit["low"].iloc[0]), float(hit["high"].iloc[0])

    def label_of(self, name: str) -> str:
        """The fitness of one landscape."""
        return self.fitness_labels.get(name, self.fitness_label)

    @property
    def landscapes(self) -> list[str]:
        """Every landscape named anywhere, in first-seen order (footprints first)."""
        names: dict[str, None] = dict.fromkeys(str(n) for n in self.footprints.index)
        sources: list[Mapping[str, object]] = [
            self.fitness,
            self.persistence_curves,
            self.correlograms,
            self.walk_autocorrelations,
        ]
        for source in sources:
            names.update(dict.fromkeys(str(n) for n in source))
        if self.table1 is not None:
            names.update(dict.fromkeys(str(n) for n in self.table1.index))
        return list(names)


def format_metric(key: str, value: object) -> str:
    """Format one metric value for a table: its :data:`METRICS` spec, ``n/a`` for NaN/None."""
    if value is None:
        return "n/a"
    if isinstance(value, str):
        return value
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return str(value)
    if math.isnan(number):
        return "n/a"
    if math.isinf(number):  # tau = 1/rho(1) is +inf when rho(1) <= 0
        return "∞" if number > 0 else "−∞"
    info = METRICS.get(key)
    return format(number, info.fmt if info else ".3g")


def format_with_interval(key: str, value: object, interval: tuple[float, float] | None) -> str:
    """``value [low, high]`` in the metric's format; just the value without an interval."""
    text = format_metric(key, value)
    if interval is None or text == "n/a":
        return text
    return f"{text} [{format_metric(key, interval[0])}, {format_metric(key, interval[1])}]"


def metric_descriptions(
    *,
    neighbourhood: str,
    n_walks: int,
    walk_length: int,
    design_walks: int | None,
    estimator_repeats: int,
    budgets: Mapping[str, Sequence[int]],
    knn_k: int,
    persistence_percent: int = 25,
) -> dict[str, str]:
    """The metric descriptions that depend on the run, written from the values it used.

    Args:
        neighbourhood: ``fla`` (Hamming-1 on the 289-bit encoding) or ``graph_edit``.
        n_walks, walk_length: the fresh random walks on full landscapes.
        design_walks: the design's own walks the sampled landscapes are scored along (None: none).
        estimator_repeats: repeats of the birthday-paradox estimator.
        budgets: side (e.g. ``"So2Sat"``) -> the epoch budgets its persistence compares.
        knn_k: nearest sampled cells of the sampled local optima.
        persistence_percent: N of P±(N).
    """
    step = {"fla": "Hamming-1 (FLA encoding)",
            "graph_edit": "graph-edit (one edge or op)"}.get(neighbourhood, neighbourhood)
    walks = f"{n_walks} fresh random walks of {walk_length} {step} steps on a full landscape"
    if design_walks:
        walks = f"the design's {design_walks} random walks on a sampled landscape, " + walks
    per_side = "; ".join(f"{side} {', '.join(str(b) for b in sorted(bs))} epochs"
                         for side, bs in budgets.items() if bs)
    n = persistence_percent
    design_note = ", the design walks with at least 2 measured cells on a sample" if design_walks else ""
    return {
        "autocorrelation": f"Lag-1 autocorrelation of fitness along random walks ({walks}), averaged over "
                           "walks: near 1 = smooth landscape, near 0 = rugged.",
        "local_optima": f"Architectures with no strictly better {step} neighbour; exact on a fully "
                        "known landscape.",
        "local_optima_estimate": f"N̂ = K̄²/(2 ln 2), K̄ = mean index of the first repeated optimum over "
                                 "best-improvement local searches from random starts, "
                                 f"{estimator_repeats} repeats.",
        "knn_local_optima": f"Sampled cells fitter than all of their {knn_k} nearest sampled cells (FLA "
                            "Hamming distance, ties to the lower index): the authors' count on a sample, "
                            "comparable between two fitnesses on the same cells.",
        "positive_persistence": f"Share of the top-{n}% architectures at the first budget (t0) that stay in "
                                f"the top {n}% at every budget the landscape recorded ({per_side}): high = "
                                "early training already finds the good ones.",
        "positive_auc": f"Mean of P⁺(N) over N = 1..{n}%.",
        "negative_persistence": f"Share of the bottom-{n}% architectures at the first budget (t0) that stay "
                                f"in the bottom {n}% at every budget ({per_side}).",
        "negative_auc": f"Mean of P⁻(N) over N = 1..{n}%.",
        "n_walks": "Number of random walks the autocorrelation was averaged over "
                   f"({n_walks} on a full landscape{design_note}).",
    }
