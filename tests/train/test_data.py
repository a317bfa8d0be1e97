"""So2Sat LCZ42 data layer: layout checks, generator, normalisation, cache, BatchLoader, CLI.

Tiny synthetic datasets (tests/train/conftest.py) keep the whole file to a few seconds on CPU.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

from nas_assets.core.so2sat import (
    BAND_MEANS,
    BAND_STDS,
    CLASS_NAMES,
    N_CLASSES,
    SENSORS,
    TRAIN_CLASS_COUNTS,
    V2_SPLIT_SIZES,
    VAL_CLASS_COUNTS,
)
from nas_assets.train.data import (
    BatchLoader,
    NormalisationConfig,
    So2SatCacheError,
    So2SatLayoutError,
    build_cache,
    find_splits,
    inspect_so2sat,
    load_cache,
    prepare_cache,
    synthesize_so2sat,
)
from nas_assets.train.data.layout import iter_blocks, open_split, read_dataset, read_labels
from nas_assets.train.data.loader import apply_augmentation, draw_augmentation
from nas_assets.train.data.split import stratified_holdout
from nas_assets.train.data.synthetic import allocate_counts

from .conftest import TINY

CACHE_LOG = "nas_assets.train.data.cache"


def _rewrite(path: Path, **replace: np.ndarray | None) -> None:
    """Rewrite an .h5 file with some datasets replaced (array) or dropped (None)."""
    with h5py.File(path, "r") as f:
        data = {name: f[name][()] for name in f}
    data.update(replace)
    path.unlink()
    with h5py.File(path, "w") as f:
        for name, array in data.items():
            if array is not None:
                f.create_dataset(name, data=array)


def _manifest(path: Path) -> dict:
    return json.loads((path / "manifest.json").read_text())


# -- constants -------------------------------------------------------------------------------


def test_constants_agree_with_spec():
    assert N_CLASSES == len(CLASS_NAMES) == 17
    assert SENSORS == {"s1": 8, "s2": 10, "fusion": 18}
    assert TRAIN_CLASS_COUNTS.sum() == V2_SPLIT_SIZES["training"]
    assert VAL_CLASS_COUNTS.sum() == V2_SPLIT_SIZES["validation"]
    assert len(BAND_MEANS) == len(BAND_STDS) == 18 and not BAND_MEANS.flags.writeable


# -- generator <-> reader --------------------------------------------------------------------


def test_synthetic_files_have_the_real_layout(so2sat_dir):
    splits = find_splits(so2sat_dir)
    assert list(splits) == ["training", "validation", "testing"]
    for split, path in splits.items():
        with h5py.File(path, "r") as f:
            assert sorted(f) == ["label", "sen1", "sen2"]
            n = {"training": TINY["n_train"], "validation": TINY["n_val"], "testing": TINY["n_test"]}[split]
            assert f["sen1"].shape == (n, 32, 32, 8) and f["sen2"].shape == (n, 32, 32, 10)
            assert f["label"].shape == (n, 17)
            for ds in f.values():
                assert ds.dtype == np.float64 and ds.chunks is None and ds.compression is None
            labels = f["label"][()]
            assert set(np.unique(labels)) == {0.0, 1.0} and (labels.sum(axis=1) == 1).all()
            s1, s2 = f["sen1"][()], f["sen2"][()]
        assert s2.min() >= 0 and s2.max() <= 2.8
        assert np.abs(s1).max() > 10 * s1.std()  # heavy-tailed S1


def test_memmap_reader_equals_h5py(so2sat_dir):
    split = open_split(so2sat_dir / "training.h5")
    assert split.reader == "memmap" and all(d.offset is not None for d in split.datasets.values())
    with h5py.File(split.path, "r") as f:
        for name in ("sen1", "sen2", "label"):
            np.testing.assert_array_equal(read_dataset(split, name, chunk=7), f[name][()])
        np.testing.assert_array_equal(read_labels(split), f["label"][()].argmax(axis=1))


def test_h5py_fallback_for_chunked_files(so2sat_copy, tmp_path):
    path = so2sat_copy / "training.h5"
    with h5py.File(path, "r") as f:
        data = {name: f[name][()] for name in f}
    path.unlink()
    with h5py.File(path, "w") as f:
        for name, array in data.items():
            f.create_dataset(name, data=array, chunks=True, compression="gzip")
    split = open_split(path)
    assert split.reader == "h5py"
    np.testing.assert_array_equal(read_dataset(split, "sen2", chunk=5), data["sen2"])
    cache = load_cache(build_cache(so2sat_copy, tmp_path / "cache"))
    assert cache.splits["training"][0].shape == (TINY["n_train"], 18, 32, 32)


def test_class_proportions_follow_spec():
    assert (allocate_counts(17, TRAIN_CLASS_COUNTS) == 1).all()
    small = allocate_counts(40, TRAIN_CLASS_COUNTS)
    assert small.sum() == 40 and (small >= 1).all()
    full = allocate_counts(int(TRAIN_CLASS_COUNTS.sum()), TRAIN_CLASS_COUNTS)
    assert np.abs(full - TRAIN_CLASS_COUNTS).max() <= 1
    assert allocate_counts(5, TRAIN_CLASS_COUNTS).sum() == 5


def test_generator_round_trip_and_class_counts(so2sat_dir):
    summary = inspect_so2sat(so2sat_dir)
    assert summary.layout == "v2"
    expected = {"training": allocate_counts(TINY["n_train"], TRAIN_CLASS_COUNTS),
                "validation": allocate_counts(TINY["n_val"], VAL_CLASS_COUNTS),
                "testing": allocate_counts(TINY["n_test"], VAL_CLASS_COUNTS)}
    for split, counts in expected.items():
        np.testing.assert_array_equal(summary.splits[split].class_counts, counts)
    with h5py.File(so2sat_dir / "training.h5", "r") as f:
        s1, s2 = f["sen1"][()], f["sen2"][()]
    both = np.concatenate([s1, s2], axis=-1).reshape(-1, 18)
    np.testing.assert_array_equal(summary.splits["training"].band_min, both.min(axis=0))
    np.testing.assert_array_equal(summary.splits["training"].band_max, both.max(axis=0))


def test_generator_is_deterministic(tmp_path):
    a = synthesize_so2sat(tmp_path / "a", n_train=20, n_val=0, n_test=17, seed=3)
    b = synthesize_so2sat(tmp_path / "b", n_train=20, n_val=0, n_test=17, seed=3)
    c = synthesize_so2sat(tmp_path / "c", n_train=20, n_val=0, n_test=17, seed=4)
    assert set(a) == {"training", "testing"}  # n_val=0: the v3 layout
    with h5py.File(a["training"]) as fa, h5py.File(b["training"]) as fb, h5py.File(c["training"]) as fc:
        for name in ("sen1", "sen2", "label"):
            assert fa[name][()].tobytes() == fb[name][()].tobytes()
        assert not np.array_equal(fa["sen2"][()], fc["sen2"][()])


# -- layout errors ---------------------------------------------------------------------------


def _bad_sen2_shape(d: Path) -> None:
    _rewrite(d / "validation.h5", sen2=np.zeros((10, 32, 32, 9)))


def _missing_label(d: Path) -> None:
    _rewrite(d / "testing.h5", label=None)


def _float32_sen1(d: Path) -> None:
    with h5py.File(d / "training.h5", "r") as f:
        sen1 = f["sen1"][()]
    _rewrite(d / "training.h5", sen1=sen1.astype(np.float32))


def _not_one_hot(d: Path) -> None:
    with h5py.File(d / "training.h5", "r") as f:
        label = f["label"][()]
    label[5] = 0.0
    label[5, :2] = 0.5
    _rewrite(d / "training.h5", label=label)


def _nan_in_sen2(d: Path) -> None:
    with h5py.File(d / "testing.h5", "r+") as f:
        f["sen2"][3, 4, 5, 6] = np.nan


def _count_mismatch(d: Path) -> None:
    with h5py.File(d / "validation.h5", "r") as f:
        label = f["label"][()]
    _rewrite(d / "validation.h5", label=label[:-1])


def _truncated(d: Path) -> None:
    path = d / "training.h5"
    os.truncate(path, path.stat().st_size // 2)


@pytest.mark.parametrize(
    ("breaker", "message"),
    [
        (_bad_sen2_shape,
         "validation.h5: dataset 'sen2' has shape (10, 32, 32, 9), expected (N, 32, 32, 10)"),
        (_missing_label, "testing.h5: dataset 'label' is missing; expected datasets sen1, sen2 and label"),
        (_float32_sen1, "training.h5: dataset 'sen1' has dtype float32, expected float64"),
        (_not_one_hot, "training.h5: dataset 'label' row 5 is [0.5, 0.5, 0."),
        (_nan_in_sen2, "testing.h5: dataset 'sen2' has 1 non-finite value(s) (NaN or inf)"),
        (_count_mismatch, "validation.h5: datasets disagree on the number of samples (sen1 has 34, "
                          "sen2 has 34, label has 33); expected the same N in all three"),
        (_truncated, "training.h5: cannot be opened as HDF5 (truncated file"),
    ],
    ids=["shape", "missing", "dtype", "one-hot", "nan", "count", "truncated"],
)
def test_layout_errors_name_file_dataset_and_expectation(so2sat_copy, tmp_path, breaker, message):
    breaker(so2sat_copy)
    with pytest.raises(So2SatLayoutError) as info:
        inspect_so2sat(so2sat_copy)
    assert message in str(info.value)
    assert isinstance(info.value, ValueError)
    # the cache builder validates the same way and leaves no cache behind
    with pytest.raises(So2SatLayoutError, match=r"\.h5: "):
        build_cache(so2sat_copy, tmp_path / "cache")
    assert not [p for p in (tmp_path / "cache").iterdir() if not p.name.endswith(".lock")]


def test_find_splits_v3_layouts(tmp_path):
    root = tmp_path / "v3"
    synthesize_so2sat(root / "random", n_train=20, n_val=0, n_test=17)
    (root / "block").mkdir()
    assert list(find_splits(root / "random")) == ["training", "testing"]
    assert find_splits(root, variant="random")["training"] == root / "random" / "training.h5"
    with pytest.raises(So2SatLayoutError, match="v3 root .*pass variant="):
        find_splits(root)
    with pytest.raises(So2SatLayoutError, match="no 'culture_10' sub-directory"):
        find_splits(root, variant="culture_10")
    with pytest.raises(So2SatLayoutError, match="training.h5 and testing.h5 not found"):
        find_splits(root / "block")


# -- normalisation ---------------------------------------------------------------------------


def test_train_stats_zscore_the_training_split(so2sat_cache):
    x = so2sat_cache.dequantize(so2sat_cache.splits["training"][0])
    assert x.dtype == np.float32 and x.shape == (TINY["n_train"], 18, 32, 32)
    np.testing.assert_allclose(x.mean(axis=(0, 2, 3)), 0.0, atol=2e-3)
    np.testing.assert_allclose(x.std(axis=(0, 2, 3)), 1.0, atol=2e-3)
    norm = so2sat_cache.manifest["normaliser"]
    assert norm["sources"] == ["train"] * 18 and norm["config"]["s1_transform"] == "signed_log"


def test_spec_stats_and_signed_log(so2sat_dir, tmp_path):
    path = build_cache(so2sat_dir, tmp_path, sensor="fusion", norm=NormalisationConfig(stats="spec"))
    cache = load_cache(path)
    norm = cache.manifest["normaliser"]
    # the published statistics are for raw values: S1 under signed-log still comes from training data
    assert norm["sources"] == ["train"] * 8 + ["spec"] * 10
    np.testing.assert_allclose(norm["mean"][8:], BAND_MEANS[8:])
    with h5py.File(so2sat_dir / "testing.h5", "r") as f:
        s1, s2 = f["sen1"][2], f["sen2"][2]
    x = cache.dequantize(cache.splits["testing"][0][2:3])[0]
    want_s2 = (s2.transpose(2, 0, 1) - BAND_MEANS[8:, None, None]) / BAND_STDS[8:, None, None]
    np.testing.assert_allclose(x[8:], want_s2, rtol=2e-3, atol=2e-3)
    logged = np.sign(s1) * np.log1p(np.abs(s1))
    mean, std = (np.array(norm[k][:8])[:, None, None] for k in ("mean", "std"))
    want_s1 = (logged.transpose(2, 0, 1) - mean) / std
    np.testing.assert_allclose(x[:8], want_s1, rtol=2e-3, atol=2e-3)


def test_clip_transform_bounds_s1(so2sat_dir, tmp_path):
    norm = NormalisationConfig("clip", s1_clip=3.0)
    cache = load_cache(build_cache(so2sat_dir, tmp_path, sensor="s1", norm=norm))
    x = cache.dequantize(cache.splits["training"][0])
    assert x.shape[1] == 8 and np.abs(x).max() <= 3.0 + 1e-3


def test_normalisation_config_rejects_unknown_values():
    with pytest.raises(ValueError, match="s1_transform"):
        NormalisationConfig(s1_transform="log")
    with pytest.raises(ValueError, match="stats"):
        NormalisationConfig(stats="imagenet")


# -- cache -----------------------------------------------------------------------------------


def test_cache_contents_and_reuse(so2sat_dir, tmp_path, caplog):
    caplog.set_level(logging.INFO, logger=CACHE_LOG)
    path = build_cache(so2sat_dir, tmp_path)
    manifest = _manifest(path)
    assert path.parent == tmp_path and path.name.startswith("fusion-")
    assert manifest["dtype"] == "float16" and manifest["n_channels"] == 18
    assert set(manifest["sources"]) == {"training", "validation", "testing"}
    assert "built So2Sat cache" in caplog.text
    caplog.clear()
    assert build_cache(so2sat_dir, tmp_path) == path
    assert _manifest(path)["build_id"] == manifest["build_id"]
    assert "reusing So2Sat cache" in caplog.text
    cache = load_cache(path)
    sizes = {"training": TINY["n_train"], "validation": TINY["n_val"], "testing": TINY["n_test"]}
    for split, n in sizes.items():
        x, y = cache.splits[split]
        assert x.shape == (n, 18, 32, 32) and x.dtype == np.float16 and y.dtype == np.int64
    with h5py.File(so2sat_dir / "validation.h5", "r") as f:
        np.testing.assert_array_equal(cache.splits["validation"][1], f["label"][()].argmax(axis=1))
    mapped = load_cache(path, mmap=True)
    np.testing.assert_array_equal(mapped.splits["training"][0], cache.splits["training"][0])
    assert list(tmp_path.glob(".fusion-*.tmp-*")) == []


def test_configs_get_their_own_caches(so2sat_dir, tmp_path):
    paths = {
        "fusion": build_cache(so2sat_dir, tmp_path),
        "s1": build_cache(so2sat_dir, tmp_path, sensor="s1"),
        "s2": build_cache(so2sat_dir, tmp_path, sensor="s2"),
        "clip": build_cache(so2sat_dir, tmp_path, norm=NormalisationConfig(s1_transform="clip")),
        "uint8": build_cache(so2sat_dir, tmp_path, dtype="uint8"),
    }
    assert len(set(paths.values())) == 5 and all(p.is_dir() for p in paths.values())
    assert load_cache(paths["s2"]).n_channels == 10 and load_cache(paths["s1"]).n_channels == 8
    fp16, u8 = load_cache(paths["fusion"]), load_cache(paths["uint8"])
    assert u8.splits["training"][0].dtype == np.uint8
    step = np.array(u8.quantisation.scale)[None, :, None, None]
    lo = np.array(u8.quantisation.offset)[None, :, None, None]
    exact = fp16.dequantize(fp16.splits["testing"][0])
    # uint8 rounds to half a step inside its range (±8 std at most) and saturates beyond it
    want = np.clip(exact, lo, lo + 255 * step)
    assert (np.abs(u8.dequantize(u8.splits["testing"][0]) - want) <= step / 2 + 5e-3).all()


def test_changed_source_triggers_rebuild(so2sat_copy, tmp_path, caplog):
    path = build_cache(so2sat_copy, tmp_path)
    before = _manifest(path)["build_id"]
    synthesize_so2sat(tmp_path / "other", n_train=TINY["n_train"], n_val=17, n_test=17, seed=9)
    os.replace(tmp_path / "other" / "training.h5", so2sat_copy / "training.h5")
    caplog.set_level(logging.INFO, logger=CACHE_LOG)
    assert build_cache(so2sat_copy, tmp_path) == path
    assert _manifest(path)["build_id"] != before
    assert "is stale (source" in caplog.text


@pytest.mark.parametrize("damage", ["truncate_npy", "flip_byte", "bad_json", "no_manifest"])
def test_corrupt_cache_is_rebuilt_not_used(so2sat_dir, tmp_path, caplog, damage):
    path = build_cache(so2sat_dir, tmp_path)
    before = _manifest(path)["build_id"]
    x_file = path / "training_x.npy"
    if damage == "truncate_npy":
        os.truncate(x_file, x_file.stat().st_size - 100)
    elif damage == "flip_byte":
        with open(x_file, "r+b") as f:
            f.seek(x_file.stat().st_size // 2)
            byte = f.read(1)
            f.seek(-1, os.SEEK_CUR)
            f.write(bytes([byte[0] ^ 0xFF]))
    elif damage == "bad_json":
        (path / "manifest.json").write_text('{"format": "nas_assets/so2sat-cache", "vers')
    else:
        (path / "manifest.json").unlink()
    with pytest.raises(So2SatCacheError, match=str(tmp_path)):
        load_cache(path)
    caplog.set_level(logging.INFO, logger=CACHE_LOG)
    assert build_cache(so2sat_dir, tmp_path) == path
    assert "is corrupt" in caplog.text and any(r.levelno == logging.WARNING for r in caplog.records)
    assert _manifest(path)["build_id"] != before
    load_cache(path)  # valid again


def test_prepare_cache_rebuilds_on_bad_checksum(so2sat_dir, tmp_path, caplog):
    path = build_cache(so2sat_dir, tmp_path)
    x_file = path / "testing_y.npy"
    raw = bytearray(x_file.read_bytes())
    raw[-1] ^= 0x01
    x_file.write_bytes(bytes(raw))
    caplog.set_level(logging.INFO, logger=CACHE_LOG)
    cache = prepare_cache(so2sat_dir, tmp_path)
    assert "rebuilding" in caplog.text and cache.path == path


def test_interrupted_build_leaves_no_cache(so2sat_dir, tmp_path, monkeypatch):
    from nas_assets.train.data import cache as cache_module

    def boom(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(cache_module, "_swap_into_place", boom)
    with pytest.raises(KeyboardInterrupt):
        build_cache(so2sat_dir, tmp_path)
    assert [p.name for p in tmp_path.iterdir() if not p.name.endswith(".lock")] == []
    monkeypatch.undo()
    # a build killed outright (no finally) leaves its temp dir; the next build clears it
    (tmp_path / f".{_default_key()}.tmp-dead").mkdir()
    load_cache(build_cache(so2sat_dir, tmp_path))
    assert not list(tmp_path.glob(".*.tmp-*"))


def _default_key() -> str:
    """Directory name of the default (fusion, float16, signed-log, train stats) v2 cache."""
    from nas_assets.train.data.cache import cache_config, cache_key

    return cache_key(cache_config("fusion", NormalisationConfig(), "float16", "v2", None, 0.05, 0))


def test_concurrent_builders_build_once(so2sat_dir, tmp_path, caplog):
    from concurrent.futures import ThreadPoolExecutor

    caplog.set_level(logging.INFO, logger=CACHE_LOG)
    with ThreadPoolExecutor(3) as pool:  # like DDP ranks all calling build_cache at start-up
        paths = list(pool.map(lambda _: build_cache(so2sat_dir, tmp_path), range(3)))
    assert len(set(paths)) == 1 and paths[0].name == _default_key()
    assert caplog.text.count("built So2Sat cache") == 1 and caplog.text.count("reusing") == 2


def test_v3_validation_is_a_stratified_holdout(tmp_path):
    synthesize_so2sat(tmp_path / "v3" / "random", n_train=200, n_val=0, n_test=17, seed=1)
    path = build_cache(tmp_path / "v3", tmp_path / "cache", variant="random",
                       holdout_fraction=0.1, holdout_seed=5)
    cache = load_cache(path)
    assert cache.manifest["layout"] == "v3" and cache.manifest["holdout"] == {"fraction": 0.1, "seed": 5}
    n_train, n_val = len(cache.splits["training"][1]), len(cache.splits["validation"][1])
    assert (n_train, n_val) == (180, 20)
    with h5py.File(tmp_path / "v3" / "random" / "training.h5", "r") as f:
        y = f["label"][()].argmax(axis=1)
    held = stratified_holdout(y, 0.1, 5)
    np.testing.assert_array_equal(cache.splits["validation"][1], y[held])
    np.testing.assert_array_equal(cache.splits["training"][1], y[~held])
    assert (np.bincount(y[~held], minlength=17) >= 1).all()
    # statistics come from the rows left in training only
    x = cache.dequantize(cache.splits["training"][0])
    np.testing.assert_allclose(x.mean(axis=(0, 2, 3)), 0.0, atol=2e-3)
    assert build_cache(tmp_path / "v3", tmp_path / "cache", variant="random", holdout_fraction=0.2) != path


# -- BatchLoader -----------------------------------------------------------------------------


def _indexed(n: int, c: int = 2, hw: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """x[i] is filled with i, so a batch tells which samples it holds."""
    x = np.broadcast_to(np.arange(n, dtype=np.float32)[:, None, None, None], (n, c, hw, hw)).copy()
    return x, np.arange(n) % 17


def _ids(loader: BatchLoader) -> list[int]:
    return [int(v) for xb, _ in loader for v in xb[:, 0, 0, 0]]


def test_loader_covers_every_sample_once_per_epoch():
    x, y = _indexed(103)
    loader = BatchLoader(x, y, 10, seed=1)
    assert len(loader) == 11
    first, second = _ids(loader), _ids(loader)
    assert sorted(first) == sorted(second) == list(range(103))
    assert first != second and loader.epoch == 2
    for xb, yb in loader:
        assert xb.dtype == torch.float32 and yb.dtype == torch.int64 and xb.device.type == "cpu"
        np.testing.assert_array_equal(yb.numpy(), xb[:, 0, 0, 0].long().numpy() % 17)
    assert _ids(BatchLoader(x, y, 10, shuffle=False)) == list(range(103))


@pytest.mark.parametrize(("n", "drop_last"), [(100, False), (101, False), (101, True)])
def test_loader_shards_disjoint_equal_shares(n, drop_last):
    x, y = _indexed(n)
    shards = [BatchLoader(x, y, 8, seed=3, rank=r, world_size=2, drop_last=drop_last) for r in range(2)]
    ids = [_ids(s) for s in shards]
    per_rank = n // 2 if drop_last else -(-n // 2)
    assert all(s.n_samples == per_rank for s in shards)
    assert len(shards[0]) == (per_rank // 8 if drop_last else -(-per_rank // 8))
    assert len(ids[0]) == len(ids[1]) == (len(shards[0]) * 8 if drop_last else per_rank)
    # DistributedSampler's scheme: the epoch permutation, wrapped (or cut) to 2 * per_rank
    # positions, dealt round-robin: rank r gets positions r, r + 2, ...
    order = np.random.default_rng([3, 0]).permutation(n)
    dealt = np.concatenate([order, order])[: 2 * per_rank]
    for rank, shard in enumerate(shards):
        np.testing.assert_array_equal(shard.epoch_indices(0).numpy(), dealt[rank::2])
    if n % 2 == 0 or drop_last:
        assert not set(ids[0]) & set(ids[1])
    if not drop_last:
        assert set(ids[0]) | set(ids[1]) == set(range(n))


def test_loader_seeds_and_set_epoch_reproduce_order():
    x, y = _indexed(50)
    a, b, c = BatchLoader(x, y, 7, seed=5), BatchLoader(x, y, 7, seed=5), BatchLoader(x, y, 7, seed=6)
    epochs_a = [_ids(a) for _ in range(3)]
    assert epochs_a == [_ids(b) for _ in range(3)]
    assert epochs_a[0] != _ids(c)
    resumed = BatchLoader(x, y, 7, seed=5)
    resumed.set_epoch(2)
    assert _ids(resumed) == epochs_a[2] and resumed.epoch == 3
    aug1, aug2 = (BatchLoader(x, y, 7, seed=5, augment=True) for _ in range(2))
    aug2.set_epoch(1)
    next(iter(aug1))
    torch.testing.assert_close(next(iter(aug1))[0], next(iter(aug2))[0])


def test_augmentation_is_flip_plus_shift_with_zero_fill():
    n, c, hw, pad = 64, 3, 8, 2
    x = torch.randn(n, c, hw, hw)
    index, valid = draw_augmentation(n, hw, hw, pad, torch.Generator().manual_seed(0), torch.device("cpu"))
    out = apply_augmentation(x, index, valid)
    seen = set()
    for i in range(n):  # reference: every candidate flip/pad/crop; the output must be one of them
        padded = torch.nn.functional.pad
        matches = []
        for fv in (False, True):
            for fh in (False, True):
                img = x[i].flip(1) if fv else x[i]
                img = img.flip(2) if fh else img
                p = padded(img, (pad, pad, pad, pad))
                for oy in range(2 * pad + 1):
                    for ox in range(2 * pad + 1):
                        if torch.equal(p[:, oy : oy + hw, ox : ox + hw], out[i]):
                            matches.append((fv, fh, oy, ox))
        assert matches, f"sample {i} is not a flipped, padded and cropped copy"
        seen.update(matches)
    assert len({m[:2] for m in seen}) == 4 and len({m[2:] for m in seen}) > 10


def test_augmented_loader_keeps_shapes_and_labels(so2sat_cache):
    plain = BatchLoader.from_cache(so2sat_cache, "training", 16, seed=2)
    aug = BatchLoader.from_cache(so2sat_cache, "training", 16, seed=2, augment=True)
    changed = False
    for (xp, yp), (xa, ya) in zip(plain, aug, strict=True):
        assert xa.shape == xp.shape and xa.shape[1:] == (18, 32, 32) and xa.dtype == torch.float32
        torch.testing.assert_close(ya, yp)
        changed |= not torch.equal(xa, xp)
    assert changed
    x, y = so2sat_cache.splits["training"]
    xb, yb = next(iter(BatchLoader.from_cache(so2sat_cache, "training", 100, shuffle=False)))
    torch.testing.assert_close(xb, torch.from_numpy(so2sat_cache.dequantize(x)))
    np.testing.assert_array_equal(yb.numpy(), y)


def test_loader_decodes_uint8_and_accepts_callables(so2sat_dir, tmp_path):
    cache = load_cache(build_cache(so2sat_dir, tmp_path, dtype="uint8"))
    x, y = cache.splits["validation"]
    with pytest.raises(ValueError, match="dequantize"):
        BatchLoader(x, y, 8)
    want = torch.from_numpy(cache.dequantize(x))
    by_codec = next(iter(BatchLoader(x, y, 64, shuffle=False, dequantize=cache.quantisation)))[0]
    by_method = BatchLoader(x, y, 64, shuffle=False, dequantize=cache.dequantize)
    assert by_method.dequantize is cache.quantisation  # recognised: the fast path
    generic = BatchLoader(x, y, 64, shuffle=False, dequantize=lambda q: cache.dequantize(q))
    by_callable = next(iter(generic))[0]
    torch.testing.assert_close(by_codec, want[:34])
    torch.testing.assert_close(next(iter(by_method))[0], want[:34])
    torch.testing.assert_close(by_callable, want[:34])


def test_accelerator_path_matches_cpu_slices(so2sat_cache):
    """The whole-batch decode used when the data sit on a GPU gives the same batches as the
    sliced CPU path (same draws: augmentation parameters are drawn per batch)."""
    for augment in (False, True):
        cpu = BatchLoader.from_cache(so2sat_cache, "training", 48, seed=4, augment=augment)
        whole = BatchLoader.from_cache(so2sat_cache, "training", 48, seed=4, augment=augment)
        whole.storage = "device"  # the branch a CUDA-resident split takes; the tensor stays on the CPU
        for (xa, ya), (xb, yb) in zip(cpu, whole, strict=True):
            torch.testing.assert_close(xa, xb)
            torch.testing.assert_close(ya, yb)


# -- CLI -------------------------------------------------------------------------------------


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "nas_assets", "data", *args],
                          capture_output=True, text=True, timeout=120)


def test_cli_synth_then_check(tmp_path):
    out = _cli("synth", "--out", str(tmp_path / "s"), "--train", "34", "--val", "17", "--test", "17",
               "--seed", "2")
    assert out.returncode == 0, out.stderr
    assert "training" in out.stdout and (tmp_path / "s" / "validation.h5").exists()
    check = _cli("check", str(tmp_path / "s"))
    assert check.returncode == 0, check.stderr
    assert "v2 layout" in check.stdout and "water" in check.stdout and "S2 B8A" in check.stdout
    quick = _cli("check", str(tmp_path / "s"), "--quick", "--json")
    assert json.loads(quick.stdout)["splits"]["training"]["n_samples"] == 34


def test_cli_check_reports_broken_dir(so2sat_copy):
    _bad_sen2_shape(so2sat_copy)
    out = _cli("check", str(so2sat_copy))
    assert out.returncode == 2
    assert "validation.h5: dataset 'sen2' has shape (10, 32, 32, 9), expected (N, 32, 32, 10)" in out.stderr
    assert "Traceback" not in out.stderr
    missing = _cli("check", str(so2sat_copy / "nowhere"))
    assert missing.returncode == 2 and "not a directory" in missing.stderr


def test_iter_blocks_uses_large_slices(so2sat_dir):
    split = open_split(so2sat_dir / "training.h5")
    starts = [start for start, _ in iter_blocks(split, "sen1", chunk=32)]
    assert starts == [0, 32, 64]
