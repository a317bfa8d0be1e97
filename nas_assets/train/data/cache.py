"""The compact, normalised tensor cache: built once from the HDF5 files, loaded in seconds.

Layout of one cache (a directory ``<cache_dir>/<sensor>-<config hash>``, so s1 / s2 / fusion
and different normalisations coexist)::

    manifest.json        format version, config, source fingerprints, statistics, codec,
                         per-array shape / dtype / bytes / CRC-32 — written last
    training_x.npy       (N, C, 32, 32) normalised values in the cache dtype (float16 default)
    training_y.npy       (N,) int64 class indices
    validation_x.npy ... testing_y.npy

Why float16 by default: the loader's hot path is gather + convert to float32. Measured with
``benchmarks/train.py`` on the 2-core dev machine (fusion, batch 256, no augmentation), the
float16 cache feeds ~330-370k samples/s against ~210-230k for uint8 (its per-band multiply-add
after the gather costs more than the bytes it saves), and float16 keeps ~3 significant digits
where uint8 keeps 256 levels per band. uint8 (``dtype="uint8"``) halves the memory (6.5 GB
instead of 13 GB for the v2 fusion training split) when that matters more.

A cache is built in a temporary sibling directory and renamed into place, under a file lock,
so an interrupted build never leaves a half cache that looks valid, and concurrent callers
(DDP ranks, parallel jobs) build it once. An existing cache is reused only if its manifest
matches the config and the current source fingerprints and every array passes its checks;
a stale cache (sources or config changed) is rebuilt, a corrupt one (unreadable manifest,
truncated or altered arrays) is rebuilt with a warning — never used.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import hashlib
import json
import logging
import os
import shutil
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from nas_assets.core.so2sat import CLASS_NAMES, N_CLASSES, SENSOR_BANDS, SENSORS, SPLITS
from nas_assets.train.data.contents import BandRange
from nas_assets.train.data.layout import (
    CHUNK_SAMPLES,
    So2SatLayoutError,
    SplitFile,
    find_splits,
    iter_sensor_blocks,
    open_split,
    read_labels,
)
from nas_assets.train.data.normalise import (
    BandStats,
    CacheDtype,
    NormalisationConfig,
    Normaliser,
    Quantisation,
    apply_s1_transform,
    n_s1,
    needs_train_stats,
    to_channels_first,
)
from nas_assets.train.data.npyfiles import (
    NpyError,
    NpyWriter,
    fingerprint_source,
    read_npy,
    same_content,
    save_npy,
)
from nas_assets.train.data.split import stratified_holdout

log = logging.getLogger(__name__)

CACHE_FORMAT = "nas_assets/so2sat-cache"
#: Bump when the bytes a given config produces change; older caches then count as stale.
CACHE_VERSION = 1
MANIFEST = "manifest.json"
CACHE_DTYPES: tuple[str, ...] = ("float16", "uint8", "float32")


class So2SatCacheError(ValueError):
    """A cache directory that is missing, corrupt or does not match what was asked for."""


@dataclass
class CachedSo2Sat:
    """A loaded cache.

    Attributes:
        path: the cache directory.
        manifest: its parsed ``manifest.json``.
        splits: split name -> (x, y): x (N, C, 32, 32) in the cache dtype, y (N,) int64.
        quantisation: how x maps to normalised float32 (:meth:`dequantize` applies it).
    """

    path: Path
    manifest: dict[str, Any]
    splits: dict[str, tuple[np.ndarray, np.ndarray]]
    quantisation: Quantisation

    @property
    def sensor(self) -> str:
        return str(self.manifest["sensor"])

    @property
    def n_channels(self) -> int:
        return int(self.manifest["n_channels"])

    @property
    def n_classes(self) -> int:
        return int(self.manifest["n_classes"])

    @property
    def bands(self) -> tuple[str, ...]:
        return tuple(self.manifest["bands"])

    @property
    def dtype(self) -> str:
        """The compact dtype of every x array (``float16``, ``uint8`` or ``float32``)."""
        return self.quantisation.dtype

    def dequantize(self, x: Any) -> Any:
        """Compact x (numpy array or torch tensor) -> normalised float32, same shape."""
        return self.quantisation.dequantize(x)

    def class_counts(self, split: str) -> np.ndarray:
        """Samples per class in a split (int64, length ``n_classes``)."""
        return np.bincount(self.splits[split][1], minlength=self.n_classes)


def cache_config(
    sensor: str,
    norm: NormalisationConfig,
    dtype: str,
    layout: str,
    variant: str | None,
    holdout_fraction: float,
    holdout_seed: int,
) -> dict[str, Any]:
    """Everything that decides the bytes of a cache, apart from the source files themselves."""
    return {
        "format": CACHE_FORMAT,
        "version": CACHE_VERSION,
        "sensor": sensor,
        "normalisation": norm.to_dict(),
        "dtype": dtype,
        "layout": layout,
        "variant": variant,
        # v2 ships validation.h5, so the holdout settings do not change a v2 cache
        "holdout": {"fraction": holdout_fraction, "seed": holdout_seed} if layout == "v3" else None,
    }


def cache_key(config: dict[str, Any]) -> str:
    """Directory name of a cache: ``<sensor>-<12 hex digits of the config's SHA-256>``."""
    digest = hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()[:12]
    return f"{config['sensor']}-{digest}"


