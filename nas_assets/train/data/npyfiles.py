"""Checksummed ``.npy`` files and source-file fingerprints for the cache.

CRC-32 (zlib) is the checksum: ~7 GB/s here, against ~1.4 GB/s for BLAKE2b, so verifying a
13 GB fusion cache while loading it adds seconds, not minutes. It guards against truncation and
corruption, not against tampering, which is all a local cache needs.
"""

from __future__ import annotations

import zlib
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

_IO_BLOCK = 64 << 20
#: Source files up to this size are hashed in full; larger ones are sampled.
FULL_HASH_LIMIT = 64 << 20
_SAMPLE_BLOCKS = 64
_SAMPLE_BYTES = 1 << 20


class NpyError(ValueError):
    """A cache array file that is missing, truncated or fails its checksum."""


class NpyWriter:
    """Write an ``.npy`` file sequentially in blocks, computing the CRC-32 of its data bytes.

    Sequential writes (no memory map) keep the page cache from holding a second copy of a
    multi-GB array while it is built.
    """

    def __init__(self, path: Path, dtype: np.dtype | str, shape: tuple[int, ...]) -> None:
        self.path = path
        self.dtype = np.dtype(dtype)
        self.shape = tuple(int(s) for s in shape)
        self.rows = 0
        self.crc = 0
        self._file: BinaryIO = open(path, "wb")  # noqa: SIM115 - closed in close()
        descr = np.lib.format.dtype_to_descr(self.dtype)
        header = {"descr": descr, "fortran_order": False, "shape": self.shape}
        np.lib.format.write_array_header_2_0(self._file, header)

    def write(self, block: np.ndarray) -> None:
        """Append rows (block.shape[1:] must equal the array's trailing shape)."""
        if block.shape[1:] != self.shape[1:] or block.dtype != self.dtype:
            raise ValueError(
                f"{self.path.name}: block {block.shape} {block.dtype} does not fit {self.shape} {self.dtype}"
            )
        data = np.ascontiguousarray(block).data.cast("B")
        self._file.write(data)
        self.crc = zlib.crc32(data, self.crc)
        self.rows += len(block)

    def close(self) -> dict[str, Any]:
        """Finish the file; returns its manifest entry (file, shape, dtype, bytes, crc32).

        Raises:
            ValueError: when fewer or more rows were written than the declared shape.
        """
        self._file.close()
        if self.rows != self.shape[0]:
            raise ValueError(f"{self.path.name}: wrote {self.rows} rows, declared {self.shape[0]}")
        return {
            "file": self.path.name,
            "shape": list(self.shape),
            "dtype": self.dtype.str,
            "bytes": int(np.prod(self.shape, dtype=np.int64)) * self.dtype.itemsize,
            "crc32": self.crc,
        }


def save_npy(path: Path, array: np.ndarray) -> dict[str, Any]:
    """Write a whole array as ``.npy``; returns its manifest entry."""
    writer = NpyWriter(path, array.dtype, array.shape)
    writer.write(array)
    return writer.close()


def read_npy(path: Path, entry: dict[str, Any], *, verify: bool = True, mmap: bool = False) -> np.ndarray:
    """Read an ``.npy`` file written by :class:`NpyWriter`, checking it against its manifest entry.

    Args:
        path: the file.
        entry: manifest entry (shape, dtype, bytes, crc32).
        verify: compute the CRC-32 of the data while reading and compare.
        mmap: map the file copy-on-write instead of reading it into memory (pages load lazily;
            with ``verify`` they are all touched once for the checksum).

    Returns:
        The array (C order).

    Raises:
        NpyError: on a missing or truncated file, a header that disagrees with the manifest, or
            a checksum mismatch.
    """
    try:
        f = open(path, "rb")  # noqa: SIM115 - closed below
    except OSError as exc:
        raise NpyError(f"{path.name}: cannot be opened ({exc.strerror})") from None
    with f:
        try:
            version = np.lib.format.read_magic(f)
            if version == (1, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
            else:
                shape, fortran, dtype = np.lib.format.read_array_header_2_0(f)
        except (ValueError, OSError) as exc:
            raise NpyError(f"{path.name}: unreadable .npy header ({exc})") from None
        if list(shape) != list(entry["shape"]) or dtype.str != entry["dtype"] or fortran:
            raise NpyError(
                f"{path.name}: holds {dtype.str} {tuple(shape)}, the manifest says "
                f"{entry['dtype']} {tuple(entry['shape'])}"
            )
        offset = f.tell()
        size = path.stat().st_size
        if size != offset + entry["bytes"]:
            raise NpyError(
                f"{path.name}: has {size - offset} data bytes, expected {entry['bytes']} (truncated?)"
            )
        array: np.ndarray
        if mmap and entry["bytes"]:
            array = np.memmap(path, dtype=dtype, mode="c", offset=offset, shape=tuple(shape))
            crc = _crc32(array.reshape(-1).view(np.uint8).data) if verify else None
        else:
            array = np.empty(shape, dtype=dtype)
            flat = array.reshape(-1).view(np.uint8).data
            crc = 0
            for start in range(0, len(flat), _IO_BLOCK):
                view = flat[start : start + _IO_BLOCK]
                if f.readinto(view) != len(view):
                    raise NpyError(f"{path.name}: ended early (truncated?)")
                if verify:
                    crc = zlib.crc32(view, crc)
    if verify and crc != entry["crc32"]:
        raise NpyError(
            f"{path.name}: checksum {crc:#010x} does not match the manifest's {entry['crc32']:#010x}"
        )
    return array


def _crc32(data: memoryview) -> int:
    crc = 0
    for start in range(0, len(data), _IO_BLOCK):
        crc = zlib.crc32(data[start : start + _IO_BLOCK], crc)
    return crc


def fingerprint_source(path: Path) -> dict[str, Any]:
    """Identify a source file's content cheaply, to tell whether a cache is stale.

    Files up to 64 MiB are hashed in full. Larger ones (the real So2Sat files are 2–31 GB)
    hash 64 evenly spaced 1 MiB blocks (first and last included) plus the size: 64 MiB of reads,
    well under a second, instead of a full pass over 56 GB each time a job starts. A replaced,
    regenerated or truncated file changes the size or the sampled bytes; an in-place edit of a
    few bytes between samples would not be seen — re-run with ``rebuild=True`` after that.

    The modification time is recorded but not compared: copying the data to node-local scratch
    (new mtimes, same bytes) must not force a rebuild of a multi-GB cache.

    Returns:
        {"path", "size", "mtime_ns", "crc32", "hashed": "full" | "sampled"}.
    """
    stat = path.stat()
    size = stat.st_size
    crc = 0
    with open(path, "rb") as f:
        if size <= FULL_HASH_LIMIT:
            while block := f.read(_IO_BLOCK):
                crc = zlib.crc32(block, crc)
            hashed = "full"
        else:
            for i in range(_SAMPLE_BLOCKS):
                f.seek((size - _SAMPLE_BYTES) * i // (_SAMPLE_BLOCKS - 1))
                crc = zlib.crc32(f.read(_SAMPLE_BYTES), crc)
            hashed = "sampled"
    return {
        "path": str(path.resolve()),
        "size": size,
        "mtime_ns": stat.st_mtime_ns,
        "crc32": crc,
        "hashed": hashed,
    }


def same_content(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Whether two fingerprints describe the same bytes (size and hash; not path or mtime)."""
    return all(a.get(k) == b.get(k) for k in ("size", "crc32", "hashed"))
