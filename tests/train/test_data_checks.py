"""So2Sat splits that cannot be trained on are refused where they are first read -- ``data check``,
the cache build (the trainer and the dataset step) -- naming the file, and the band."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import h5py
import pytest
from dagster import materialize

from nas_assets.defs.resources import So2SatDataResource
from nas_assets.defs.training_assets import so2sat_dataset
from nas_assets.train.data import So2SatLayoutError, build_cache, find_splits
from nas_assets.train.data.layout import open_split
from tests.unprivileged import call_unprivileged, shared_dir


def _rewrite(path: Path, rows: slice = slice(None), sen2_band: tuple[int, float] | None = None) -> None:
    """Rewrite a split file keeping ``rows``, optionally with one S2 band set to a constant."""
    with h5py.File(path, "r") as f:
        data = {name: f[name][rows] for name in f}
    if sen2_band is not None:
        data["sen2"][..., sen2_band[0]] = sen2_band[1]
    path.unlink()
    with h5py.File(path, "w") as f:
        for name, array in data.items():
            f.create_dataset(name, data=array)


def data_check(directory: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "nas_assets", "data", "check", str(directory), *args],
                          capture_output=True, text=True, timeout=300)


EMPTY = ("validation.h5: holds 0 samples (sen1, sen2 and label have N = 0); expected at least one "
         "sample in every split")
CONSTANT = ("validation.h5: dataset 'sen2' band 3 (B5) has the value 0.25 in every pixel of all 34 samples; "
            "expected values that vary across the split")


def materialize_dataset(directory: Path, cache: Path):
    return materialize([so2sat_dataset], resources={"data": So2SatDataResource(path=str(directory),
                                                                              cache_dir=str(cache))},
                       raise_on_error=False)


def failure(result) -> str:
    return str(next(e for e in result.all_events
                    if e.event_type_value == "STEP_FAILURE").event_specific_data.error)


def test_empty_validation_split_is_refused_everywhere(so2sat_copy, tmp_path):
    _rewrite(so2sat_copy / "validation.h5", rows=slice(0, 0))
    for args in ((), ("--quick",)):
        out = data_check(so2sat_copy, *args)
        assert out.returncode == 2 and EMPTY in out.stderr and "ok:" not in out.stdout
    with pytest.raises(So2SatLayoutError, match=re.escape(EMPTY)):
        build_cache(so2sat_copy, tmp_path / "cache")  # what the standalone trainer builds before training
    result = materialize_dataset(so2sat_copy, tmp_path / "cache")
    assert not result.success and EMPTY in failure(result)
    assert not [p for p in (tmp_path / "cache").iterdir() if not p.name.endswith(".lock")]  # no cache left


def test_constant_band_is_refused_naming_file_and_band(so2sat_copy, tmp_path):
    _rewrite(so2sat_copy / "validation.h5", sen2_band=(3, 0.25))
    out = data_check(so2sat_copy)
    assert out.returncode == 2 and CONSTANT in out.stderr
    with pytest.raises(So2SatLayoutError, match=re.escape(CONSTANT)):
        build_cache(so2sat_copy, tmp_path / "cache", sensor="s2")
    result = materialize_dataset(so2sat_copy, tmp_path / "cache")
    assert not result.success and CONSTANT in failure(result)


def test_constant_training_band_names_the_file(so2sat_copy, tmp_path):
    _rewrite(so2sat_copy / "training.h5", sen2_band=(0, 0.5))
    with pytest.raises(So2SatLayoutError,
                       match=r"training\.h5: dataset 'sen2' band 0 \(B2\) has the value 0\.5"):
        build_cache(so2sat_copy, tmp_path / "cache")


def test_standalone_trainer_refuses_an_empty_validation_split(so2sat_copy, tmp_path):
    from .test_training import train_cli

    _rewrite(so2sat_copy / "validation.h5", rows=slice(0, 0))
    out = train_cli(so2sat_copy, tmp_path / "runs", "--epochs", "1", "--cache-dir", str(tmp_path / "cache"))
    assert out.returncode == 2 and EMPTY in out.stderr
    assert not list((tmp_path / "runs").glob("*.json"))


def test_dangling_link_and_directory_are_not_reported_as_missing(so2sat_copy):
    (so2sat_copy / "testing.h5").unlink()
    (so2sat_copy / "testing.h5").symlink_to(so2sat_copy / "gone.h5")
    with pytest.raises(So2SatLayoutError,
                       match=r"testing\.h5: a symbolic link to .*gone\.h5, which does not exist; "
                             r"expected the HDF5 file testing\.h5 \(fix or remove the link\)"):
        find_splits(so2sat_copy)
    (so2sat_copy / "testing.h5").unlink()
    (so2sat_copy / "testing.h5").mkdir()
    with pytest.raises(So2SatLayoutError,
                       match=r"testing\.h5: is a directory; expected the HDF5 file testing\.h5"):
        find_splits(so2sat_copy)
    # a validation.h5 directory used to turn a v2 directory silently into a v3 one
    shutil.rmtree(so2sat_copy / "testing.h5")
    shutil.move(so2sat_copy / "validation.h5", so2sat_copy / "testing.h5")
    (so2sat_copy / "validation.h5").mkdir()
    out = data_check(so2sat_copy, "--quick")
    assert out.returncode == 2 and (
        "validation.h5: is a directory; expected the HDF5 file validation.h5" in out.stderr)


def test_unreadable_file_is_reported_as_a_permission_problem(so2sat_dir):
    with shared_dir() as root:
        path = Path(shutil.copy(so2sat_dir / "testing.h5", root / "testing.h5"))
        path.chmod(0o000)
        text = call_unprivileged(lambda: open_split(path))
    assert text == (f"So2SatLayoutError: {path}: permission denied; this user cannot read the file "
                    "(give read access, e.g. chmod a+r)"), text
    assert "damaged" not in text
