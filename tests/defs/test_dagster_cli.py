"""The Dagster command line and webserver against a real instance directory (subprocesses)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import duckdb

from nas_assets.core.space import SPACE_SIZE

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def _env(tmp_path: Path) -> dict:
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(REPO / "dagster_home" / "dagster.yaml", home / "dagster.yaml")
    return {**os.environ, "DAGSTER_HOME": str(home), "NAS_ASSETS_DATA_DIR": str(tmp_path / "data")}


def test_dagster_asset_materialize_cli(tmp_path):
    env = _env(tmp_path)
    out = subprocess.run(
        [str(BIN / "dagster"), "asset", "materialize", "-m", "nas_assets.defs",
         "--select", "architecture_space,sampled_architectures"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=600,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    with duckdb.connect(str(tmp_path / "data" / "nas_assets.duckdb"), read_only=True) as conn:
        assert conn.execute("SELECT count(*) FROM architectures").fetchall()[0][0] == SPACE_SIZE
        assert conn.execute("SELECT count(*) FROM sampled_architectures").fetchall()[0][0] > 0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_webserver_serves_the_workspace(tmp_path):
    env = _env(tmp_path)
    port = _free_port()
    proc = subprocess.Popen(
        [str(BIN / "dagster-webserver"), "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(port)],
        cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/server_info", timeout=2).read()
                break
            except OSError:
                assert time.monotonic() < deadline, "webserver did not answer /server_info in 90 s"
                assert proc.poll() is None, "webserver exited"
                time.sleep(0.5)
        query = json.dumps({"query": "{ assetNodes { assetKey { path } groupName } }"}).encode()
        deadline = time.monotonic() + 60
        while True:  # the code location loads asynchronously after the server answers
            req = urllib.request.Request(
                f"http://127.0.0.1:{port}/graphql", data=query, headers={"Content-Type": "application/json"}
            )
            nodes = json.loads(urllib.request.urlopen(req, timeout=10).read())["data"]["assetNodes"]
            if nodes or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        keys = {tuple(n["assetKey"]["path"]) for n in nodes}
        assert {("architecture_space",), ("sampled_architectures",)} <= keys
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
