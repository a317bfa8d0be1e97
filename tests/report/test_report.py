"""Footprint report: figures are valid PNGs, the HTML is self-contained, writes are atomic."""

from __future__ import annotations

import base64
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.image import imread

from nas_assets.core.so2sat import CLASS_NAMES
from nas_assets.report import (
    FIGURES,
    METRICS,
    ReportData,
    footprint_markdown,
    published_footprints,
    write_report,
)
from nas_assets.report import figures as fig

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
SAMPLE = "So2Sat (trained sample)"
SO2SAT_FULL = "So2Sat (surrogate, full space)"
CIFAR_REF = "CIFAR-10 (NB101 reference)"
CIFAR_FULL = "CIFAR-10 (surrogate, full space)"
LANDSCAPES = (SAMPLE, SO2SAT_FULL, CIFAR_REF, CIFAR_FULL)


def _fitness(rng: np.random.Generator, n: int, centre: float, spread: float) -> np.ndarray:
    """NB101-like fitness: a bulk near ``centre`` and a left tail of architectures that barely learn."""
    bulk = np.clip(rng.normal(centre, spread, n), 0.0, 1.0)
    tail = rng.random(n) < 0.06
    bulk[tail] = rng.uniform(0.1, centre - 2 * spread, tail.sum())
    return bulk


def _persistence(rng: np.random.Generator, strength: float) -> dict[str, np.ndarray]:
    percent = np.arange(1, 26)
    positive = np.clip(strength * (percent / 25) ** 0.45 + rng.normal(0, 0.015, 25), 0, 1)
    negative = np.clip(0.8 * strength * (percent / 25) ** 0.6 + rng.normal(0, 0.015, 25), 0, 1)
    return {"percent": percent, "positive": positive, "negative": negative}


def synthetic_report(seed: int = 0, n_sample: int = 2_000, n_full: int = 2_000) -> ReportData:
    """A seeded report over four landscapes; the CIFAR-10 reference lacks most items (NaN metrics)."""
    rng = np.random.default_rng(seed)
    fitness = {
        SAMPLE: _fitness(rng, n_sample, 0.56, 0.035),
        SO2SAT_FULL: _fitness(rng, n_full, 0.55, 0.03),
        CIFAR_FULL: _fitness(rng, n_full, 0.90, 0.03),
    }
    sample, so2sat_full, cifar_full = fitness[SAMPLE], fitness[SO2SAT_FULL], fitness[CIFAR_FULL]
    footprints = pd.DataFrame(
        {
            "mean_fitness": [sample.mean(), so2sat_full.mean(), 0.835, cifar_full.mean()],
            "fitness_std": [sample.std(), so2sat_full.std(), 0.091, cifar_full.std()],
            "fitness_variance": [sample.var(), so2sat_full.var(), 0.091**2, cifar_full.var()],
            "autocorrelation": [0.58, 0.66, math.nan, 0.61],
            "ruggedness_tau": [1 / 0.58, 1 / 0.66, math.nan, 1 / 0.61],
            "local_optima": [math.nan, 8_412.0, math.nan, 5_977.0],
            "local_optima_estimate": [10_250.0, math.nan, math.nan, math.nan],
            "positive_persistence": [0.36, math.nan, math.nan, math.nan],
            "positive_auc": [0.44, math.nan, math.nan, math.nan],
            "negative_persistence": [0.31, math.nan, math.nan, math.nan],
            "negative_auc": [0.24, math.nan, math.nan, math.nan],
            "n_architectures": [n_sample, 423_624, 1_000, 423_624],
        },
        index=list(LANDSCAPES),
    )
    lags = np.arange(1, 11)
    correlograms = {SAMPLE: 0.58**lags, SO2SAT_FULL: 0.66**lags, CIFAR_FULL: 0.61**lags}
    walks = {name: np.clip(rng.normal(gram[0], 0.08, 30), -1, 1) for name, gram in correlograms.items()}
    best = np.clip(rng.uniform(0.35, 0.95, len(CLASS_NAMES)), 0, 1)
    median = np.clip(best - rng.uniform(0.02, 0.2, best.size), 0, 1)
    per_class = pd.DataFrame({"best": best, "median": median}, index=list(CLASS_NAMES))
    per_class.iloc[14, 1] = math.nan  # a class the median architecture never saw
    measured = fitness[SAMPLE][:400]
    predicted = measured + rng.normal(0, 0.012, measured.size)
    return ReportData(
        footprints=footprints,
        fitness_label="validation macro accuracy @ 108 epochs",
        fitness=fitness,
        persistence_curves={SAMPLE: _persistence(rng, 0.36), CIFAR_FULL: _persistence(rng, 0.5)},
        correlograms=correlograms,
        walk_autocorrelations=walks,
        per_class=per_class,
        per_class_titles={"best": "3f2a9c1e (0.712)", "median": "b71d04aa (0.561)"},
        surrogate_scatter={"measured": measured, "predicted": predicted,
                           "std": np.full(measured.size, 0.01), "label": "validation macro accuracy",
                           "kendall_tau": 0.71, "r2": 0.83, "n_folds": 5},
        table1=pd.DataFrame({"mean macro accuracy": [0.56, 0.55, np.nan, 0.90],
                             "mean overall accuracy": [0.62, 0.61, 0.835, 0.90]}, index=list(LANDSCAPES)),
        published=published_footprints(),
        title="Fitness landscape footprint — synthetic",
        generated_at="2025-01-01 00:00 UTC",
        notes=["database: /tmp/x.duckdb", "design: 2,000 sampled architectures, seed 0"],
    )


