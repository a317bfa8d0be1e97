"""At most one trainer per partition: it dies with its launcher, and a second one waits for it.

Real processes throughout: a launcher process running :func:`run_local`, real trainers, SIGKILL.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from nas_assets.train.partition_lock import claim, holder, lock_path

from .test_training import ARCH, SMALL, SPEC

LAUNCHER = ("import sys; from pathlib import Path; from nas_assets.launch.local import run_local; "
            "run_local(sys.argv[2:], {}, Path(sys.argv[1]))")


def _alive(pid: int) -> bool:
    """Running (a zombie left for an init that does not reap counts as gone)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False
    return state != "Z"


def _wait(predicate, timeout: float, what: str, poll: float = 0.05) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, what
        time.sleep(poll)


def test_sigkilled_launcher_takes_its_trainer_along(so2sat_dir, tmp_path):
    out = tmp_path / "runs"
    train = [sys.executable, "-m", "nas_assets.train", "--arch", ARCH, "--data", str(so2sat_dir),
             "--out", str(out),
             "--cache-dir", str(tmp_path / "cache"), "--epochs", "1,2,3", *SMALL]
    # the launcher's own group stands for the Dagster process group a person (or the OOM killer) kills
    launcher = subprocess.Popen([sys.executable, "-c", LAUNCHER, str(tmp_path / "train.log"), *train],
                                start_new_session=True)
    lock = lock_path(out, SPEC.arch_hash)
    try:
        _wait(lambda: holder(lock) not in (None, -1), 120, "the trainer never took the partition's lock")
        trainer = holder(lock)
        assert trainer != launcher.pid and _alive(trainer)
        os.killpg(launcher.pid, signal.SIGKILL)
        launcher.wait()
        # gone, and the kernel released its lock (a dying process's threads may hold it a moment longer)
        _wait(lambda: not _alive(trainer) and holder(lock) is None, 30,
              f"trainer {trainer} outlived its SIGKILLed launcher (orphaned)")
    finally:
        if launcher.poll() is None:
            os.killpg(launcher.pid, signal.SIGKILL)
            launcher.wait()
    assert not (out / f"{SPEC.arch_hash}.json").exists()


def test_a_second_trainer_waits_for_the_live_one_and_reuses_its_result(so2sat_dir, tmp_path):
    out = tmp_path / "runs"
    result = out / f"{SPEC.arch_hash}.json"
    go = tmp_path / "go"
    base = [sys.executable, "-m", "nas_assets.train", "--arch", ARCH, "--data", str(so2sat_dir),
            "--out", str(out), "--epochs", "1", "--cache-dir", str(tmp_path / "cache"), *SMALL]
    # the result the live "trainer" will deliver: a real one of the same configuration, made beforehand
    made = tmp_path / "made"
    done = subprocess.run([*[a if a != str(out) else str(made) for a in base]], capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    # a live "trainer" holding the partition: once told to, it delivers the result and ends
    first = subprocess.Popen([sys.executable, "-c",
                              "import shutil, sys, time; from pathlib import Path; "
                              "from nas_assets.train.partition_lock import claim; "
                              "claim(Path(sys.argv[1]), sys.argv[2]); print('held', flush=True)\n"
                              "while not Path(sys.argv[4]).exists(): time.sleep(0.05)\n"
                              "shutil.copy(sys.argv[5], sys.argv[3])",
                              str(out), SPEC.arch_hash, str(result), str(go), str(made / result.name)],
                             stdout=subprocess.PIPE, text=True)
    assert first.stdout.readline().strip() == "held"
    refused = subprocess.run([*base, "--lock-wait", "0.5"], capture_output=True, text=True, timeout=120)
    assert refused.returncode == 3, refused.stderr
    assert f"another trainer (pid {first.pid})" in refused.stderr and f"kill {first.pid}" in refused.stderr
    log = tmp_path / "second.log"
    with open(log, "w") as handle:
        second = subprocess.Popen(base, stdout=handle, stderr=subprocess.STDOUT)
    _wait(lambda: f"trainer pid {first.pid} holds" in log.read_text(), 120, "the second trainer did not wait")
    assert second.poll() is None
    go.touch()
    assert second.wait(timeout=120) == 0, log.read_text()
    first.wait()
    assert "exists with the same configuration; nothing to do" in log.read_text()
    # the first one's result, not a second training's
    assert json.loads(result.read_text()) == json.loads((made / result.name).read_text())
    assert not lock_path(out, SPEC.arch_hash).exists()  # removed by the holder that ended normally


def test_lock_of_a_killed_holder_is_free_at_once(tmp_path):
    holder_proc = subprocess.Popen([sys.executable, "-c",
                                    "import sys, time; from pathlib import Path; "
                                    "from nas_assets.train.partition_lock import claim; "
                                    "claim(Path(sys.argv[1]), 'h'); print('held', flush=True); "
                                    "time.sleep(60)",
                                    str(tmp_path)], stdout=subprocess.PIPE, text=True)
    assert holder_proc.stdout.readline().strip() == "held"
    assert holder(lock_path(tmp_path, "h")) == holder_proc.pid
    holder_proc.kill()
    holder_proc.wait()
    mine = claim(tmp_path, "h", wait_s=0)  # no wait: the kernel released it with the process
    assert holder(lock_path(tmp_path, "h")) == os.getpid()
    mine.release()
    assert not lock_path(tmp_path, "h").exists()
