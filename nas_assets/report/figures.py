"""The report's figures: one function per figure, each returning PNG bytes or None.

Every figure is a fresh :class:`matplotlib.figure.Figure` drawn on its own Agg canvas, so nothing
goes through pyplot and no state (rcParams, current figure) leaks between figures or threads.
Inputs are plain numpy/pandas; a function given no usable data returns None and the report
skips that figure. Colours come from :func:`landscape_colors` so a landscape keeps its colour
across figures.
"""

from __future__ import annotations

import io
import math
import textwrap
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from matplotlib.transforms import blended_transform_factory

from nas_assets.core.so2sat import CLASS_CODES, CLASS_NAMES
from nas_assets.report.data import FOOTPRINT_PANELS, METRICS, PERSISTENCE_BUDGETS, format_metric

DPI = 110
#: Okabe-Ito (colour-blind safe) first, then two darker extras; yellow left out (unreadable on white).
PALETTE: tuple[str, ...] = (
    "#0072B2",
    "#E69F00",
    "#009E73",
    "#CC79A7",
    "#56B4E9",
    "#D55E00",
    "#332288",
    "#999933",
)
PUBLISHED_COLOR = "#8c8c8c"
TEXT_GREY = "#555555"

_QUALITY_NAMES = {
    "kendall_tau": "Kendall τ",
    "spearman": "Spearman ρ",
    "spearman_rho": "Spearman ρ",
    "pearson": "Pearson r",
    "r2": "R²",
    "rmse": "RMSE",
    "mae": "MAE",
    "n": "n",
    "n_folds": "folds",
}


def landscape_colors(names: Sequence[str]) -> dict[str, str]:
    """One colour per landscape, in order, cycling through :data:`PALETTE`."""
    return {name: PALETTE[i % len(PALETTE)] for i, name in enumerate(names)}


def _colors_for(names: Sequence[str], colors: Mapping[str, str] | None) -> dict[str, str]:
    fallback = landscape_colors(names)
    return {name: (colors or {}).get(name, fallback[name]) for name in names}


def _new_figure(width: float, height: float) -> Figure:
    fig = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _png(fig: Figure) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI, facecolor="white")
    return buffer.getvalue()


def _open_frame(ax) -> None:
    """No top and right spines (the data, not a box, frames the plot)."""
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)


def _bar_axis(ax, labelsize: float) -> None:
    """A horizontal-bar panel: vertical grid lines behind the bars, no y ticks, open frame."""
    ax.grid(axis="x", color="#dddddd", linewidth=0.7)
    ax.set_axisbelow(True)
    ax.tick_params(axis="x", labelsize=labelsize)
    ax.tick_params(axis="y", length=0)
    _open_frame(ax)


def _wrap(name: str, width: int = 24) -> str:
    return "\n".join(textwrap.wrap(name, width)) or name


def _finite(values: object) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64).ravel()
    return array[np.isfinite(array)]


def _float(value: object) -> float:
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return math.nan


# --------------------------------------------------------------------------------------------------
# 1. footprint
# --------------------------------------------------------------------------------------------------