@pytest.fixture(scope="module")
def written(tmp_path_factory) -> tuple[ReportData, Path, dict[str, Path]]:
    report = synthetic_report()
    out = tmp_path_factory.mktemp("report")
    return report, out, write_report(report, out)


def test_html_is_self_contained_and_names_everything(written):
    report, out, paths = written
    assert paths["html"] == out / "footprint_report.html"
    text = paths["html"].read_text(encoding="utf-8")
    for name in [*LANDSCAPES, *published_footprints().index]:
        assert name in text, name
    figure_names = {spec.name for spec in FIGURES}
    assert set(paths) == figure_names | {"html"}
    for name in figure_names:
        encoded = base64.b64encode(paths[name].read_bytes()).decode("ascii")
        assert f'src="data:image/png;base64,{encoded}"' in text, name
    assert 'src="http' not in text and "<script" not in text and "<link" not in text
    assert "database: /tmp/x.duckdb" in text and "How to read this" in text
    assert "mean macro accuracy" in text  # Table 1


def test_every_png_is_valid_and_large_enough(written):
    _, out, paths = written
    pngs = sorted((out / "figures").glob("*.png"))
    assert len(pngs) == len(FIGURES)
    for path in pngs:
        assert path.read_bytes()[:8] == PNG_SIGNATURE, path
        height, width = imread(path).shape[:2]
        assert height > 300 and width > 300, (path, width, height)


def test_no_temporary_files_left(written):
    _, out, _ = written
    leftovers = [p for p in out.rglob("*") if p.name.startswith(".") or p.suffix == ".tmp"]
    assert leftovers == []


def test_markdown_lists_landscapes_and_metrics():
    report = synthetic_report()
    md = footprint_markdown(report)
    for name in [*LANDSCAPES, *published_footprints().index]:
        assert name in md, name
    for key in report.footprints.columns:
        assert f"| {METRICS[key].label} |" in md, key
    header = md.splitlines()[0]
    assert header.count("|") == 2 + len(LANDSCAPES) + len(published_footprints())
    assert "| n/a |" in md or " n/a " in md


def test_figures_return_none_without_data():
    assert fig.footprint_figure(None) is None
    assert fig.footprint_figure(pd.DataFrame()) is None
    assert fig.fitness_distribution_figure({}) is None
    assert fig.fitness_distribution_figure({"x": np.array([np.nan])}) is None
    assert fig.persistence_figure(None) is None
    assert fig.autocorrelation_figure({}, None) is None
    assert fig.per_class_figure(None) is None
    assert fig.surrogate_scatter_figure(None) is None
    assert fig.surrogate_scatter_figure({"measured": [np.nan], "predicted": [0.5]}) is None


