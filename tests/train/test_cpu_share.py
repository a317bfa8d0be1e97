"""Local trainings divide the machine's CPUs by counting each other's tickets (issue 13, part 2).

Real processes for the tickets (a live ``sleep``, an exited one, this test's own pid); one real
training through the local launcher for the result file.
"""

from __future__ import annotations

import contextlib
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
    proc = subprocess.Popen(["sleep", "3600"])  # killed at teardown; outlives slow trainings
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


@pytest.mark.parametrize("value, mode", [(None, "adaptive"), ("", "adaptive"), ("adaptive", "adaptive"),
                                         ("fixed", "fixed")])
def test_the_sharing_mode_comes_from_the_environment(value, mode):
    from nas_assets.train.cpus import SHARING_VAR, cpu_sharing

    assert cpu_sharing({} if value is None else {SHARING_VAR: value}) == mode
    expected = r"^NAS_ASSETS_CPU_SHARING='yes': expected one of \('adaptive', 'fixed'\)$"
    with pytest.raises(ValueError, match=expected):
        cpu_sharing({SHARING_VAR: "yes"})


def test_fixed_threads_ignore_the_other_trainings(tmp_path: Path, sleeper):
    import torch

    from nas_assets.train.thread_share import ThreadShare

    before = torch.get_num_threads()
    try:
        share = ThreadShare(allotted=4, trainings_dir=tmp_path, fixed=True)
        with registered(tmp_path), registered(tmp_path, pid=sleeper.pid):
            assert share.update() == 4 == torch.get_num_threads()
        assert share.mode == "fixed"
    finally:
        torch.set_num_threads(before)


def test_fixed_sharing_trains_the_same_weights_beside_another_training(so2sat_dir: Path, tmp_path: Path,
                                                                        sleeper):
    """The same training alone and beside another live training. With adaptive sharing (the
    default), a trainer allotted 2 CPUs runs 1 thread beside the other, says so in its result, and
    its metrics differ in the last digits (the reductions run in another order); with
    ``NAS_ASSETS_CPU_SHARING=fixed`` it runs 2 threads either way and the metrics agree exactly."""
    from tests.train.test_training import ARCH, SMALL

    def train(name: str, sharing: str, beside: bool) -> dict:
        trainings, out = tmp_path / f"trainings-{name}", tmp_path / f"runs-{name}"
        command = [sys.executable, "-m", "nas_assets.train", "--arch", ARCH, "--data", str(so2sat_dir),
                   "--out", str(out), "--cache-dir", str(tmp_path / "cache"), "--epochs", "1",
                   "--accelerator", "cpu", *SMALL]
        env = {"NAS_ASSETS_CPU_THREADS": "2", "NAS_ASSETS_CPU_SHARING": sharing}
        with registered(trainings, pid=sleeper.pid) if beside else contextlib.nullcontext() as other:
            outcome = run_local(command, env, tmp_path / f"{name}.log", trainings_dir=trainings)
            assert outcome.returncode == 0, (tmp_path / f"{name}.log").read_text()[-2000:]
            # the trainer's own ticket is gone, the other's stays
            assert [p.name for p in trainings.iterdir()] == ([other.name] if beside else [])
        return json.loads(next(out.glob("*.json")).read_text())

    alone = train("alone", "fixed", beside=False)
    fixed = train("fixed", "fixed", beside=True)
    adaptive = train("adaptive", "adaptive", beside=True)
    assert fixed["environment"]["cpu_sharing"] == "fixed"
    assert fixed["environment"]["cpu_threads_steps"] == alone["environment"]["cpu_threads_steps"]
    assert list(alone["environment"]["cpu_threads_steps"]) == ["2"]
    assert list(adaptive["environment"]["cpu_threads_steps"]) == ["1"]
    assert adaptive["environment"]["cpu_threads"] == 2
    assert adaptive["environment"]["cpu_sharing"] == "adaptive"
    assert adaptive["run"]["cpu_threads_from"] == "NAS_ASSETS_CPU_THREADS"

    def metrics(record: dict) -> list[dict]:  # the budget records without their timings
        return [{k: v for k, v in budget.items() if "seconds" not in k} for budget in record["budgets"]]

    assert metrics(fixed) == metrics(alone)
    assert metrics(adaptive) != metrics(alone)
