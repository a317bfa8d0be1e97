"""Atomic writes (reports, surrogate artifacts)."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

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


def _dead_pid() -> int:
    """The pid of a process that has ended (and been reaped)."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_staged_copies_of_dead_writers_are_removed_and_live_ones_kept(tmp_path):
    target = tmp_path / "index.json"
    dead, live = _dead_pid(), os.getpid()
    left = [tmp_path / f".index.json.{dead}-abc123de.tmp", tmp_path / f".index.json.{dead}-0f0f0f0f.old"]
    left[0].write_text("half")
    left[1].mkdir()
    (left[1] / "member_0.ubj").write_bytes(b"x")
    kept = [tmp_path / f".index.json.{live}-abc123de.tmp",  # a live writer's (here: this process)
            tmp_path / f".index.jsonl.{dead}-abc123de.tmp",  # another file's
            tmp_path / f".index.json.{dead}.tmp"]  # not a name this module makes
    for path in kept:
        path.write_text("keep")
    assert sorted(files.remove_dead_temps(target)) == sorted(left)
    files.atomic_write(target, "{}")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["index.json", *(p.name for p in kept)])


def test_atomic_write_removes_what_a_killed_writer_left(tmp_path):
    target = tmp_path / "report.html"
    # a writer SIGKILLed between creating its staged file and renaming it
    code = ("import os, sys, tempfile; from nas_assets.core import files; "
            "fd, tmp = tempfile.mkstemp(dir=sys.argv[1], prefix=f'.report.html.{os.getpid()}-', "
            "suffix='.tmp'); "
            "os.write(fd, b'half'); print(tmp, flush=True); os.kill(os.getpid(), 9)")
    killed = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True)
    assert killed.returncode == -9 and Path(killed.stdout.strip()).exists()
    files.atomic_write(target, "whole")
    assert [p.name for p in tmp_path.iterdir()] == ["report.html"]


def test_replace_dir_swaps_whole_directories(tmp_path):
    final, staged = tmp_path / "v1", files.staged_path(tmp_path / "v1")
    final.mkdir()
    (final / "old.txt").write_text("old")
    staged.mkdir()
    (staged / "new.txt").write_text("new")
    files.replace_dir(staged, final)
    assert [p.name for p in tmp_path.iterdir()] == ["v1"] and [p.name for p in final.iterdir()] == ["new.txt"]
