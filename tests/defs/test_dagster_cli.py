"""The Dagster command line and webserver against a real instance directory (subprocesses)."""

from __future__ import annotations

import subprocess

import duckdb

from nas_assets.core.cells.space import SPACE_SIZE
from tests.dagster_server import BIN, REPO, instance_env, webserver


def test_dagster_asset_materialize_cli(tmp_path):
    env = instance_env(tmp_path)
    out = subprocess.run(
        [str(BIN / "dagster"), "asset", "materialize", "-m", "nas_assets.defs",
         "--select", "architecture_space,sampled_architectures"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=600,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    with duckdb.connect(str(tmp_path / "data" / "nas_assets.duckdb"), read_only=True) as conn:
        assert conn.execute("SELECT count(*) FROM architectures").fetchall()[0][0] == SPACE_SIZE
        assert conn.execute("SELECT count(*) FROM sampled_architectures").fetchall()[0][0] > 0


def test_webserver_serves_the_workspace(tmp_path):
    with webserver(instance_env(tmp_path), tmp_path / "webserver.log") as server:
        nodes = server.wait_for_assets(timeout=60)
    keys = {tuple(n["assetKey"]["path"]) for n in nodes}
    assert {("architecture_space",), ("sampled_architectures",)} <= keys
