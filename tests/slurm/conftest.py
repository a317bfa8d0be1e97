"""The `slurm_cluster` fixture: a real single-node SLURM cluster on this machine (slurm/cluster.sh).

The fixture reuses a running cluster (and leaves it running), or starts one and stops it again by
PID at the end of the session (`bash slurm/cluster.sh stop`). Where SLURM is not installed the tests are
skipped, unless NAS_ASSETS_REQUIRE_SLURM=1 (CI), where that is a failure.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.slurm.slurm_helpers import CLUSTER_SH

DEFAULT_STATE_DIR = Path("/tmp/nas_assets_slurm")


@dataclass(frozen=True)
class SlurmCluster:
    """Where the local cluster lives: its state dir and the slurm.conf clients must use."""

    state_dir: Path
    conf: Path

    @property
    def env(self) -> dict[str, str]:
        """os.environ with SLURM_CONF pointing at this cluster, for subprocesses."""
        return {**os.environ, "SLURM_CONF": str(self.conf)}


def _unavailable(reason: str) -> None:
    """Skip, or fail where the run requires SLURM (NAS_ASSETS_REQUIRE_SLURM=1, as in CI)."""
    message = f"no SLURM cluster reachable: {reason}"
    if os.environ.get("NAS_ASSETS_REQUIRE_SLURM") == "1" or os.environ.get("NAS_ASSETS_REQUIRE_ALL") == "1":
        pytest.fail(f"{message} (NAS_ASSETS_REQUIRE_ALL/NAS_ASSETS_REQUIRE_SLURM=1, so this is an error)",
                    pytrace=False)
    pytest.skip(message)


def _status(env: dict[str, str]) -> tuple[bool, str]:
    """`cluster.sh status`: healthy or not, and what it printed.

    It checks the PID files before asking `sinfo` (which spends 9 s retrying a stopped
    controller), then requires the node to be idle/mixed/allocated in `sinfo` via our SLURM_CONF.
    """
    try:
        proc = subprocess.run(
            ["bash", str(CLUSTER_SH), "status"],
            env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60,
        )
    except subprocess.TimeoutExpired as exc:
        return False, f"cluster.sh status timed out: {exc}"
    return proc.returncode == 0, (proc.stdout + proc.stderr).strip()


@pytest.fixture(scope="session")
def slurm_cluster() -> Iterator[SlurmCluster]:
    """A healthy local cluster, with SLURM_CONF set in os.environ for the whole session."""
    state_dir = Path(os.environ.get("NAS_ASSETS_SLURM_DIR") or DEFAULT_STATE_DIR).resolve()
    cluster = SlurmCluster(state_dir=state_dir, conf=state_dir / "slurm.conf")
    env = cluster.env | {"NAS_ASSETS_SLURM_DIR": str(state_dir)}

    if shutil.which("sbatch") is None and not Path("/usr/sbin/slurmctld").exists():
        _unavailable("SLURM is not installed (no sbatch on PATH, no /usr/sbin/slurmctld); "
                     "run: bash slurm/install_debian.sh && bash slurm/cluster.sh start")

    healthy, status = _status(env)
    started = not healthy
    if not healthy:
        if os.geteuid() != 0:
            _unavailable(f"the cluster at {state_dir} is not up and starting it needs root "
                         f"(sudo bash {CLUSTER_SH} start):\n{status}")
        proc = subprocess.run(
            ["bash", str(CLUSTER_SH), "start"],
            env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=180,
        )
        if proc.returncode != 0:
            pytest.fail(
                f"bash {CLUSTER_SH} start exited {proc.returncode} (state dir {state_dir}):\n"
                f"{proc.stderr[-4000:]}",
                pytrace=False,
            )
        healthy, status = _status(env)
        if not healthy:
            pytest.fail(f"cluster.sh start succeeded but the cluster is unhealthy:\n{status}", pytrace=False)

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SLURM_CONF", str(cluster.conf))
        yield cluster
    if started:  # leave the machine as the session found it: cluster.sh stops the daemons by PID
        subprocess.run(["bash", str(CLUSTER_SH), "stop"], env=env, stdin=subprocess.DEVNULL,
                       capture_output=True, text=True, timeout=180)
