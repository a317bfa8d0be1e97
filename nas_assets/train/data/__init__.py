"""So2Sat LCZ42 data for training: HDF5 reader, synthetic generator, compact cache, batch loader.

Typical use::

    from nas_assets.train.data import BatchLoader, build_cache, load_cache

    cache = load_cache(build_cache("data/so2sat", "data/cache", sensor="fusion"))
    train = BatchLoader.from_cache(cache, "training", 256, augment=True, device="cuda",
                                   rank=rank, world_size=world_size, seed=seed)
    for epoch in range(epochs):
        train.set_epoch(epoch)
        for xb, yb in train:   # xb float32 (B, C, 32, 32) normalised, yb int64 (B,)
            ...

Names are imported lazily (PEP 562), so ``python -m nas_assets --help`` and the ``data`` CLI
commands do not pay for torch unless they use the loader.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from nas_assets.train.data.cache import (
        CachedSo2Sat,
        So2SatCacheError,
        build_cache,
        load_cache,
        prepare_cache,
    )
    from nas_assets.train.data.layout import So2SatLayoutError, find_splits
    from nas_assets.train.data.loader import BatchLoader
    from nas_assets.train.data.normalise import NormalisationConfig, Quantisation
    from nas_assets.train.data.summary import So2SatSummary, inspect_so2sat
    from nas_assets.train.data.synthetic import synthesize_so2sat

_EXPORTS: dict[str, str] = {
    "So2SatLayoutError": "layout",
    "find_splits": "layout",
    "synthesize_so2sat": "synthetic",
    "inspect_so2sat": "summary",
    "So2SatSummary": "summary",
    "NormalisationConfig": "normalise",
    "Quantisation": "normalise",
    "build_cache": "cache",
    "load_cache": "cache",
    "prepare_cache": "cache",
    "CachedSo2Sat": "cache",
    "So2SatCacheError": "cache",
    "BatchLoader": "loader",
}
__all__ = [  # the names of _EXPORTS, sorted; a literal so linters see the re-exports
    "BatchLoader",
    "CachedSo2Sat",
    "NormalisationConfig",
    "Quantisation",
    "So2SatCacheError",
    "So2SatLayoutError",
    "So2SatSummary",
    "build_cache",
    "find_splits",
    "inspect_so2sat",
    "load_cache",
    "prepare_cache",
    "synthesize_so2sat",
]


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