def footprint_figure(
    footprints: pd.DataFrame | None,
    published: pd.DataFrame | None = None,
    *,
    colors: Mapping[str, str] | None = None,
    intervals: Mapping[tuple[str, str], tuple[float, float]] | None = None,
) -> bytes | None:
    """The eight footprint metrics as horizontal bars, one panel (and axis) per metric.

    Fractions sit on a fixed 0..1 axis, the local-optima count on a log axis (the exact count, or
    the estimate N̂ hatched and marked ≈ where there is no exact count). Published anchors, if
    given, are drawn as grey hatched bars below ours. NaN prints as "n/a".

    Args:
        footprints: One row per landscape, :data:`METRICS` columns.
        published: Published anchor rows in the same columns (e.g. ``published_footprints()``).
        colors: Landscape → colour.
        intervals: (landscape, metric) → (low, high), drawn as an error bar on that bar.

    Returns:
        PNG bytes, or None when there is no footprint row.
    """
    if footprints is None or footprints.empty:
        return None
    ours = [str(n) for n in footprints.index]
    frames = [footprints.reindex(columns=list(METRICS))]
    theirs: list[str] = []
    if published is not None and not published.empty:
        theirs = [str(n) for n in published.index]
        frames.append(published.reindex(columns=list(METRICS)))
    table = pd.concat(frames)
    table.index = ours + theirs
    names = ours + theirs
    palette = _colors_for(ours, colors)
    bar_colors = [palette.get(n, PUBLISHED_COLOR) for n in ours] + [PUBLISHED_COLOR] * len(theirs)
    y = np.arange(len(names))[::-1].astype(float)

    panel_height = max(2.0, 0.42 * len(names) + 0.9)
    fig = _new_figure(15.0, 2 * panel_height + 1.2)
    axes = fig.subplots(2, 4, sharey=True)
    any_estimate = False
    for number, (ax, key) in enumerate(zip(axes.ravel(), FOOTPRINT_PANELS, strict=True), start=1):
        info = METRICS[key]
        values = table[key].map(_float).to_numpy()
        estimated = np.zeros(len(names), dtype=bool)
        title = info.plot_label
        if key == "local_optima":
            estimate = table["local_optima_estimate"].map(_float).to_numpy()
            estimated = np.isnan(values) & np.isfinite(estimate)
            values = np.where(estimated, estimate, values)
            any_estimate = bool(estimated.any())
            title = "local optima (count or estimate)"
        finite = values[np.isfinite(values)]
        if info.scale == "log":
            ax.set_xscale("log")
            top = float(finite.max()) if finite.size else 10.0
            bottom = float(finite.min()) if finite.size else 1.0
            # one decade below the smallest count, so differences between landscapes stay visible
            left = 10.0 ** max(0, math.floor(math.log10(max(bottom, 1.0))) - 1)
            ax.set_xlim(left, 10 ** (math.ceil(math.log10(max(top, 10.0))) + 0.6))
        elif info.scale == "unit":
            low = min(0.0, float(finite.min()) if finite.size else 0.0)
            ax.set_xlim(low, 1.0)
            left = 0.0
        else:
            top = float(finite.max()) if finite.size else 1.0
            ax.set_xlim(0.0, top * 1.45 if top > 0 else 1.0)
            left = 0.0
        xmin, xmax = ax.get_xlim()
        label_transform = blended_transform_factory(ax.transAxes, ax.transData)
        for i, name in enumerate(names):
            value = values[i]
            is_published = name in theirs
            if not np.isfinite(value):
                ax.text(0.03, y[i], "n/a", transform=label_transform, va="center", ha="left",
                        fontsize=9, color=TEXT_GREY, style="italic")
                continue
            hatch = "//" if is_published else ("..." if estimated[i] else None)
            face = "white" if is_published else bar_colors[i]
            ax.barh(y[i], max(value - left, 0.0), left=left, height=0.7, color=face, hatch=hatch,
                    hatchcolor=bar_colors[i] if is_published else "white",
                    edgecolor=bar_colors[i] if (is_published or estimated[i]) else "none", linewidth=1.0)
            shown = "local_optima_estimate" if estimated[i] else key
            interval = (intervals or {}).get((name, shown))
            if interval is not None and not all(np.isfinite(interval)):
                interval = None
            if interval is not None:
                low, high = min(interval[0], value), max(interval[1], value)
                if info.scale != "log" or low > 0:
                    ax.errorbar(value, y[i], xerr=[[value - low], [high - value]], fmt="none", ecolor="black",
                                elinewidth=1.0, capsize=3, zorder=3)
            text = format_metric(shown, value)
            if estimated[i]:
                text = "≈" + text
            if key == "autocorrelation":
                tau = _float(table.loc[name, "ruggedness_tau"])
                if np.isfinite(tau):
                    text += f"  (τ {tau:.2f})"
            # Long bars carry their value inside, short ones just past the end, so text stays in frame.
            if info.scale == "log":
                fraction = (math.log10(value) - math.log10(xmin)) / (math.log10(xmax) - math.log10(xmin))
            else:
                fraction = (value - xmin) / (xmax - xmin)
            inside = fraction > (0.55 if key == "autocorrelation" else 0.72)
            # a label outside the bar starts past its error bar, so the two do not overlap
            anchor = value if inside or interval is None else min(max(value, interval[1]), xmax)
            ax.text(anchor, y[i], (text + " ") if inside else (" " + text), va="center",
                    ha="right" if inside else "left", fontsize=8.5,
                    color="white" if inside and not is_published else "black",
                    bbox=({"facecolor": "white", "edgecolor": "none", "pad": 0.5, "alpha": 0.8}
                          if inside and is_published else None))
        ax.set_title(f"{number}. {title}", fontsize=10, loc="left")
        _bar_axis(ax, labelsize=8.5)
    axes[0, 0].set_yticks(y, [_wrap(n) for n in names], fontsize=9)
    axes[0, 0].set_ylim(-0.6, len(names) - 0.4)
    if theirs:
        for ax in axes.ravel():
            ax.axhline(len(theirs) - 0.5, color=TEXT_GREY, linewidth=0.8, linestyle=(0, (4, 3)))
    handles = []
    if theirs:
        handles.append(Patch(facecolor="white", edgecolor=PUBLISHED_COLOR, hatch="//",
                             label="published anchor (the authors' fitness and budget)"))
    if any_estimate:
        handles.append(Patch(facecolor="white", edgecolor=TEXT_GREY, hatch="...",
                             label="≈ estimated number of local optima N̂ (no exact count)"))
    if handles:
        fig.legend(handles=handles, loc="outside lower center", ncols=len(handles), fontsize=9,
                   frameon=False)
    fig.suptitle("Fitness landscape footprint: 8 metrics per landscape", fontsize=13, fontweight="bold")
    return _png(fig)


