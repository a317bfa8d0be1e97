"""Write the footprint report: PNG figures plus one self-contained HTML file, and Markdown.

The HTML embeds every figure as a base64 data URI and carries its CSS inline: no script, no
external resource, so the file can be mailed, archived or opened offline. Every file is written
to a temporary sibling and moved into place with ``os.replace``, and the HTML goes last, so a
crash leaves the previous report (or nothing), never a half-written one.
"""

from __future__ import annotations

import base64
import html
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from nas_assets.core.files import atomic_write
from nas_assets.report import figures
from nas_assets.report.data import METRICS, ReportData, format_metric, format_with_interval


@dataclass(frozen=True)
class FigureSpec:
    """One figure of the report: file name, heading, reading hint and how to draw it."""

    name: str
    title: str
    how_to_read: str
    render: Callable[[ReportData, Mapping[str, str]], bytes | None]


#: The report's figures in page order.
FIGURES: tuple[FigureSpec, ...] = (
    FigureSpec(
        "footprint",
        "Footprint: the 8 metrics side by side",
        "One panel per metric, one bar per landscape, with its 95 % interval as an error bar. Fractions "
        "share a 0–1 axis, local optima a log axis (≈ hatched = estimate N̂). Grey hatched bars are the "
        "published anchors, measured with the authors' fitness — compare shapes, not decimals.",
        lambda r, c: figures.footprint_figure(r.footprints, r.published, colors=c,
                                              intervals=_interval_map(r)),
    ),
    FigureSpec(
        "fitness_distribution",
        "Fitness distributions",
        "Density of the fitness over each landscape's architectures on a common x axis; the dashed "
        "line is the mean. A long left tail means many architectures that barely learn.",
        lambda r, c: figures.fitness_distribution_figure(r.fitness, fitness_label=r.fitness_label, colors=c),
    ),
    FigureSpec(
        "persistence",
        "Persistence across training budgets",
        "Share of the top (left) or bottom (right) N% at the first budget that stays there at every budget. "
        "High curves mean short training already ranks architectures; the dotted line is chance.",
        lambda r, c: figures.persistence_figure(r.persistence_curves, colors=c),
    ),
    FigureSpec(
        "autocorrelation",
        "Ruggedness: autocorrelation along random walks",
        "ρ(k) is the correlation of fitness k neighbour-steps apart. Slow decay = smooth landscape "
        "(neighbours are alike); fast decay = rugged. Right: how much ρ(1) varies between walks.",
        lambda r, c: figures.autocorrelation_figure(r.correlograms, r.walk_autocorrelations, colors=c),
    ),
    FigureSpec(
        "per_class",
        "Per-class accuracy of the best and the median architecture",
        "Validation recall per Local Climate Zone. Where the gap between the bars is large, "
        "architecture search pays off for that class.",
        lambda r, c: figures.per_class_figure(r.per_class, r.per_class_titles),
    ),
    FigureSpec(
        "surrogate_scatter",
        "Surrogate quality",
        "Each point is a trained architecture predicted by a surrogate that never saw it "
        "(cross-validation). Points on the dashed line are perfect predictions.",
        lambda r, c: figures.surrogate_scatter_figure(r.surrogate_scatter),
    ),
)

_CSS = """
body{font-family:-apple-system,"Segoe UI",Helvetica,Arial,sans-serif;color:#222;max-width:1180px;
margin:2em auto;padding:0 1.2em;line-height:1.45}
h1{margin-bottom:.2em}h2{margin-top:1.8em;border-bottom:1px solid #ddd;padding-bottom:.2em}
.meta{color:#666;margin-top:0}
table{border-collapse:collapse;margin:.8em 0;font-size:.92em}
th,td{border:1px solid #ddd;padding:.32em .6em;vertical-align:top}
th{background:#f4f4f4;text-align:left}td.num{text-align:right;font-variant-numeric:tabular-nums}
th.published,td.published{background:#f7f7f7;color:#555;font-style:italic}
td.na{color:#999;text-align:center}
.desc{display:block;color:#777;font-size:.85em;font-weight:normal;max-width:30em}
.swatch{display:inline-block;width:.9em;height:.9em;border-radius:2px;margin:0 .35em -.1em 0}
.legend span.item{margin-right:1.4em;white-space:nowrap}
figure{margin:1.2em 0}figure img{max-width:100%;height:auto;border:1px solid #eee}
figcaption{color:#555;font-size:.92em;margin-top:.3em}
ul.notes{color:#444;font-size:.92em}
.ci{display:block;color:#777;font-size:.85em}td.differs{font-weight:bold;color:#b3261e}td.noise{color:#666}
"""