def test_missing_items_skip_figures_and_remove_stale_pngs(tmp_path):
    (tmp_path / "figures").mkdir()
    (tmp_path / "figures" / "per_class.png").write_bytes(PNG_SIGNATURE)  # left by an earlier report
    sparse = ReportData(footprints=synthetic_report().footprints.loc[[CIFAR_REF]])
    paths = write_report(sparse, tmp_path, basename="sparse")
    assert set(paths) == {"footprint", "html"}
    assert sorted(p.name for p in (tmp_path / "figures").iterdir()) == ["footprint.png"]
    assert "n/a" in paths["html"].read_text(encoding="utf-8")


def test_published_anchors_match_spec():
    """The anchors are the published footprints, corrected, each side on its own fitness."""
    pub = published_footprints()
    cifar, so2sat = pub.loc["CIFAR-10 (published, NB101)"], pub.loc["So2Sat S2 (published)"]
    assert cifar[["local_optima_estimate", "autocorrelation", "ruggedness_tau"]].tolist() == [
        6373, 0.517, 1.93]
    assert (cifar["mean_fitness"], cifar["fitness_std"]) == (0.835, 0.091)
    persistence = ["positive_persistence", "positive_auc", "negative_persistence", "negative_auc"]
    assert cifar[persistence].tolist() == [0.32, 0.099, 0.064, 0.043]
    assert cifar["knn_local_optima"] == 4
    assert so2sat[["mean_fitness", "fitness_std", "autocorrelation", "ruggedness_tau"]].tolist() == [
        0.822, 0.099, 0.572, 1.75]
    assert so2sat[persistence].tolist() == [0.32, 0.483, 0.28, 0.264]
    assert (so2sat["knn_local_optima"], so2sat["knn_optima_ratio"]) == (7, 1.75)
    assert so2sat["local_optima_extrapolated"] == 11_153
    assert math.isnan(so2sat["local_optima_estimate"])
    assert "test kappa @ 36" in so2sat["fitness"] and "test accuracy @ 36" in cifar["fitness"]


def test_unknown_footprint_column_is_rejected():
    with pytest.raises(ValueError, match="mean_fitnes"):
        ReportData(footprints=pd.DataFrame({"mean_fitnes": [0.5]}, index=["x"]))


def test_intervals_verdicts_and_run_descriptions_reach_tables_and_figure(tmp_path):
    from dataclasses import replace

    from nas_assets.report import verdict_markdown

    base = synthetic_report(n_sample=300, n_full=300)
    intervals = pd.DataFrame([{"landscape": SAMPLE, "metric": "mean_fitness", "low": 0.5, "high": 0.6,
                               "method": "bootstrap over cells (1000)"}])
    verdicts = pd.DataFrame([{"metric": "mean_fitness", "a": 0.56, "b": 0.83, "difference": -0.27,
                              "ci_low": -0.3, "ci_high": -0.2, "verdict": "differs",
                              "method": "paired bootstrap over cells (1000)"}])
    verdicts.attrs.update(a=SAMPLE, b=CIFAR_FULL)
    report = replace(base, intervals=intervals, verdicts=verdicts,
                     metric_descriptions={"autocorrelation": "along the design's 7 walks and 12 fresh ones"})
    assert f"{base.footprints.loc[SAMPLE, 'mean_fitness']:.3f} [0.500, 0.600]" in footprint_markdown(report)
    assert ("| mean fitness | 0.560 | 0.830 | -0.270 | [-0.300, -0.200] | differs |"
            in verdict_markdown(report))
    assert verdict_markdown(base) == ""
    html = write_report(report, tmp_path)["html"].read_text()
    assert html.index("Verdicts") < html.index("Footprint table")
    assert "along the design&#x27;s 7 walks and 12 fresh ones" in html
    plain = fig.footprint_figure(base.footprints, colors=None)
    with_bars = fig.footprint_figure(base.footprints, colors=None,
                                     intervals={(SAMPLE, "mean_fitness"): (0.5, 0.6)})
    assert plain != with_bars  # the error bar is drawn