# --------------------------------------------------------------------------------------------------
# 2. fitness distribution
# --------------------------------------------------------------------------------------------------


def fitness_distribution_figure(
    fitness: Mapping[str, np.ndarray] | None,
    *,
    fitness_label: str = "fitness",
    colors: Mapping[str, str] | None = None,
    bins: int = 60,
) -> bytes | None:
    """Fitness histograms (density) per landscape on a shared x axis, the mean marked.

    Densities rather than counts, so a 1,000-architecture sample and the 423,624-architecture
    full space read on the same scale.

    Returns:
        PNG bytes, or None when no landscape has a finite fitness value.
    """
    data = {str(n): _finite(v) for n, v in (fitness or {}).items()}
    data = {n: v for n, v in data.items() if v.size}
    if not data:
        return None
    palette = _colors_for(list(data), colors)
    low = min(float(v.min()) for v in data.values())
    high = max(float(v.max()) for v in data.values())
    if high <= low:
        low, high = low - 0.5, high + 0.5
    edges = np.linspace(low, high, bins + 1)
    fig = _new_figure(9.0, 0.9 + 1.45 * len(data))
    axes = np.atleast_1d(fig.subplots(len(data), 1, sharex=True))
    for ax, (name, values) in zip(axes, data.items(), strict=True):
        ax.hist(values, bins=edges, density=True, color=palette[name], alpha=0.85)
        mean, std = float(values.mean()), float(values.std())
        ax.axvline(mean, color="black", linestyle="--", linewidth=1.2)
        ax.plot([mean], [1.0], marker="v", color="black", markersize=7,
                transform=blended_transform_factory(ax.transData, ax.transAxes), clip_on=False)
        ax.text(0.01, 0.92, f"mean {mean:.3f}   std {std:.3f}   n = {values.size:,}", transform=ax.transAxes,
                va="top", ha="left", fontsize=9,
                bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.8, "pad": 1.5})
        ax.set_title(name, loc="left", fontsize=10, color=palette[name], fontweight="bold")
        ax.set_ylabel("density", fontsize=9)
        ax.tick_params(labelsize=8.5)
        _open_frame(ax)
    axes[-1].set_xlabel(fitness_label, fontsize=10)
    fig.suptitle("Fitness distribution per landscape (dashed line / ▼ = mean)", fontsize=12,
                 fontweight="bold")
    return _png(fig)


# --------------------------------------------------------------------------------------------------
# 3. persistence
# --------------------------------------------------------------------------------------------------