def build_cache(
    data_dir: str | Path,
    cache_dir: str | Path,
    sensor: str = "fusion",
    norm: NormalisationConfig | None = None,
    *,
    dtype: CacheDtype = "float16",
    variant: str | None = None,
    holdout_fraction: float = 0.05,
    holdout_seed: int = 0,
    chunk: int = CHUNK_SAMPLES,
    verify: bool = True,
    rebuild: bool = False,
) -> Path:
    """Make sure a valid cache for these sources and this config exists; build it if not.

    Args:
        data_dir: So2Sat directory (v2, a v3 variant directory, or the v3 root with ``variant``).
        cache_dir: parent directory of the caches.
        sensor: ``fusion`` (18 channels, default), ``s1`` (8) or ``s2`` (10).
        norm: normalisation config (default :class:`NormalisationConfig()`).
        dtype: cache dtype: ``float16`` (default), ``uint8`` or ``float32``.
        variant: v3 split strategy when ``data_dir`` is the v3 root.
        holdout_fraction: v3 only (no ``validation.h5``): share of the training file held out,
            class-stratified, as the ``validation`` split.
        holdout_seed: v3 only: seeds the holdout.
        chunk: samples per bulk read while building.
        verify: check every array's CRC-32 before reusing a cache (reads it once); False checks
            the manifest, the sources, headers and sizes only (a following :func:`load_cache`
            with ``verify=True`` still catches altered bytes).
        rebuild: rebuild even if a valid cache exists.

    Returns:
        The cache directory.

    Raises:
        So2SatLayoutError: when the source files are missing or malformed.
        ValueError: for an unknown sensor or dtype.
    """
    norm = norm or NormalisationConfig()
    if sensor not in SENSORS:
        raise ValueError(f"unknown sensor {sensor!r}; expected one of {', '.join(SENSORS)}")
    if dtype not in CACHE_DTYPES:
        raise ValueError(f"cache dtype {dtype!r}: expected one of {', '.join(CACHE_DTYPES)}")
    files = find_splits(data_dir, variant)
    layout = "v2" if "validation" in files else "v3"
    config = cache_config(sensor, norm, dtype, layout, variant, holdout_fraction, holdout_seed)
    key = cache_key(config)
    parent = Path(cache_dir)
    parent.mkdir(parents=True, exist_ok=True)
    final = parent / key
    sources = {split: fingerprint_source(path) for split, path in files.items()}
    with _lock(parent / f".{key}.lock"):
        if final.exists() and not rebuild:
            problem = _reuse_problem(final, config, sources, verify=verify)
            if problem is None:
                log.info("reusing So2Sat cache %s", final)
                return final
            kind, reason = problem
            if kind == "corrupt":
                log.warning("So2Sat cache %s is corrupt (%s); rebuilding it", final, reason)
            else:
                log.info("So2Sat cache %s is stale (%s); rebuilding it", final, reason)
        _remove_leftovers(parent, key)
        tmp = parent / f".{key}.tmp-{uuid.uuid4().hex[:8]}"
        tmp.mkdir()
        try:
            t0 = time.perf_counter()
            manifest = _build(tmp, files, config, sources, Path(data_dir), chunk)
            manifest["build_seconds"] = round(time.perf_counter() - t0, 3)
            _write_json(tmp / MANIFEST, manifest)
            _swap_into_place(tmp, final)
            log.info("built So2Sat cache %s in %.1f s", final, manifest["build_seconds"])
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return final


def load_cache(cache_path: str | Path, *, verify: bool = True, mmap: bool = False) -> CachedSo2Sat:
    """Load a cache built by :func:`build_cache`.

    Args:
        cache_path: the cache directory (what :func:`build_cache` returned).
        verify: check each array's CRC-32 while reading it (~7 GB/s; off skips only that).
        mmap: map the x arrays copy-on-write instead of reading them into memory.

    Returns:
        The splits, manifest and dequantisation codec.

    Raises:
        So2SatCacheError: when the manifest is missing/unreadable or an array is missing,
            truncated, of the wrong shape or fails its checksum.
    """
    path = Path(cache_path)
    manifest = _read_manifest(path)
    splits: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    try:
        for split, entry in manifest["splits"].items():
            x = read_npy(path / entry["x"]["file"], entry["x"], verify=verify, mmap=mmap)
            y = read_npy(path / entry["y"]["file"], entry["y"], verify=verify)
            splits[split] = (x, y)
        quantisation = Quantisation.from_dict(manifest["quantisation"])
    except NpyError as exc:
        raise So2SatCacheError(f"{path}: {exc}") from None
    except (KeyError, TypeError) as exc:
        raise So2SatCacheError(f"{path}/{MANIFEST}: missing or malformed entry {exc}") from None
    return CachedSo2Sat(path=path, manifest=manifest, splits=splits, quantisation=quantisation)


