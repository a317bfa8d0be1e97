"""Thin Dagster layer over ``nas_assets.core``: ``dagster ... -m nas_assets.defs``."""

from nas_assets.defs.definitions import defs

__all__ = ["defs"]
