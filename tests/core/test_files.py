"""Atomic writes (reports, surrogate artifacts)."""

from __future__ import annotations

import os
import stat

import pytest

from nas_assets.core import files


def test_failed_write_keeps_old_file_and_leaves_no_temp(tmp_path, monkeypatch):
    target = tmp_path / "footprint_report.html"
    target.write_text("old")

    def boom(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(files.os, "replace", boom)
    with pytest.raises(OSError, match="disk full"):
        files.atomic_write(target, b"new")
    assert target.read_text() == "old"
    assert os.listdir(tmp_path) == ["footprint_report.html"]


def test_written_file_gets_the_umask_mode(tmp_path):
    umask = os.umask(0o022)
    try:
        path = files.atomic_write(tmp_path / "sub" / "a.txt", "text")
    finally:
        os.umask(umask)
    assert path.read_text() == "text"
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
