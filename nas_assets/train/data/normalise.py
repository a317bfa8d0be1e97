"""Turning raw So2Sat blocks into normalised channels-first float32, and the statistics for it.

S1 is heavy-tailed (≈ −5007…12702 while its bulk sits within ±1): a plain z-score would squeeze
almost every pixel into a sliver around 0. Two remedies:

* ``signed_log`` (default): ``sign(x)·log1p(|x|)`` per S1 value, then a per-band z-score. The published
  band statistics describe the *raw* values, so after this transform the S1 means/stds are
  always computed from the training split, whatever ``stats`` says; only S2 can use the published ones.
* ``clip``: z-score the raw S1 values, then clip to ``±s1_clip`` standard deviations (the same as
  clipping the raw values at mean ± s1_clip·std first).

S2 (reflectance/10,000, ≈0–2.8) is z-scored per band without a transform. ``stats="train"``
(default) computes means/stds from the training split in one streaming pass at cache-build
time: they describe the data actually used (the published numbers are for v2 only, and v3 or the
synthetic data differ) and the S1 log statistics have to come from there anyway. ``stats="spec"``
uses the published v2 numbers wherever they apply. Which source each band used is recorded in the
cache manifest.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np

from nas_assets.core.so2sat import BAND_MEANS, BAND_STDS, S1_BANDS, SENSOR_BANDS, sensor_channels

S1Transform = Literal["signed_log", "clip"]
StatsSource = Literal["spec", "train"]
CacheDtype = Literal["float16", "uint8", "float32"]

#: uint8 caches saturate beyond this many standard deviations (see :meth:`Quantisation.for_range`).
UINT8_LIMIT = 8.0


@dataclass(frozen=True)
class NormalisationConfig:
    """How raw values become network inputs.

    Attributes:
        s1_transform: ``"signed_log"`` (default) or ``"clip"``, see the module docstring.
        stats: ``"train"`` (default: statistics of the training split) or ``"spec"`` (the published v2
            v2 statistics where they apply; S1 under ``signed_log`` still uses training stats).
        s1_clip: for ``clip``, the bound on |z| of S1 values, in standard deviations.
    """

    s1_transform: S1Transform = "signed_log"
    stats: StatsSource = "train"
    s1_clip: float = 5.0

    def __post_init__(self) -> None:
        if self.s1_transform not in ("signed_log", "clip"):
            raise ValueError(f"s1_transform {self.s1_transform!r}: expected 'signed_log' or 'clip'")
        if self.stats not in ("spec", "train"):
            raise ValueError(f"stats {self.stats!r}: expected 'spec' or 'train'")
        if not self.s1_clip > 0:
            raise ValueError(f"s1_clip {self.s1_clip!r}: expected a positive number of standard deviations")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def n_s1(sensor: str) -> int:
    """How many leading channels of a sensor choice are S1 (fusion stacks S1 then S2)."""
    return len(S1_BANDS) if sensor in ("s1", "fusion") else 0


def to_channels_first(s1: np.ndarray | None, s2: np.ndarray | None) -> np.ndarray:
    """Stack channels-last S1/S2 blocks into one channels-first float32 block (S1 first).

    The transpose and the dtype conversion happen in the same assignment: one pass over memory.
    """
    parts = [b for b in (s1, s2) if b is not None]
    n, h, w = parts[0].shape[:3]
    out = np.empty((n, sum(b.shape[3] for b in parts), h, w), dtype=np.float32)
    c = 0
    for block in parts:
        out[:, c : c + block.shape[3]] = block.transpose(0, 3, 1, 2)
        c += block.shape[3]
    return out


def apply_s1_transform(x: np.ndarray, n1: int, config: NormalisationConfig) -> None:
    """In place: the S1 transform on the first ``n1`` channels of a channels-first block."""
    if n1 and config.s1_transform == "signed_log":
        s1 = x[:, :n1]
        magnitude = np.abs(s1)
        np.log1p(magnitude, out=magnitude)
        np.copysign(magnitude, s1, out=s1)


class BandStats:
    """Streaming per-band count, mean, variance (Chan et al.'s pairwise update), min and max.

    Accumulates in float64 so that a 352k-sample split (3.6e8 values per band) stays exact to
    well below the float32 precision of the cache.
    """

    def __init__(self, n_bands: int) -> None:
        self.count = 0
        self.mean = np.zeros(n_bands)
        self.m2 = np.zeros(n_bands)
        self.min = np.full(n_bands, np.inf)
        self.max = np.full(n_bands, -np.inf)

    def update(self, block: np.ndarray) -> None:
        """Add a channels-first block (n, C, H, W)."""
        if len(block) == 0:
            return
        values = block.transpose(1, 0, 2, 3).reshape(block.shape[1], -1)
        n_b = values.shape[1]
        mean_b = values.mean(axis=1, dtype=np.float64)
        m2_b = np.square(values - mean_b[:, None].astype(values.dtype), dtype=np.float64).sum(axis=1)
        total = self.count + n_b
        delta = mean_b - self.mean
        self.mean = self.mean + delta * (n_b / total)
        self.m2 = self.m2 + m2_b + delta**2 * (self.count * n_b / total)
        self.count = total
        self.min = np.minimum(self.min, values.min(axis=1))
        self.max = np.maximum(self.max, values.max(axis=1))

    @property
    def std(self) -> np.ndarray:
        """Population standard deviation per band."""
        return np.sqrt(self.m2 / max(self.count, 1))


@dataclass(frozen=True)
class Normaliser:
    """The per-band affine map (after the S1 transform) that produces network inputs.

    Attributes:
        sensor: ``s1``, ``s2`` or ``fusion``.
        config: the normalisation choices.
        mean: per-channel mean subtracted (after the S1 transform).
        std: per-channel standard deviation divided by.
        sources: per channel, ``"spec"`` or ``"train"``: where its statistics came from.
    """

    sensor: str
    config: NormalisationConfig
    mean: np.ndarray
    std: np.ndarray
    sources: tuple[str, ...]

    @classmethod
    def from_stats(cls, sensor: str, config: NormalisationConfig, train: BandStats | None) -> Normaliser:
        """Combine the published v2 statistics and the training split's as the config asks.

        Args:
            sensor: ``s1``, ``s2`` or ``fusion``.
            config: normalisation choices.
            train: statistics of the *transformed* training values (see :func:`needs_train_stats`);
                None when none are needed.

        Raises:
            ValueError: when training statistics are needed but missing, or a band is constant.
        """
        spec_mean = BAND_MEANS[sensor_channels(sensor)].astype(np.float64)
        spec_std = BAND_STDS[sensor_channels(sensor)].astype(np.float64)
        use_train = train_bands(sensor, config)
        if use_train.any() and train is None:
            raise ValueError(f"{sensor}/{config}: training statistics are required")
        mean = np.where(use_train, train.mean if train is not None else 0.0, spec_mean)
        std = np.where(use_train, train.std if train is not None else 1.0, spec_std)
        if (std <= 0).any():
            bands = [SENSOR_BANDS[sensor][i] for i in np.flatnonzero(std <= 0)]
            raise ValueError(
                f"bands {', '.join(bands)} are constant in the training split; cannot z-score them"
            )
        return cls(sensor, config, mean, std, tuple("train" if t else "spec" for t in use_train))

    def apply(self, s1: np.ndarray | None, s2: np.ndarray | None) -> np.ndarray:
        """Raw channels-last blocks -> normalised channels-first float32 (n, C, 32, 32).

        Args:
            s1: ``sen1`` block (n, 32, 32, 8) or None when the sensor has no S1.
            s2: ``sen2`` block (n, 32, 32, 10) or None when the sensor has no S2.
        """
        x = to_channels_first(s1, s2)
        n1 = n_s1(self.sensor)
        apply_s1_transform(x, n1, self.config)
        x -= self.mean.astype(np.float32)[:, None, None]
        x *= (1.0 / self.std).astype(np.float32)[:, None, None]
        if n1 and self.config.s1_transform == "clip":
            np.clip(x[:, :n1], -self.config.s1_clip, self.config.s1_clip, out=x[:, :n1])
        return x

    def to_dict(self) -> dict[str, Any]:
        return {
            "sensor": self.sensor,
            "config": self.config.to_dict(),
            "mean": self.mean.tolist(),
            "std": self.std.tolist(),
            "sources": list(self.sources),
        }


def train_bands(sensor: str, config: NormalisationConfig) -> np.ndarray:
    """Boolean per channel: does it need statistics computed from the training split?"""
    use_train = np.full(len(SENSOR_BANDS[sensor]), config.stats == "train")
    if config.s1_transform == "signed_log":
        use_train[: n_s1(sensor)] = True  # the published S1 stats are for raw values, not their log
    return use_train


def needs_train_stats(sensor: str, config: NormalisationConfig) -> bool:
    """Whether building a cache needs a statistics pass over the training split."""
    return bool(train_bands(sensor, config).any())


@dataclass(frozen=True)
class Quantisation:
    """How the cache stores normalised values, and how to get float32 back.

    ``float16`` / ``float32`` store the normalised values themselves (scale 1, offset 0: the
    decode is a cast). ``uint8`` stores ``round((x - offset) / scale)`` per channel, with
    ``offset``/``scale`` spanning the training split's normalised range clipped to ±8 std
    (step ≤ 0.063 std; values beyond saturate): half the memory of float16, lossy.

    Attributes:
        dtype: the cache dtype.
        scale: per-channel step (x = q * scale + offset).
        offset: per-channel value of code 0.
    """

    dtype: CacheDtype
    scale: tuple[float, ...]
    offset: tuple[float, ...]

    @classmethod
    def cast(cls, dtype: CacheDtype, n_channels: int) -> Quantisation:
        """A float16 / float32 codec: the cache holds the normalised values themselves."""
        if dtype not in ("float16", "float32"):
            raise ValueError(
                f"cache dtype {dtype!r}: expected 'float16' or 'float32' (uint8 needs for_range)"
            )
        return cls(dtype, (1.0,) * n_channels, (0.0,) * n_channels)

    @classmethod
    def for_range(cls, dtype: CacheDtype, lo: np.ndarray, hi: np.ndarray) -> Quantisation:
        """A codec for per-channel normalised values spanning [lo, hi].

        Args:
            dtype: ``uint8`` (float dtypes ignore the range, see :meth:`cast`).
            lo: per-channel minimum of the normalised training values.
            hi: per-channel maximum.
        """
        if dtype != "uint8":
            return cls.cast(dtype, len(lo))
        lo = np.clip(np.asarray(lo, dtype=np.float64), -UINT8_LIMIT, 0.0)
        hi = np.clip(np.asarray(hi, dtype=np.float64), 0.0, UINT8_LIMIT)
        scale = np.maximum(hi - lo, 1e-6) / 255.0
        # float32 round trip so encode (numpy, float32) and decode (torch, float32) agree exactly
        scale = scale.astype(np.float32).astype(np.float64)
        offset = lo.astype(np.float32).astype(np.float64)
        return cls(dtype, tuple(scale.tolist()), tuple(offset.tolist()))

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Quantisation:
        return cls(d["dtype"], tuple(d["scale"]), tuple(d["offset"]))

    def to_dict(self) -> dict[str, Any]:
        return {"dtype": self.dtype, "scale": list(self.scale), "offset": list(self.offset)}

    @property
    def affine(self) -> bool:
        """True when decoding needs the per-channel multiply-add, not just a cast."""
        return self.dtype == "uint8"

    def encode(self, x: np.ndarray) -> np.ndarray:
        """Normalised float32 channels-first block -> the cache dtype."""
        if not self.affine:
            return x.astype(self.dtype)
        scale = np.asarray(self.scale, dtype=np.float32)[:, None, None]
        offset = np.asarray(self.offset, dtype=np.float32)[:, None, None]
        q = (x - offset) / scale
        np.rint(q, out=q)
        np.clip(q, 0, 255, out=q)
        return q.astype(np.uint8)

    def dequantize(self, q: Any, out: Any = None) -> Any:
        """Compact cache values -> normalised float32, channels-first (N, C, H, W).

        Accepts a numpy array or a torch tensor (any device) and returns the same kind.

        Args:
            q: compact values as stored in the cache.
            out: optional float32 tensor to write into (torch only; avoids an allocation).
        """
        if isinstance(q, np.ndarray):
            x = q.astype(np.float32)
            if self.affine:
                x *= np.asarray(self.scale, dtype=np.float32)[:, None, None]
                x += np.asarray(self.offset, dtype=np.float32)[:, None, None]
            return x
        import torch  # local: this module stays importable without torch

        if out is None:
            out = torch.empty(q.shape, dtype=torch.float32, device=q.device)
        if not self.affine:
            return out.copy_(q)
        scale, offset = self.tensors(q.device)
        torch.mul(q, scale, out=out)  # uint8 * float32 -> float32 in one pass
        return out.add_(offset)

    __call__ = dequantize  # so the codec itself can be passed wherever a to-float function is expected

    def tensors(self, device: Any) -> tuple[Any, Any]:
        """(scale, offset) as float32 tensors shaped (1, C, 1, 1) on ``device``."""
        import torch

        key = str(device)
        cache = self.__dict__.setdefault("_tensor_cache", {})
        if key not in cache:
            shape = (1, len(self.scale), 1, 1)
            cache[key] = (
                torch.tensor(self.scale, dtype=torch.float32, device=device).view(shape),
                torch.tensor(self.offset, dtype=torch.float32, device=device).view(shape),
            )
        return cache[key]
