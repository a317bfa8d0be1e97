"""The one ``Definitions`` object; the only place that reads the environment."""

from __future__ import annotations

import os
from pathlib import Path

from dagster import Definitions

from nas_assets.defs.resources import StoreResource
from nas_assets.defs.space_assets import architecture_space, sampled_architectures
from nas_assets.defs import space_checks


def default_store_path() -> str:
    """``$NAS_ASSETS_DB``, else ``$NAS_ASSETS_DATA_DIR/nas_assets.duckdb``, else ``./data/nas_assets.duckdb``."""
    if os.environ.get("NAS_ASSETS_DB"):
        return str(Path(os.environ["NAS_ASSETS_DB"]).resolve())
    data_dir = Path(os.environ.get("NAS_ASSETS_DATA_DIR", "data")).resolve()
    return str(data_dir / "nas_assets.duckdb")


def build_definitions(store_path: str) -> Definitions:
    """All assets, checks and resources, over the DuckDB file at ``store_path``."""
    return Definitions(
        assets=[architecture_space, sampled_architectures],
        asset_checks=[
            space_checks.space_has_exact_counts,
            space_checks.space_hashes_unique,
            space_checks.sampled_hashes_in_space,
            space_checks.partitions_match_design,
        ],
        resources={"store": StoreResource(path=store_path)},
    )


defs = build_definitions(default_store_path())
