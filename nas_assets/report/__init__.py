"""The fitness landscape footprint report: data, figures (Agg, no pyplot) and HTML/Markdown.

No Dagster here: the ``footprint_report`` asset assembles a :class:`ReportData` from the results
tables and calls :func:`write_report`; a notebook can do the same.
"""

from nas_assets.core.landscape.vocabulary import FootprintMetric
from nas_assets.report.data import (
    FOOTPRINT_PANELS,
    METRICS,
    PUBLISHED_ANCHORS,
    ReportData,
    format_metric,
    published_footprints,
)
from nas_assets.report.html import FIGURES, footprint_markdown, verdict_markdown, write_report

__all__ = [
    "FIGURES",
    "FOOTPRINT_PANELS",
    "METRICS",
    "PUBLISHED_ANCHORS",
    "FootprintMetric",
    "ReportData",
    "footprint_markdown",
    "format_metric",
    "published_footprints",
    "verdict_markdown",
    "write_report",
]