def persistence_figure(
    curves: Mapping[str, Mapping[str, np.ndarray]] | None,
    *,
    colors: Mapping[str, str] | None = None,
    budgets: Sequence[int] = PERSISTENCE_BUDGETS,
) -> bytes | None:
    """P⁺(N) and P⁻(N) against N % for each landscape, with the independent-rankings baseline.

    A curve may carry its own ``"budgets"`` (epochs, t0 first); they are shown in its legend
    entry, and ``budgets`` is the default for curves without them.

    Returns:
        PNG bytes, or None when there is no curve.
    """
    usable = {
        str(n): c for n, c in (curves or {}).items()
        if np.asarray(c.get("percent", [])).size and (
            _finite(c.get("positive", [])).size or _finite(c.get("negative", [])).size)
    }
    if not usable:
        return None
    palette = _colors_for(list(usable), colors)
    fig = _new_figure(12.0, 5.2)
    axes = fig.subplots(1, 2, sharey=True)
    n_budgets = {len(c.get("budgets", budgets)) for c in usable.values()}
    percent_max = max(float(np.nanmax(np.asarray(c["percent"], dtype=float))) for c in usable.values())
    grid = np.linspace(1.0, percent_max, 100)
    for ax, key, title in (
        (axes[0], "positive", r"positive persistence $P^{+}(N)$: top $N$% stays top"),
        (axes[1], "negative", r"negative persistence $P^{-}(N)$: bottom $N$% stays bottom"),
    ):
        for k in sorted(n_budgets):
            ax.plot(grid, (grid / 100.0) ** (k - 1), color=TEXT_GREY, linestyle=":", linewidth=1.5,
                    label=f"independent rankings (chance, {k} budgets)")
        for name, curve in usable.items():
            values = np.asarray(curve[key], dtype=float)
            if not np.isfinite(values).any():
                continue
            ax.plot(np.asarray(curve["percent"], dtype=float), values, color=palette[name], marker="o",
                    markersize=3.5, linewidth=1.6,
                    label=f"{name}, epochs {'/'.join(str(b) for b in curve.get('budgets', budgets))}")
        ax.set_title(title, fontsize=11, loc="left")
        ax.set_xlabel("N (% of architectures, ranked at the first budget t0)", fontsize=10)
        ax.set_xlim(0.5, percent_max + 0.5)
        ax.set_ylim(0.0, 1.0)
        ax.grid(color="#e3e3e3", linewidth=0.7)
        ax.tick_params(labelsize=9)
        _open_frame(ax)
    axes[0].set_ylabel("share kept in the set at every budget", fontsize=10)
    handles, labels = axes[0].get_legend_handles_labels()
    more_h, more_l = axes[1].get_legend_handles_labels()
    for h, lab in zip(more_h, more_l, strict=True):
        if lab not in labels:
            handles.append(h)
            labels.append(lab)
    fig.legend(handles, labels, loc="outside lower center", ncols=min(3, len(labels)), fontsize=9,
               frameon=False)
    fig.suptitle("Persistence of rankings across training budgets", fontsize=12, fontweight="bold")
    return _png(fig)


# --------------------------------------------------------------------------------------------------
# 4. autocorrelation
# --------------------------------------------------------------------------------------------------