def _footprint_columns(report: ReportData) -> tuple[pd.DataFrame, list[str], list[str]]:
    """Footprints and published anchors in one metric table; returns it with ours/theirs names."""
    ours = [str(n) for n in report.footprints.index]
    frames = [report.footprints.reindex(columns=list(METRICS))]
    theirs: list[str] = []
    if report.published is not None and not report.published.empty:
        theirs = [str(n) for n in report.published.index]
        frames.append(report.published.reindex(columns=list(METRICS)))
    table = pd.concat(frames)
    table.index = ours + theirs
    return table, ours, theirs


def _metric_rows(report: ReportData) -> list[str]:
    """Metrics to list: the footprints' columns, plus any the published anchors give a value for."""
    present = set(report.footprints.columns)
    if report.published is not None:
        present |= {c for c in report.published.columns if report.published[c].notna().any()}
    return [key for key in METRICS if key in present]


def _published_fitness(report: ReportData, name: str) -> str:
    if report.published is not None and "fitness" in report.published.columns:
        value = report.published.loc[name, "fitness"]
        if isinstance(value, str):
            return value
    return "n/a"


def footprint_markdown(report: ReportData) -> str:
    """The footprints as a Markdown table (landscapes as columns) for Dagster UI metadata.

    Published anchors, if any, are extra columns marked "(published)" only by their names; the
    first row says which fitness each column was measured on.
    """
    table, ours, theirs = _footprint_columns(report)
    names = ours + theirs

    def cell(text: str) -> str:
        return text.replace("|", "\\|").replace("\n", " ")

    lines = [
        "| metric | " + " | ".join(cell(n) for n in names) + " |",
        "|---|" + "---:|" * len(names),
        "| fitness | "
        + " | ".join([cell(report.label_of(n)) for n in ours] + [cell(_published_fitness(report, n))
                                                                 for n in theirs])
        + " |",
    ]
    for key in _metric_rows(report):
        values = [format_with_interval(key, table.loc[n, key], report.interval_of(n, key)) for n in ours]
        values += [format_metric(key, table.loc[n, key]) for n in theirs]
        lines.append(f"| {cell(METRICS[key].label)} | " + " | ".join(values) + " |")
    return "\n".join(lines) + "\n"


def _interval_map(report: ReportData) -> dict[tuple[str, str], tuple[float, float]]:
    if report.intervals is None or report.intervals.empty:
        return {}
    return {(r.landscape, r.metric): (float(r.low), float(r.high))
            for r in report.intervals.itertuples(index=False)
            if np.isfinite(r.low) and np.isfinite(r.high)}


def _verdict_rows(report: ReportData) -> list[tuple[str, str, str, str, str, str]]:
    """(metric label, a, b, difference, interval, verdict) per metric of the paired comparison."""
    rows: list[tuple[str, str, str, str, str, str]] = []
    if report.verdicts is None:
        return rows
    for r in report.verdicts.itertuples(index=False):
        if r.metric not in METRICS:
            continue
        interval = (f"[{format_metric(r.metric, r.ci_low)}, {format_metric(r.metric, r.ci_high)}]"
                    if np.isfinite(r.ci_low) else "n/a")
        rows.append((METRICS[r.metric].label, format_metric(r.metric, r.a), format_metric(r.metric, r.b),
                     format_metric(r.metric, r.difference), interval, str(r.verdict)))
    return rows