def prepare_cache(data_dir: str | Path, cache_dir: str | Path, **kwargs: Any) -> CachedSo2Sat:
    """Build (or reuse) and load a cache, reading a reused cache's bytes only once.

    Same arguments as :func:`build_cache` (``mmap`` goes to :func:`load_cache`). The reuse check
    skips checksums because loading verifies them; if loading then finds a corrupt array the
    cache is rebuilt once, with a warning.
    """
    mmap = kwargs.pop("mmap", False)
    kwargs.pop("verify", None)
    path = build_cache(data_dir, cache_dir, verify=False, **kwargs)
    try:
        return load_cache(path, mmap=mmap)
    except So2SatCacheError as exc:
        log.warning("%s; rebuilding the cache", exc)
        kwargs.pop("rebuild", None)
        return load_cache(build_cache(data_dir, cache_dir, rebuild=True, **kwargs), mmap=mmap)


# ---------------------------------------------------------------------------------------------
# building


def _build(
    out: Path,
    files: dict[str, Path],
    config: dict[str, Any],
    sources: dict[str, dict[str, Any]],
    data_dir: Path,
    chunk: int,
) -> dict[str, Any]:
    sensor: str = config["sensor"]
    norm = NormalisationConfig(**config["normalisation"])
    # Validate every file's header and labels before the long passes over the sensor data.
    split_files = {split: open_split(path) for split, path in files.items()}
    labels = {split: read_labels(sf) for split, sf in split_files.items()}
    # targets: source split -> [(cache split, row mask or None for all rows)]
    targets: dict[str, list[tuple[str, np.ndarray | None]]] = {s: [(s, None)] for s in files}
    if config["layout"] == "v3":
        holdout = config["holdout"]
        held = stratified_holdout(labels["training"], holdout["fraction"], holdout["seed"])
        targets["training"] = [("training", ~held), ("validation", held)]

    train_rows = targets["training"][0][1]
    stats = None
    if needs_train_stats(sensor, norm) or config["dtype"] == "uint8":
        stats = _training_stats(split_files["training"], sensor, norm, train_rows, chunk)
    normaliser = Normaliser.from_stats(sensor, norm, stats if needs_train_stats(sensor, norm) else None)
    quantisation = _codec(config["dtype"], normaliser, stats)

    entries: dict[str, dict[str, Any]] = {}
    for source, outs in targets.items():
        sf = split_files[source]
        y = labels[source]
        writers = {}
        for split, rows in outs:
            n = len(y) if rows is None else int(rows.sum())
            shape = (n, SENSORS[sensor], *sf.datasets["sen1"].shape[1:3])
            writers[split] = NpyWriter(out / f"{split}_x.npy", quantisation.dtype, shape)
        ranges = BandRange(sf.path)
        for start, s1, s2 in iter_sensor_blocks(sf, sensor, chunk=chunk):
            ranges.update(s1, s2)  # before normalising: it may divide by a constant band's zero spread
            q = quantisation.encode(normaliser.apply(s1, s2))
            for split, rows in outs:
                writers[split].write(q if rows is None else q[rows[start : start + len(q)]])
        ranges.check()
        for split, rows in outs:
            y_split = y if rows is None else y[rows]
            entries[split] = {
                "source": source,
                "n": len(y_split),
                "x": writers[split].close(),
                "y": save_npy(out / f"{split}_y.npy", y_split),
                "class_counts": np.bincount(y_split, minlength=N_CLASSES).tolist(),
            }
    return {
        **config,
        "key": cache_key(config),
        "build_id": uuid.uuid4().hex,
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "data_dir": str(data_dir.resolve()),
        "sources": sources,
        "n_channels": SENSORS[sensor],
        "n_classes": N_CLASSES,
        "bands": list(SENSOR_BANDS[sensor]),
        "class_names": list(CLASS_NAMES),
        "normaliser": normaliser.to_dict(),
        "quantisation": quantisation.to_dict(),
        "splits": {s: entries[s] for s in SPLITS if s in entries},
    }