def autocorrelation_figure(
    correlograms: Mapping[str, np.ndarray] | None,
    walk_autocorrelations: Mapping[str, np.ndarray] | None = None,
    *,
    colors: Mapping[str, str] | None = None,
) -> bytes | None:
    """Mean correlogram ρ(k) per landscape and, if given, the spread of per-walk ρ(1).

    Returns:
        PNG bytes, or None when there is neither a correlogram nor a per-walk value.
    """
    grams = {str(n): np.asarray(v, dtype=float).ravel() for n, v in (correlograms or {}).items()}
    grams = {n: v for n, v in grams.items() if np.isfinite(v).any()}
    walks = {str(n): _finite(v) for n, v in (walk_autocorrelations or {}).items()}
    walks = {n: v for n, v in walks.items() if v.size}
    if not grams and not walks:
        return None
    palette = _colors_for(list(dict.fromkeys([*grams, *walks])), colors)
    panels = int(bool(grams)) + int(bool(walks))
    fig = _new_figure(6.5 * panels if panels == 1 else 13.0, 5.2)
    axes = list(np.atleast_1d(fig.subplots(1, panels, width_ratios=[1.25, 1] if panels == 2 else None)))
    if grams:
        ax = axes.pop(0)
        low = 0.0
        for name, values in grams.items():
            lags = np.arange(1, values.size + 1)
            ax.plot(lags, values, color=palette[name], marker="o", markersize=3.5, linewidth=1.6, label=name)
            low = min(low, float(np.nanmin(values)))
        ax.axhline(0.0, color="black", linewidth=0.8)
        ax.set_ylim(min(-0.1, low - 0.05), 1.0)
        ax.set_xlabel("lag k (steps along a random walk of Hamming-1 moves)", fontsize=10)
        ax.set_ylabel("mean autocorrelation ρ(k)", fontsize=10)
        ax.set_title("Correlogram: how fast fitness decorrelates", fontsize=11, loc="left")
        ax.grid(color="#e3e3e3", linewidth=0.7)
        ax.legend(fontsize=9, frameon=False, loc="upper right")
        ax.tick_params(labelsize=9)
        _open_frame(ax)
    if walks:
        ax = axes.pop(0)
        names = list(walks)
        y = np.arange(len(names))[::-1].astype(float)
        rng = np.random.default_rng(0)  # jitter only; seeded so the PNG is reproducible
        for yi, name in zip(y, names, strict=True):
            values = walks[name]
            ax.boxplot([values], positions=[yi], orientation="horizontal", widths=0.55, showfliers=False,
                       medianprops={"color": "black"}, boxprops={"color": TEXT_GREY},
                       whiskerprops={"color": TEXT_GREY}, capprops={"color": TEXT_GREY})
            ax.scatter(values, yi + rng.uniform(-0.18, 0.18, values.size), s=12, color=palette[name],
                       alpha=0.75, zorder=3, linewidths=0)
            ax.plot([values.mean()], [yi], marker="D", color="black", markersize=5, zorder=4)
        ax.set_yticks(y, [f"{_wrap(n)}\n({walks[n].size} walks)" for n in names], fontsize=9)
        ax.set_xlabel("lag-1 autocorrelation ρ(1) of one walk", fontsize=10)
        ax.set_title("Per-walk ρ(1) (◆ = mean, box = quartiles)", fontsize=11, loc="left")
        ax.axvline(0.0, color="black", linewidth=0.8)
        ax.grid(axis="x", color="#e3e3e3", linewidth=0.7)
        ax.tick_params(labelsize=9)
        _open_frame(ax)
    fig.suptitle("Ruggedness: autocorrelation of fitness along random walks", fontsize=12,
                 fontweight="bold")
    return _png(fig)


# --------------------------------------------------------------------------------------------------
# 5. per class
# --------------------------------------------------------------------------------------------------


def _class_label(name: str) -> str:
    if name in CLASS_NAMES:
        return f"LCZ {CLASS_CODES[CLASS_NAMES.index(name)]} · {name}"
    return name


def per_class_figure(
    per_class: pd.DataFrame | None,
    titles: Mapping[str, str] | None = None,
) -> bytes | None:
    """Per-class validation accuracy of the best and the median architecture, grouped bars.

    Args:
        per_class: Index = class names (the 17 LCZ names label as "LCZ 1 · compact high-rise"),
            numeric columns (normally ``"best"`` and ``"median"``).
        titles: Column → architecture name for the legend, e.g. ``{"best": "3f2a9c1e (0.712)"}``.

    Returns:
        PNG bytes, or None when the table is missing or empty.
    """
    if per_class is None or per_class.empty:
        return None
    columns = [c for c in ("best", "median") if c in per_class.columns] or [
        c for c in per_class.columns if pd.api.types.is_numeric_dtype(per_class[c])
    ]
    if not columns:
        return None
    titles = titles or {}
    shades = ("#1f4e79", "#8fbfe0", "#E69F00", "#009E73")
    n = len(per_class.index)
    y = np.arange(n)[::-1].astype(float)
    height = 0.8 / len(columns)
    fig = _new_figure(9.5, 1.6 + 0.42 * n)
    ax = fig.subplots()
    label_transform = blended_transform_factory(ax.transAxes, ax.transData)
    for j, column in enumerate(columns):
        offset = (len(columns) - 1) / 2 * height - j * height
        values = per_class[column].map(_float).to_numpy()
        name = f"{column} architecture"
        if column in titles:
            name += f": {titles[column]}"
        ax.barh(y + offset, np.nan_to_num(values), height=height * 0.95, color=shades[j % len(shades)],
                label=name)
        for yi, value in zip(y + offset, values, strict=True):
            if not np.isfinite(value):
                ax.text(0.01, yi, "n/a", transform=label_transform, va="center", fontsize=8,
                        color=TEXT_GREY, style="italic")
    ax.set_yticks(y, [_class_label(str(c)) for c in per_class.index], fontsize=9)
    ax.set_xlim(0.0, 1.0)
    ax.set_ylim(-0.6, n - 0.4)
    ax.set_xticks(np.linspace(0, 1, 11))
    ax.set_xlabel("per-class validation accuracy (recall = correct / samples of the class)", fontsize=10)
    _bar_axis(ax, labelsize=9)
    fig.legend(loc="outside lower center", ncols=1, fontsize=9, frameon=False)
    fig.suptitle("Per-class accuracy: best vs median trained architecture", fontsize=12, fontweight="bold")
    return _png(fig)


