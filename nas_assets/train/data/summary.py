"""``inspect_so2sat``: validate a So2Sat directory end to end and summarise what it holds."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from nas_assets.core.so2sat import CLASS_CODES, CLASS_NAMES, N_CLASSES, S1_BANDS, S2_BANDS
from nas_assets.train.data.contents import BandRange
from nas_assets.train.data.layout import (
    CHUNK_SAMPLES,
    SplitFile,
    find_splits,
    iter_sensor_blocks,
    open_split,
    read_labels,
)


@dataclass
class SplitSummary:
    """One split file.

    Attributes:
        path: the file.
        n_samples: samples.
        reader: ``memmap`` (contiguous storage read through a memory map) or ``h5py``.
        class_counts: samples per class (17,).
        band_min: per-band minimum, S1 then S2 (18,); None when contents were not scanned.
        band_max: per-band maximum.
        band_mean: per-band mean.
    """

    path: Path
    n_samples: int
    reader: str
    class_counts: np.ndarray
    band_min: np.ndarray | None = None
    band_max: np.ndarray | None = None
    band_mean: np.ndarray | None = None


@dataclass
class So2SatSummary:
    """What :func:`inspect_so2sat` found.

    Attributes:
        data_dir: the directory inspected.
        layout: ``v2`` (with validation.h5) or ``v3`` (training + testing only).
        splits: split name -> summary.
    """

    data_dir: Path
    layout: str
    splits: dict[str, SplitSummary] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly form."""

        def arr(a: np.ndarray | None) -> list | None:
            return None if a is None else a.tolist()

        return {
            "data_dir": str(self.data_dir),
            "layout": self.layout,
            "splits": {
                name: {"path": str(s.path), "n_samples": s.n_samples, "reader": s.reader,
                       "class_counts": arr(s.class_counts), "band_min": arr(s.band_min),
                       "band_max": arr(s.band_max), "band_mean": arr(s.band_mean)}
                for name, s in self.splits.items()
            },
        }

    def to_text(self) -> str:
        """A human-readable report: splits, class counts, per-band value ranges."""
        names = list(self.splits)
        lines = [f"So2Sat LCZ42 {self.layout} layout in {self.data_dir}", ""]
        lines.append(f"{'split':<12}{'samples':>10}  reader  file")
        for name, s in self.splits.items():
            lines.append(f"{name:<12}{s.n_samples:>10,}  {s.reader:<6}  {s.path}")
        lines += ["", f"{'class':<28}" + "".join(f"{n:>12}" for n in names)]
        for k in range(N_CLASSES):
            label = f"{CLASS_CODES[k]:>2} {CLASS_NAMES[k]}"
            lines.append(f"{label:<28}" + "".join(f"{self.splits[n].class_counts[k]:>12,}" for n in names))
        if all(s.band_min is not None for s in self.splits.values()):
            lines += ["", f"{'band':<24}" + "".join(f"{n + ' min..max':>26}" for n in names)]
            for b, band in enumerate((*(f"S1 {x}" for x in S1_BANDS), *(f"S2 {x}" for x in S2_BANDS))):
                ranges = [
                    f"{s.band_min[b]:.4g}..{s.band_max[b]:.4g}"  # type: ignore[index]
                    for s in self.splits.values()
                ]
                cells = "".join(f"{r:>26}" for r in ranges)
                lines.append(f"{band:<24}{cells}")
        return "\n".join(lines)


def inspect_so2sat(
    data_dir: str | Path, *, variant: str | None = None, contents: bool = True, chunk: int = CHUNK_SAMPLES
) -> So2SatSummary:
    """Validate a So2Sat directory and summarise it.

    Every file's header is checked before any data are read (a split with no samples fails
    here); then labels (one-hot) and, with ``contents``, every sensor value (finite, every band
    not constant over the split; per-band min/max/mean) are read in bulk.

    Args:
        data_dir: v2 directory, v3 variant directory, or v3 root with ``variant``.
        variant: v3 split strategy when ``data_dir`` is the v3 root.
        contents: also scan the sensor data (a full read: minutes for the real 56 GB).
        chunk: samples per bulk read.

    Returns:
        The summary.

    Raises:
        So2SatLayoutError: on the first problem found, naming file, dataset and expectation.
    """
    files = find_splits(data_dir, variant)
    split_files: dict[str, SplitFile] = {name: open_split(path) for name, path in files.items()}
    summary = So2SatSummary(Path(data_dir), "v2" if "validation" in files else "v3")
    for name, sf in split_files.items():
        counts = np.bincount(read_labels(sf), minlength=N_CLASSES)
        summary.splits[name] = SplitSummary(sf.path, sf.n_samples, sf.reader, counts)
    if contents:
        for name, sf in split_files.items():
            lo, hi, total = np.full(18, np.inf), np.full(18, -np.inf), np.zeros(18)
            ranges = BandRange(sf.path)
            for _, s1, s2 in iter_sensor_blocks(sf, "fusion", chunk=chunk, dtype=np.float64):
                ranges.update(s1, s2)
                block = np.concatenate([s1, s2], axis=-1).reshape(-1, 18)  # type: ignore[list-item]
                lo = np.minimum(lo, block.min(axis=0))
                hi = np.maximum(hi, block.max(axis=0))
                total += block.sum(axis=0, dtype=np.float64)
            ranges.check()  # a band with one value everywhere cannot be normalised
            s = summary.splits[name]
            s.band_min, s.band_max, s.band_mean = lo, hi, total / max(sf.n_samples * 32 * 32, 1)
    return summary