def _training_stats(
    sf: SplitFile, sensor: str, norm: NormalisationConfig, rows: np.ndarray | None, chunk: int
) -> BandStats:
    """Per-band statistics of the S1-transformed (not yet z-scored) training values."""
    stats = BandStats(SENSORS[sensor])
    ranges = BandRange(sf.path)
    for start, s1, s2 in iter_sensor_blocks(sf, sensor, chunk=chunk):
        ranges.update(s1, s2)
        x = to_channels_first(s1, s2)
        apply_s1_transform(x, n_s1(sensor), norm)
        stats.update(x if rows is None else x[rows[start : start + len(x)]])
    if stats.count == 0:
        raise So2SatLayoutError(f"{sf.path}: no training samples to compute statistics from")
    ranges.check()  # names the file and band, where the normaliser could only name the band
    return stats


def _codec(dtype: str, normaliser: Normaliser, stats: BandStats | None) -> Quantisation:
    if dtype != "uint8":
        return Quantisation.cast(dtype, len(normaliser.mean))  # type: ignore[arg-type]
    assert stats is not None  # _build computes them whenever the dtype is uint8
    # z-scoring is increasing per band, so the normalised range is the z-score of the raw range
    lo = (stats.min - normaliser.mean) / normaliser.std
    hi = (stats.max - normaliser.mean) / normaliser.std
    n1 = n_s1(normaliser.sensor)
    if n1 and normaliser.config.s1_transform == "clip":
        lo[:n1] = np.maximum(lo[:n1], -normaliser.config.s1_clip)
        hi[:n1] = np.minimum(hi[:n1], normaliser.config.s1_clip)
    return Quantisation.for_range("uint8", lo, hi)


# ---------------------------------------------------------------------------------------------
# reuse checks and atomic replacement


def _reuse_problem(
    path: Path, config: dict[str, Any], sources: dict[str, dict[str, Any]], *, verify: bool
) -> tuple[str, str] | None:
    """None when the cache at ``path`` can be used, else ("corrupt" | "stale", reason)."""
    try:
        manifest = _read_manifest(path)
    except So2SatCacheError as exc:
        return "corrupt", str(exc)
    for name, want in config.items():
        if manifest.get(name) != want:
            return "stale", f"{name} is {manifest.get(name)!r}, wanted {want!r}"
    old = manifest.get("sources", {})
    if set(old) != set(sources):
        return "stale", f"splits changed from {sorted(old)} to {sorted(sources)}"
    for split, fingerprint in sources.items():
        if not same_content(old[split], fingerprint):
            return "stale", f"source {fingerprint['path']} changed since the cache was built"
    try:
        for entry in manifest["splits"].values():
            for part in ("x", "y"):
                # reading with verify=False still checks header, shape, dtype and size
                read_npy(path / entry[part]["file"], entry[part], verify=verify, mmap=not verify)
    except NpyError as exc:
        return "corrupt", str(exc)
    except (KeyError, TypeError) as exc:
        return "corrupt", f"malformed manifest entry {exc}"
    return None


def _read_manifest(path: Path) -> dict[str, Any]:
    file = path / MANIFEST
    try:
        manifest = json.loads(file.read_text())
    except FileNotFoundError:
        raise So2SatCacheError(f"{file}: missing (not a cache, or an interrupted build)") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise So2SatCacheError(f"{file}: unreadable ({exc})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != CACHE_FORMAT:
        raise So2SatCacheError(f"{file}: not a So2Sat cache manifest (format {CACHE_FORMAT!r} expected)")
    if manifest.get("version") != CACHE_VERSION:
        raise So2SatCacheError(
            f"{file}: cache format version {manifest.get('version')}, expected {CACHE_VERSION}"
        )
    return manifest


def _write_json(path: Path, data: dict[str, Any]) -> None:
    with open(path, "w") as f:
        json.dump(data, f, indent=1)
        f.write("\n")
        f.flush()
        os.fsync(f.fileno())


def _swap_into_place(tmp: Path, final: Path) -> None:
    """Rename the finished build over ``final``; a reader sees the old cache, none, or the new."""
    old = None
    if final.exists():
        old = final.with_name(f".{final.name}.old-{uuid.uuid4().hex[:8]}")
        final.rename(old)
    tmp.rename(final)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _remove_leftovers(parent: Path, key: str) -> None:
    # Only callers holding the key's lock get here, so any temp/old directory is from a build
    # that was interrupted (killed job, full disk) and is safe to delete.
    for leftover in [*parent.glob(f".{key}.tmp-*"), *parent.glob(f".{key}.old-*")]:
        shutil.rmtree(leftover, ignore_errors=True)


@contextlib.contextmanager
def _lock(path: Path) -> Iterator[None]:
    """Exclusive advisory lock (POSIX ``flock``), so concurrent ranks build a cache only once."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - non-POSIX: no locking, the rename is still atomic
        yield
        return
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