# --------------------------------------------------------------------------------------------------
# 6. surrogate scatter
# --------------------------------------------------------------------------------------------------


def _quality_lines(scatter: Mapping[str, object], n: int) -> list[str]:
    lines = []
    for key, value in scatter.items():
        if key in {"measured", "predicted", "std", "label"} or isinstance(value, (str, bytes)):
            continue
        if np.ndim(value) != 0:  # type: ignore[arg-type]
            continue
        number = _float(value)
        if not np.isfinite(number):
            continue
        name = _QUALITY_NAMES.get(key, key.replace("_", " "))
        text = f"{number:,.0f}" if float(number).is_integer() and abs(number) >= 2 else f"{number:.3f}"
        lines.append(f"{name} = {text}")
    if not any(line.startswith("n = ") for line in lines):
        lines.append(f"n = {n:,}")
    return lines


def surrogate_scatter_figure(scatter: Mapping[str, object] | None) -> bytes | None:
    """Cross-validated surrogate prediction against measurement, y = x, quality annotated.

    Args:
        scatter: ``"measured"``, ``"predicted"`` arrays, optional ``"std"`` (error bars), a
            ``"label"`` (what was predicted) and scalar quality numbers (``kendall_tau``, ``r2``, ...).

    Returns:
        PNG bytes, or None when there are no finite (measured, predicted) pairs.
    """
    if not scatter or "measured" not in scatter or "predicted" not in scatter:
        return None
    measured = np.asarray(scatter["measured"], dtype=float).ravel()
    predicted = np.asarray(scatter["predicted"], dtype=float).ravel()
    if measured.shape != predicted.shape:
        raise ValueError(
            f"surrogate_scatter: 'measured' has {measured.size} values, 'predicted' {predicted.size}; "
            "they must pair up"
        )
    keep = np.isfinite(measured) & np.isfinite(predicted)
    if not keep.any():
        return None
    measured, predicted = measured[keep], predicted[keep]
    std = scatter.get("std")
    label = str(scatter.get("label", "fitness"))
    fig = _new_figure(7.0, 6.8)
    ax = fig.subplots()
    if std is not None:
        err = np.asarray(std, dtype=float).ravel()[keep]
        ax.errorbar(measured, predicted, yerr=err, fmt="none", ecolor="#9ab7d3", elinewidth=0.6, alpha=0.6,
                    zorder=1, label="± predicted std")
    ax.scatter(measured, predicted, s=10, color="#0072B2", alpha=0.55, linewidths=0, zorder=2,
               label="architecture (held-out fold)")
    low = float(min(measured.min(), predicted.min()))
    high = float(max(measured.max(), predicted.max()))
    pad = 0.04 * (high - low or 1.0)
    low, high = low - pad, high + pad
    ax.plot([low, high], [low, high], color="black", linestyle="--", linewidth=1.1, label="y = x", zorder=3)
    ax.set_xlim(low, high)
    ax.set_ylim(low, high)
    ax.set_aspect("equal")
    ax.set_xlabel(f"measured {label}", fontsize=10)
    ax.set_ylabel(f"predicted {label} (cross-validated)", fontsize=10)
    ax.text(0.97, 0.03, "\n".join(_quality_lines(scatter, int(measured.size))), transform=ax.transAxes,
            ha="right", va="bottom", fontsize=10, multialignment="left",
            bbox={"facecolor": "white", "edgecolor": "#bbbbbb", "alpha": 0.9, "boxstyle": "round,pad=0.4"})
    ax.legend(loc="upper left", fontsize=9, frameon=True, framealpha=0.9)
    ax.grid(color="#e8e8e8", linewidth=0.7)
    ax.tick_params(labelsize=9)
    ax.set_title("Surrogate: predicted vs measured", fontsize=12, fontweight="bold")
    return _png(fig)
