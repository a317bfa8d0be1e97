"""Local trainings divide the machine's CPUs by counting each other's tickets (issue 13, part 2).

Real processes for the tickets (a live ``sleep``, an exited one, this test's own pid); one real
training through the local launcher for the result file.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from nas_assets.launch.local import run_local
from nas_assets.train.cpu_share import (
    TRAININGS_DIR_VAR,
    FreeCpus,
    default_trainings_dir,
    free_cpus,
    idle_cpu_seconds,
    live_trainings,
    process_start_time,
    registered,
    thread_share,
)


@pytest.mark.parametrize("allotted, live, expected", [
    (2, 1, 2),   # alone: the whole machine
    (2, 2, 1),   # two on two cores: one each
    (2, 3, 1),   # never below one
    (8, 3, 2),   # floor: no more threads than cores over all
    (4, 0, 4),   # not registered (a CLI run beside nothing)
])
def test_an_equal_share_of_the_allotted_cpus(allotted, live, expected):
    assert thread_share(allotted, live) == expected


STAT = """cpu  3429878 778 413327 3263381 16415 0 6291 51803 0 0
cpu0 1477741 400 176712 1903779 3915 0 628 27174 0 0
cpu1 1952137 378 236614 1359601 12500 0 5662 24629 0 0
intr 20155658 0 0 0
"""


def test_idle_time_of_this_process_cpus_only():
    tick = os.sysconf("SC_CLK_TCK")
    assert idle_cpu_seconds([1], STAT) == pytest.approx((1359601 + 12500) / tick)
    assert idle_cpu_seconds([0, 1], STAT) == pytest.approx((1903779 + 3915 + 1359601 + 12500) / tick)
    assert idle_cpu_seconds([7], STAT) == 0.0  # not on this machine


@pytest.mark.parametrize("own, idle, wall, expected", [
    (9.5, 0.5, 5.0, 2.0),    # alone on 2 cores: what it used plus what nobody used
    (5.0, 0.0, 5.0, 1.0),    # 2 threads beside 2 busy loops: they took half
    (3.3, 0.0, 5.0, 0.66),   # 1 thread beside 2 busy loops
    (0.0, 0.0, 0.0, 0.0),
])
def test_free_cpus_are_own_use_plus_idle_per_second(own, idle, wall, expected):
    assert free_cpus(own, idle, wall) == pytest.approx(expected)


def test_free_cpus_are_measured_over_a_window():
    meter = FreeCpus()
    assert meter.measure(min_window_s=60) is None  # too short a window: no number
    free = meter.measure(min_window_s=0)
    assert free is not None and 0 <= free <= len(meter.cpus) + 0.5


@pytest.fixture
def sleeper():
    proc = subprocess.Popen(["sleep", "60"])
    yield proc
    proc.kill()
    proc.wait()


def test_only_live_processes_of_this_host_count(tmp_path: Path, sleeper):
    exited = subprocess.Popen(["true"])
    exited.wait()
    with registered(tmp_path), registered(tmp_path, pid=sleeper.pid), registered(tmp_path,
                                                                                 pid=exited.pid) as dead:
        # pid 1 lives, but started at another time than this ticket says: a gone training's pid, reused
        impostor = dead.with_name(dead.name.rsplit("-", 1)[0] + "-1")
        impostor.write_text(f"1 {int(process_start_time(1) or 0) + 1}")
        elsewhere = tmp_path / "other-host-42"
        elsewhere.write_text("42 7")
        assert live_trainings(tmp_path) == 2  # this process and the sleeper
        assert not dead.exists() and not impostor.exists()
        assert elsewhere.exists()  # another host's ticket is not ours to judge
    assert live_trainings(tmp_path) == 0
    assert live_trainings(tmp_path / "absent") == 0


def test_the_ticket_is_removed_at_exit_also_on_an_exception(tmp_path: Path):
    with pytest.raises(RuntimeError, match="training failed"):
        with registered(tmp_path) as ticket:
            assert ticket.exists() and live_trainings(tmp_path) == 1
            raise RuntimeError("training failed")
    assert not ticket.exists() and live_trainings(tmp_path) == 0


def test_the_local_launcher_names_the_directory(tmp_path: Path):
    from nas_assets.defs.launchers import LocalLauncher

    assert LocalLauncher().shared_trainings_dir() == default_trainings_dir()
    assert LocalLauncher(trainings_dir=str(tmp_path)).shared_trainings_dir() == tmp_path
    log = tmp_path / "job.log"
    printed = f"import os; print(os.environ.get({TRAININGS_DIR_VAR!r}))"
    assert run_local([sys.executable, "-c", printed], {}, log, trainings_dir=tmp_path / "t").returncode == 0
    assert log.read_text().strip() == str(tmp_path / "t")


def test_the_thread_share_follows_the_live_trainings(tmp_path: Path, sleeper):
    import torch

    from nas_assets.train.thread_share import ThreadShare

    before = torch.get_num_threads()
    try:
        share = ThreadShare(allotted=4, trainings_dir=tmp_path)
        with registered(tmp_path):
            assert share.update() == 4 == torch.get_num_threads()
            with registered(tmp_path, pid=sleeper.pid):
                assert share.update() == 2 == torch.get_num_threads()
            assert share.update() == 4
    finally:
        torch.set_num_threads(before)


def test_a_launched_training_shares_and_records_its_threads(so2sat_dir: Path, tmp_path: Path, sleeper):
    """Beside one other live training, a trainer allotted 2 CPUs trains with 1 thread and says so."""
    from tests.train.test_training import ARCH, SMALL

    trainings = tmp_path / "trainings"
    out = tmp_path / "runs"
    command = [sys.executable, "-m", "nas_assets.train", "--arch", ARCH, "--data", str(so2sat_dir), "--out",
               str(out),
               "--cache-dir", str(tmp_path / "cache"), "--epochs", "1", "--accelerator", "cpu", *SMALL]
    with registered(trainings, pid=sleeper.pid) as other:
        outcome = run_local(command, {"NAS_ASSETS_CPU_THREADS": "2"}, tmp_path / "train.log",
                            trainings_dir=trainings)
        assert outcome.returncode == 0, (tmp_path / "train.log").read_text()[-2000:]
        assert [p.name for p in trainings.iterdir()] == [other.name]  # the trainer's own ticket is gone
    record = json.loads(next(out.glob("*.json")).read_text())
    steps = record["environment"]["cpu_threads_steps"]
    assert record["environment"]["cpu_threads"] == 2 and list(steps) == ["1"] and steps["1"] > 0
    assert record["run"]["cpu_threads_from"] == "NAS_ASSETS_CPU_THREADS"
