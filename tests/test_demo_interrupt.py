"""Ctrl-C during ``python -m nas_assets demo`` leaves a consistent store and no stray processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from nas_assets.core import store
from tests.dagster_server import REPO, instance_env


def _children(pgid: int) -> list[str]:
    out = subprocess.run(["ps", "-eo", "pgid=,args="], capture_output=True, text=True).stdout
    return [line for line in out.splitlines() if line.split(None, 1)[0] == str(pgid)]


@pytest.mark.slow
def test_ctrl_c_during_training_leaves_a_consistent_store(tmp_path):
    env = instance_env(tmp_path)
    # a new session: Ctrl-C in a terminal signals the whole foreground process group, so do we
    proc = subprocess.Popen([sys.executable, "-m", "nas_assets", "demo"], cwd=REPO, env=env,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True)
    seen = []
    try:
        for line in proc.stdout:
            seen.append(line)
            if "[ 2/" in line:  # one architecture trained, the second one training now
                break
        else:
            pytest.fail("the demo ended before training:\n" + "".join(seen))
        time.sleep(3)
        os.killpg(proc.pid, signal.SIGINT)
        proc.wait(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode != 0
    time.sleep(1)
    assert _children(proc.pid) == [], "training processes outlived the interrupted demo"
    db = tmp_path / "data" / "nas_assets.duckdb"
    with store.connect(db) as conn:  # opens for writing: no lock left behind, schema intact
        runs = conn.execute("SELECT count(*) FROM training_runs").fetchall()[0][0]
        budgets = conn.execute("SELECT count(DISTINCT arch_hash), count(*) FROM budget_metrics").fetchall()[0]
        classes = conn.execute("SELECT count(*) FROM class_metrics").fetchall()[0][0]
        space = conn.execute("SELECT count(*) FROM architectures").fetchall()[0][0]
    assert space == 423_624
    assert runs >= 1 and budgets == (runs, 4 * runs) and classes == 4 * 17 * runs  # whole runs only
