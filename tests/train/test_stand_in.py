"""The synthetic stand-in appears whole or not at all; a killed generation is redone (real SIGKILL)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time

import pytest
from dagster import materialize

from nas_assets.defs.resources import So2SatDataResource
from nas_assets.defs.training_assets import so2sat_dataset
from nas_assets.train.data.stand_in import ensure_stand_in

from .conftest import TINY

GENERATE = ("import sys; from nas_assets.train.data.stand_in import ensure_stand_in; "
            "ensure_stand_in(sys.argv[1], n_train=400, n_val=400, n_test=400, seed=0)")


def _wait_for(predicate, proc: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert proc.poll() is None, "the generator ended before the moment to kill it"
        assert time.monotonic() < deadline, "the moment to kill never came"
        time.sleep(0.02)


def test_killed_generation_leaves_nothing_and_is_redone(tmp_path):
    target = tmp_path / "so2sat_synthetic"
    proc = subprocess.Popen([sys.executable, "-c", GENERATE, str(target)])
    try:  # kill after the first file is complete, while the second is being written
        _wait_for(lambda: any(tmp_path.glob(".so2sat_synthetic.tmp-*/training.h5")), proc)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
    assert not target.exists(), "a killed generation left a partial dataset in place"
    assert ensure_stand_in(target, seed=0, **TINY) is True
    assert sorted(p.name for p in target.iterdir()) == ["testing.h5", "training.h5", "validation.h5"]
    assert not list(tmp_path.glob(".so2sat_synthetic.tmp-*")), "leftovers of the killed generation remain"
    assert ensure_stand_in(target, seed=0, **TINY) is False  # complete: reused


def test_dataset_step_replaces_what_an_old_killed_generation_left(so2sat_dir, tmp_path):
    # what the file-by-file generator left after a kill: the first file and a temp of the second
    target = tmp_path / "so2sat_synthetic"
    target.mkdir()
    shutil.copy(so2sat_dir / "training.h5", target / "training.h5")
    (target / ".validation.h5.4242.tmp").write_bytes(b"\x89HDF\r\n")
    data = So2SatDataResource(path=str(target), cache_dir=str(tmp_path / "cache"), synthetic=True,
                              synthetic_train=TINY["n_train"], synthetic_val=TINY["n_val"],
                              synthetic_test=TINY["n_test"])
    result = materialize([so2sat_dataset], resources={"data": data})
    assert result.success
    assert result.asset_materializations_for_node(
        "so2sat_dataset")[0].metadata["synthetic_generated_now"].value
    assert sorted(p.name for p in target.iterdir()) == ["testing.h5", "training.h5", "validation.h5"]


def test_foreign_files_are_never_deleted(tmp_path):
    target = tmp_path / "mine"
    target.mkdir()
    (target / "notes.txt").write_text("keep me")
    with pytest.raises(FileExistsError, match="notes.txt"):
        ensure_stand_in(target, seed=0, **TINY)
    assert (target / "notes.txt").read_text() == "keep me"
