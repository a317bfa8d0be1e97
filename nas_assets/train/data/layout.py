"""So2Sat LCZ42 files on disk: finding the split files, checking their layout, bulk reading.

The published files hold three float64, channels-last, contiguous and uncompressed datasets at the
root: ``sen1`` (N, 32, 32, 8), ``sen2`` (N, 32, 32, 10) and a one-hot ``label`` (N, 17). Because
the data are contiguous and uncompressed, their bytes can be memory-mapped at the offset HDF5
reports and read in large slices at disk/page-cache speed; per-sample ``h5py`` reads cap at a
few thousand samples/s. Every failure — a missing dataset, a wrong shape, a truncated
file — becomes a :class:`So2SatLayoutError` that names the file, the dataset and the expectation.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from nas_assets.core.so2sat import (
    DATASET_SHAPES,
    DATASETS,
    LABEL,
    N_CLASSES,
    S1_BANDS,
    S2_BANDS,
    SEN1,
    SEN2,
    SPLITS,
    V3_VARIANTS,
)

#: Samples per bulk read: ~75 MB of float64 for the fusion sensor, large enough to run at
#: memory speed, small enough that a 352k-sample file streams through a few hundred MB of RAM.
CHUNK_SAMPLES = 512


class So2SatLayoutError(ValueError):
    """A So2Sat directory or file that does not have the expected layout; the message says
    which file, which dataset and what was expected."""


@dataclass(frozen=True)
class DatasetLayout:
    """Where one dataset's bytes live.

    Attributes:
        name: dataset name (``sen1``, ``sen2`` or ``label``).
        shape: full shape, samples first.
        dtype: numpy dtype as stored (float64, either byte order).
        offset: byte offset of the contiguous data in the file, or None when the bytes cannot be
            memory-mapped (chunked, compressed, external or not yet allocated storage).
    """

    name: str
    shape: tuple[int, ...]
    dtype: np.dtype
    offset: int | None

    @property
    def nbytes(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64)) * self.dtype.itemsize


@dataclass(frozen=True)
class SplitFile:
    """One validated split file (header checks only; contents are checked while reading).

    Attributes:
        path: the ``.h5`` file.
        n_samples: N, equal across the three datasets.
        datasets: layout of ``sen1``, ``sen2`` and ``label``.
    """

    path: Path
    n_samples: int
    datasets: dict[str, DatasetLayout]

    @property
    def reader(self) -> str:
        """``"memmap"`` when every dataset is read through a memory map, else ``"h5py"``."""
        return "memmap" if all(d.offset is not None for d in self.datasets.values()) else "h5py"


def find_splits(data_dir: str | Path, variant: str | None = None) -> dict[str, Path]:
    """Locate the split files of a So2Sat LCZ42 directory.

    Accepted layouts: v2 (``training.h5``, ``validation.h5``, ``testing.h5``), a v3 variant
    directory (``training.h5``, ``testing.h5``; validation is then a holdout of training, made by
    :func:`~nas_assets.train.data.cache.build_cache`), or the v3 root holding ``random/``,
    ``block/`` and ``culture_10/`` together with ``variant``.

    Args:
        data_dir: the directory.
        variant: v3 split strategy (``random``, ``block`` or ``culture_10``) when ``data_dir`` is
            the v3 root.

    Returns:
        Split name (``training``, ``validation``, ``testing``) -> file path, in that order;
        ``validation`` is absent for v3.

    Raises:
        So2SatLayoutError: when the directory does not hold a recognisable layout.
    """
    root = Path(data_dir)
    if not root.is_dir():
        raise So2SatLayoutError(f"{root}: not a directory; expected a So2Sat LCZ42 data directory")
    variants = [v for v in V3_VARIANTS if (root / v).is_dir()]
    if variant is not None:
        if variant not in V3_VARIANTS:
            raise So2SatLayoutError(f"variant {variant!r}: expected one of {', '.join(V3_VARIANTS)}")
        if variant not in variants:
            raise So2SatLayoutError(
                f"{root}: no '{variant}' sub-directory; expected a So2Sat v3 root holding "
                f"{', '.join(V3_VARIANTS)} (found: {', '.join(variants) or 'none'})"
            )
        root = root / variant
    elif variants and not (root / "training.h5").exists():
        raise So2SatLayoutError(
            f"{root}: is a So2Sat v3 root ({', '.join(variants)}); pass variant= (--variant) to pick one"
        )
    found = {s: _split_file(root / f"{s}.h5") for s in SPLITS if os.path.lexists(root / f"{s}.h5")}
    missing = [f"{s}.h5" for s in ("training", "testing") if s not in found]
    if missing:
        raise So2SatLayoutError(
            f"{root}: {' and '.join(missing)} not found; expected training.h5, validation.h5 and "
            f"testing.h5 (v2), training.h5 and testing.h5 (v3), or a v3 root with "
            f"{'/, '.join(V3_VARIANTS)}/ and a variant"
        )
    return found


def _split_file(path: Path) -> Path:
    """``path`` when it is a file (or a link to one); a directory or a dangling link is an error,
    not a missing split (a missing validation.h5 would silently make a v2 directory a v3 one)."""
    if path.is_file():
        return path
    if path.exists():
        kind = "a directory" if path.is_dir() else "not a regular file"
        raise So2SatLayoutError(f"{path}: is {kind}; expected the HDF5 file {path.name}")
    raise So2SatLayoutError(
        f"{path}: a symbolic link to {os.readlink(path)}, which does not exist; expected the HDF5 file "
        f"{path.name} (fix or remove the link)"
    )


def open_split(path: str | Path) -> SplitFile:
    """Check a split file's header: datasets present, dtype, shapes, equal sample counts, and that
    the file is long enough to hold the data (a truncated download fails here, not mid-epoch).

    Args:
        path: a ``training.h5`` / ``validation.h5`` / ``testing.h5`` file.

    Returns:
        The file's layout, with memory-map offsets where the storage allows.

    Raises:
        So2SatLayoutError: naming the file, the dataset and the expectation.
    """
    path = Path(path)
    try:  # h5py reports a missing permission like damage ("unable to open file"): ask the OS first
        with open(path, "rb"):
            pass
    except PermissionError:
        raise So2SatLayoutError(
            f"{path}: permission denied; this user cannot read the file (give read access, e.g. chmod a+r)"
        ) from None
    except OSError:
        pass  # anything else: h5py's message below says more
    try:
        handle = h5py.File(path, "r")
    except OSError as exc:  # h5py reports truncation, bad signatures and missing files as OSError
        raise So2SatLayoutError(
            f"{path}: cannot be opened as HDF5 ({_h5_reason(exc)}); the file is damaged or incomplete, "
            f"re-download or regenerate it"
        ) from None
    with handle:
        layouts: dict[str, DatasetLayout] = {}
        for name in DATASETS:
            obj = handle.get(name)
            if not isinstance(obj, h5py.Dataset):
                present = ", ".join(sorted(handle.keys())) or "none"
                raise So2SatLayoutError(
                    f"{path}: dataset '{name}' is missing; expected datasets sen1, sen2 and label at the "
                    f"root (found: {present})"
                )
            layouts[name] = _dataset_layout(path, obj)
    counts = {name: layout.shape[0] for name, layout in layouts.items()}
    if len(set(counts.values())) != 1:
        listed = ", ".join(f"{name} has {n}" for name, n in counts.items())
        raise So2SatLayoutError(
            f"{path}: datasets disagree on the number of samples ({listed}); expected the same N in all three"
        )
    size = path.stat().st_size
    for layout in layouts.values():
        if layout.offset is not None and layout.offset + layout.nbytes > size:
            raise So2SatLayoutError(
                f"{path}: dataset '{layout.name}' needs bytes {layout.offset}.."
                f"{layout.offset + layout.nbytes} but the file has {size} bytes; the file is truncated, "
                f"re-download or regenerate it"
            )
    if counts[LABEL] == 0:
        raise So2SatLayoutError(
            f"{path}: holds 0 samples (sen1, sen2 and label have N = 0); expected at least one "
            "sample in every split"
        )
    return SplitFile(path=path, n_samples=counts[LABEL], datasets=layouts)


def _dataset_layout(path: Path, ds: h5py.Dataset) -> DatasetLayout:
    name = ds.name.lstrip("/")
    expected = DATASET_SHAPES[name]
    if ds.dtype.kind != "f" or ds.dtype.itemsize != 8:
        raise So2SatLayoutError(f"{path}: dataset '{name}' has dtype {ds.dtype}, expected float64")
    if ds.ndim != len(expected) + 1 or tuple(ds.shape[1:]) != expected:
        want = "(N, " + ", ".join(str(s) for s in expected) + ")"
        raise So2SatLayoutError(f"{path}: dataset '{name}' has shape {tuple(ds.shape)}, expected {want}")
    offset = None
    # Only plain contiguous storage maps 1:1 onto file bytes; anything else goes through h5py.
    if ds.chunks is None and ds.compression is None and not ds.external:
        offset = ds.id.get_offset()
    return DatasetLayout(name=name, shape=tuple(int(s) for s in ds.shape), dtype=ds.dtype, offset=offset)


def _h5_reason(exc: Exception) -> str:
    text = str(exc)
    # h5py wraps HDF5's message as "Unable to open file (truncated file: eof = ...)": keep the cause.
    if "(" in text and text.endswith(")"):
        text = text[text.index("(") + 1 : -1]
    return text


def iter_blocks(
    split: SplitFile,
    name: str,
    *,
    chunk: int = CHUNK_SAMPLES,
    dtype: np.dtype | type | None = None,
) -> Iterator[tuple[int, np.ndarray]]:
    """Read a dataset in large contiguous slices.

    Memory-maps the file at the dataset offset when the storage is contiguous and uncompressed
    (one sequential read per slice, no HDF5 overhead), else falls back to h5py slicing.

    Args:
        split: a file checked by :func:`open_split`.
        name: ``sen1``, ``sen2`` or ``label``.
        chunk: samples per slice.
        dtype: dtype of the returned blocks (converted during the copy); default as stored.

    Yields:
        (start index, block) with block a fresh array of shape (n, *trailing shape).

    Raises:
        So2SatLayoutError: when the bytes cannot be read (naming file and dataset).
    """
    layout = split.datasets[name]
    out_dtype = np.dtype(dtype) if dtype is not None else layout.dtype.newbyteorder("=")
    n = layout.shape[0]
    if layout.offset is not None:
        mm = np.memmap(split.path, dtype=layout.dtype, mode="r", offset=layout.offset, shape=layout.shape)
        try:
            for start in range(0, n, chunk):
                yield start, np.array(mm[start : start + chunk], dtype=out_dtype)
        finally:
            del mm
        return
    try:
        with h5py.File(split.path, "r") as handle:
            ds = handle[name]
            for start in range(0, n, chunk):
                yield start, np.asarray(ds[start : start + chunk], dtype=out_dtype)
    except OSError as exc:
        raise So2SatLayoutError(
            f"{split.path}: dataset '{name}' cannot be read ({_h5_reason(exc)}); the file is damaged or "
            f"truncated, re-download or regenerate it"
        ) from None


def read_dataset(split: SplitFile, name: str, *, chunk: int = CHUNK_SAMPLES) -> np.ndarray:
    """A whole dataset as one float64 array, read in bulk (see :func:`iter_blocks`)."""
    layout = split.datasets[name]
    out = np.empty(layout.shape, dtype=np.float64)
    for start, block in iter_blocks(split, name, chunk=chunk):
        out[start : start + len(block)] = block
    return out


def labels_to_classes(path: Path, start: int, block: np.ndarray) -> np.ndarray:
    """Class indices of one block of one-hot label rows, after checking they are one-hot.

    Raises:
        So2SatLayoutError: on any row that is not exactly one 1 and sixteen 0s (NaN included).
    """
    binary = (block == 0.0) | (block == 1.0)
    bad = ~binary.all(axis=1) | ((block == 1.0).sum(axis=1) != 1)
    if bad.any():
        rows = np.flatnonzero(bad)
        first = rows[0]
        values = np.array2string(block[first], precision=3, separator=", ", max_line_width=200)
        raise So2SatLayoutError(
            f"{path}: dataset 'label' row {start + first} is {values}, not one-hot ({len(rows)} such "
            f"row(s) in rows {start}..{start + len(block) - 1}); expected exactly one 1 and "
            f"{N_CLASSES - 1} zeros per row"
        )
    return block.argmax(axis=1).astype(np.int64)


def read_labels(split: SplitFile, *, chunk: int = 16 * CHUNK_SAMPLES) -> np.ndarray:
    """Class indices (argmax of the one-hot rows) of a split, validated in vectorised chunks.

    Returns:
        int64 array of shape (N,).

    Raises:
        So2SatLayoutError: when a label row is not one-hot.
    """
    y = np.empty(split.n_samples, dtype=np.int64)
    for start, block in iter_blocks(split, LABEL, chunk=chunk):
        y[start : start + len(block)] = labels_to_classes(split.path, start, block)
    return y


def check_finite(path: Path, name: str, start: int, block: np.ndarray, bands: tuple[str, ...]) -> None:
    """Raise if a channels-last sensor block holds NaN or infinite values.

    Raises:
        So2SatLayoutError: naming the file, dataset, first bad sample and band.
    """
    bad = ~np.isfinite(block)
    if not bad.any():
        return
    # argmax on the flat mask finds the first bad value without materialising every index
    sample, *_, band = np.unravel_index(int(np.argmax(bad)), block.shape)
    raise So2SatLayoutError(
        f"{path}: dataset '{name}' has {int(bad.sum())} non-finite value(s) (NaN or inf) in samples "
        f"{start}..{start + len(block) - 1}, first in sample {start + int(sample)} band {int(band)} "
        f"({bands[int(band)]}); expected finite values"
    )


def iter_sensor_blocks(
    split: SplitFile, sensor: str, *, chunk: int = CHUNK_SAMPLES, dtype: type = np.float32
) -> Iterator[tuple[int, np.ndarray | None, np.ndarray | None]]:
    """Read the sensor datasets a sensor choice needs, in lockstep, as checked blocks.

    The float64 -> float32 conversion happens during the copy out of the memory map (one pass);
    every block is checked for NaN/inf before it is returned.

    Args:
        split: a file checked by :func:`open_split`.
        sensor: ``s1``, ``s2`` or ``fusion``.
        chunk: samples per block.
        dtype: dtype of the blocks (float32 for the cache; float64 for exact summaries).

    Yields:
        (start, sen1 block or None, sen2 block or None), channels last.

    Raises:
        So2SatLayoutError: on unreadable bytes or non-finite values.
    """
    wanted = {SEN1: sensor in ("s1", "fusion"), SEN2: sensor in ("s2", "fusion")}
    if not any(wanted.values()):
        raise ValueError(f"unknown sensor {sensor!r}; expected s1, s2 or fusion")
    readers = {name: iter_blocks(split, name, chunk=chunk, dtype=dtype) for name, on in wanted.items() if on}
    bands = {SEN1: S1_BANDS, SEN2: S2_BANDS}
    for start in range(0, split.n_samples, chunk):
        blocks: dict[str, np.ndarray | None] = {SEN1: None, SEN2: None}
        for name, reader in readers.items():
            _, block = next(reader)
            check_finite(split.path, name, start, block, bands[name])
            blocks[name] = block
        yield start, blocks[SEN1], blocks[SEN2]