def verdict_markdown(report: ReportData) -> str:
    """The paired verdicts as a Markdown table ('' without a paired comparison)."""
    if report.verdicts is None or report.verdicts.empty:
        return ""
    a, b = report.verdicts.attrs.get("a", "a"), report.verdicts.attrs.get("b", "b")
    lines = [f"| metric | {a} | {b} | difference | 95 % interval | verdict |",
             "|---|---:|---:|---:|---:|---|"]
    lines += ["| " + " | ".join(row) + " |" for row in _verdict_rows(report)]
    return "\n".join(lines) + "\n"


def _verdict_table_html(report: ReportData) -> str:
    if report.verdicts is None:
        return ""
    a, b = report.verdicts.attrs.get("a", "a"), report.verdicts.attrs.get("b", "b")
    head = "".join(f"<th>{html.escape(h)}</th>"
                   for h in ("metric", a, b, "difference", "95 % interval", "verdict"))
    body = []
    for label, va, vb, diff, interval, verdict in _verdict_rows(report):
        cls = "differs" if verdict == "differs" else "noise"
        body.append(f"<tr><th>{html.escape(label)}</th>" + "".join(f'<td class="num">{html.escape(v)}</td>'
                                                                     for v in (va, vb, diff, interval))
                    + f'<td class="{cls}">{html.escape(verdict)}</td></tr>')
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _number_cell(key: str | None, value: object, extra_class: str = "") -> str:
    text = format_metric(key, value) if key else _format_generic(value)
    classes = ["na" if text == "n/a" else "num", extra_class]
    return f'<td class="{" ".join(c for c in classes if c)}">{html.escape(text)}</td>'


def _interval_cell(key: str, value: object, interval: tuple[float, float] | None) -> str:
    text = format_metric(key, value)
    if text == "n/a":
        return '<td class="na">n/a</td>'
    ci = "" if interval is None else (f'<span class="ci">[{html.escape(format_metric(key, interval[0]))}, '
                                      f'{html.escape(format_metric(key, interval[1]))}]</span>')
    return f'<td class="num">{html.escape(text)}{ci}</td>'


def _format_generic(value: object) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, (bool, np.bool_)):
        return str(value)
    if isinstance(value, (int, np.integer)):
        return f"{int(value):,}"
    if isinstance(value, (float, np.floating)):
        if math.isnan(float(value)):
            return "n/a"
        if float(value).is_integer() and abs(float(value)) >= 1000:
            return f"{float(value):,.0f}"
        return f"{float(value):.3f}"
    return str(value)


