"""Whole-split content checks: every band of a split must vary.

A band holding one value in every pixel of every sample (a sensor that failed, a band filled
with a constant) has a standard deviation of zero: z-scoring divides by it and nothing can be
learnt from it. :class:`BandRange` follows the per-band minimum and maximum block by block, as
``data check`` and the cache builder read the file anyway, and names the first constant band.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from nas_assets.core.so2sat import S1_BANDS, S2_BANDS, SEN1, SEN2
from nas_assets.train.data.layout import So2SatLayoutError


class BandRange:
    """Per-band minimum and maximum of one split file's sensor values.

    Args:
        path: the split file (named in the error).
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.low: dict[str, np.ndarray] = {}
        self.high: dict[str, np.ndarray] = {}
        self.n_samples = 0

    def update(self, s1: np.ndarray | None, s2: np.ndarray | None) -> None:
        """Add one block of channels-last sensor values (None for a sensor that is not read)."""
        blocks = {name: b for name, b in ((SEN1, s1), (SEN2, s2)) if b is not None and len(b)}
        for name, block in blocks.items():
            lo, hi = block.min(axis=(0, 1, 2)), block.max(axis=(0, 1, 2))
            self.low[name] = np.minimum(self.low[name], lo) if name in self.low else lo
            self.high[name] = np.maximum(self.high[name], hi) if name in self.high else hi
        self.n_samples += len(next(iter(blocks.values()))) if blocks else 0

    def check(self) -> None:
        """Raise when a band holds the same value in every pixel of every sample.

        Raises:
            So2SatLayoutError: naming the file, the dataset, the band and the value.
        """
        bands = {SEN1: S1_BANDS, SEN2: S2_BANDS}
        for name, lo in self.low.items():
            constant = np.flatnonzero(lo == self.high[name])
            if constant.size:
                k = int(constant[0])
                raise So2SatLayoutError(
                    f"{self.path}: dataset '{name}' band {k} ({bands[name][k]}) has the value "
                    f"{float(lo[k]):g} in every pixel of all {self.n_samples} samples; expected values that "
                    f"vary across the split (a constant band cannot be normalised; {constant.size} such "
                    f"band(s) in '{name}')"
                )
