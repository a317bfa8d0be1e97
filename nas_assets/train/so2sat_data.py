"""So2Sat cache -> the runner's in-memory :class:`ArrayData` (split names train/val/test)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import cast

from nas_assets.train.data import NormalisationConfig, prepare_cache
from nas_assets.train.data.normalise import S1Transform, StatsSource
from nas_assets.train.runner import ArrayData

#: cache split (file stem) -> runner split
SPLIT_NAMES = {"training": "train", "validation": "val", "testing": "test"}


def load_so2sat_arrays(
    data_dir: str | Path,
    cache_dir: str | Path,
    sensor: str = "fusion",
    s1_transform: str = "signed_log",
    stats: str = "train",
    variant: str | None = None,
) -> ArrayData:
    """Build or reuse the normalised cache of a So2Sat directory and expose it as ArrayData.

    Raises:
        So2SatLayoutError: the directory is not in the So2Sat layout (names file and dataset).
    """
    # free strings from the configuration: NormalisationConfig checks them (ValueError otherwise)
    norm = NormalisationConfig(s1_transform=cast(S1Transform, s1_transform), stats=cast(StatsSource, stats))
    cache = prepare_cache(data_dir, cache_dir, sensor=sensor, norm=norm, variant=variant)
    splits = {SPLIT_NAMES[name]: arrays for name, arrays in cache.splits.items() if name in SPLIT_NAMES}
    # the name identifies config *and* source bytes, so runs on different data never share a run key
    sources = hashlib.md5(json.dumps(cache.manifest.get("sources", {}),
                                     sort_keys=True).encode()).hexdigest()[:8]
    return ArrayData(
        splits=splits,
        num_classes=cache.n_classes,
        to_float=cache.dequantize,
        name=f"so2sat-{cache.path.name}-{sources}",
        info={"source": str(Path(data_dir).resolve()), "sensor": sensor, "s1_transform": s1_transform,
              "stats": stats,
              "cache_dtype": str(cache.dtype)},
    )