def _footprint_table_html(report: ReportData, colors: Mapping[str, str]) -> str:
    table, ours, theirs = _footprint_columns(report)
    head = ["<th>metric</th>"]
    for name in ours:
        swatch = f'<span class="swatch" style="background:{colors.get(name, "#888")}"></span>'
        head.append(f"<th>{swatch}{html.escape(name)}</th>")
    head += [f'<th class="published">{html.escape(n)}</th>' for n in theirs]
    rows = [
        "<tr><th>fitness</th>"
        + "".join(f"<td>{html.escape(report.label_of(n))}</td>" for n in ours)
        + "".join(f'<td class="published">{html.escape(_published_fitness(report, n))}</td>' for n in theirs)
        + "</tr>"
    ]
    for key in _metric_rows(report):
        info = METRICS[key]
        label = (f'<th>{html.escape(info.label)}<span class="desc">{html.escape(report.description_of(key))}'
                 "</span></th>")
        cells = [_interval_cell(key, table.loc[n, key], report.interval_of(n, key)) for n in ours]
        cells += [_number_cell(key, table.loc[n, key], "published") for n in theirs]
        rows.append(f"<tr>{label}{''.join(cells)}</tr>")
    return f"<table><thead><tr>{''.join(head)}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _frame_html(frame: pd.DataFrame) -> str:
    head = "<th></th>" + "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns)
    rows = []
    for index, row in frame.iterrows():
        cells = "".join(_number_cell(None, row[c]) for c in frame.columns)
        rows.append(f"<tr><th>{html.escape(str(index))}</th>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _render_html(report: ReportData, pngs: dict[str, bytes], colors: Mapping[str, str]) -> str:
    esc = html.escape
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{esc(report.title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{esc(report.title)}</h1>",
        f'<p class="meta">Generated {esc(report.generated_at)} · fitness = {esc(report.fitness_label)}</p>',
        '<p class="legend">'
        + "".join(
            f'<span class="item"><span class="swatch" style="background:{colors[n]}"></span>{esc(n)}</span>'
            for n in report.landscapes
        )
        + "</p>",
    ]
    if report.verdicts is not None and not report.verdicts.empty:
        parts += [
            "<h2>Verdicts: what differs between the two landscapes on the same cells</h2>",
            f"<p>Paired bootstrap of {esc(report.verdicts.attrs.get('a', 'a'))} minus "
            f"{esc(report.verdicts.attrs.get('b', 'b'))}: the same resampled cells (walks) on both sides. "
            "<i>differs</i> = the 95 % interval of the difference excludes 0; <i>within noise</i> = "
            "it does not.</p>",
            _verdict_table_html(report),
        ]
    parts += [
        "<h2>Footprint table</h2>",
        "<p>The eight footprint metrics per landscape with their 95 % interval in brackets (how each was "
        "resampled: see the provenance notes); <i>n/a</i> = not computable for that landscape. "
        "Grey italic columns are the published anchors, measured on their own fitness.</p>",
        _footprint_table_html(report, colors),
    ]
    if report.table1 is not None and not report.table1.empty:
        parts += ["<h2>Table 1: mean accuracy per landscape</h2>", _frame_html(report.table1)]
    for spec in FIGURES:
        if spec.name not in pngs:
            continue
        data = base64.b64encode(pngs[spec.name]).decode("ascii")
        parts.append(
            f'<figure id="{spec.name}"><h2>{esc(spec.title)}</h2>'
            f'<img src="data:image/png;base64,{data}" alt="{esc(spec.title)}">'
            f"<figcaption><b>How to read this:</b> {esc(spec.how_to_read)}</figcaption></figure>"
        )
    if report.notes:
        parts.append("<h2>Provenance</h2><ul class=\"notes\">")
        parts += [f"<li>{esc(note)}</li>" for note in report.notes]
        parts.append("</ul>")
    parts.append("</body></html>")
    return "\n".join(parts)


def write_report(report: ReportData, out_dir: Path, *, basename: str = "footprint_report") -> dict[str, Path]:
    """Write every figure to ``out_dir/figures/<name>.png`` and the report to ``out_dir/<basename>.html``.

    Figures without data are skipped, and a PNG of that name left from an earlier report is
    removed so the folder matches the HTML. All writes are atomic; the HTML is written last.

    Args:
        report: What to show.
        out_dir: Folder to write into (created if missing).
        basename: File name of the HTML, without extension.

    Returns:
        Figure name → PNG path for each figure written, and ``"html"`` → the HTML path.
    """
    out_dir = Path(out_dir)
    figure_dir = out_dir / "figures"
    colors = figures.landscape_colors(report.landscapes)
    written: dict[str, Path] = {}
    pngs: dict[str, bytes] = {}
    for spec in FIGURES:
        png = spec.render(report, colors)
        path = figure_dir / f"{spec.name}.png"
        if png is None:
            path.unlink(missing_ok=True)
            continue
        atomic_write(path, png)
        pngs[spec.name] = png
        written[spec.name] = path
    html_path = out_dir / f"{basename}.html"
    atomic_write(html_path, _render_html(report, pngs, colors).encode("utf-8"))
    written["html"] = html_path
    return written


def markdown_images(paths: dict[str, Path]) -> str:
    """The report's figures as Markdown with inline PNGs (the Dagster UI's metadata)."""
    return "\n\n".join(f"**{name}**\n\n![{name}]"
                         f"(data:image/png;base64,{base64.b64encode(p.read_bytes()).decode()})"
                         for name, p in paths.items() if name != "html")
