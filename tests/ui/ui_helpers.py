"""Helpers of the UI tests: what ``defs`` declares, and where screenshots go."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from tests.dagster_server import REPO

#: Set (to anything) to also copy the screenshots to docs/img/ for the documentation.
SAVE_SCREENSHOTS_VAR = "NAS_ASSETS_SAVE_SCREENSHOTS"
DOCS_IMG = REPO / "docs" / "img"


@dataclass(frozen=True)
class Expected:
    """What ``defs`` declares: asset keys, asset checks and partitions definitions."""

    assets: list[str]  # user strings ("a/b")
    checks: list[tuple[str, str]]  # (asset, check name)
    partitions: dict[str, object]  # asset -> PartitionsDefinition, partitioned assets only

    @staticmethod
    def path(key: str) -> list[str]:
        return key.split("/")


def save_screenshot(page, tmp_path: Path, name: str) -> Path:
    """``tmp_path/<name>.png``; also ``docs/img/<name>.png`` where NAS_ASSETS_SAVE_SCREENSHOTS is set."""
    path = tmp_path / f"{name}.png"
    page.screenshot(path=str(path))
    if os.environ.get(SAVE_SCREENSHOTS_VAR):
        DOCS_IMG.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, DOCS_IMG / path.name)
    return path
