"""A real ``dagster-webserver`` for tests: an instance directory, a free loopback port, GraphQL.

Shared by the command-line tests (``tests/defs/test_dagster_cli.py``) and the browser tests
(``tests/ui``). The server runs in its own process group, which :func:`webserver` kills on exit
(``dagster-webserver`` leaves worker processes behind otherwise).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent

#: Variables that choose what the pipeline does (profile, training preset, real data, devices);
#: dropped from the environment of test instances so a developer's shell cannot change them.
_PIPELINE_VARS = ("NAS_ASSETS_PROFILE", "NAS_ASSETS_TRAINING", "NAS_ASSETS_SO2SAT_DIR",
                  "NAS_ASSETS_SLURM_CONFIG", "NAS_ASSETS_DEVICES", "NAS_ASSETS_ACCELERATOR",
                  "NAS_ASSETS_DATA_DIR", "NAS_ASSETS_DB", "NAS_ASSETS_BATCH")


def instance_env(root: Path, *, db: Path | None = None, create: bool = True) -> dict[str, str]:
    """os.environ for an instance under ``root``: ``root/dagster_home`` (created with the repo's
    dagster.yaml unless ``create`` is false) and ``root/data``; the DuckDB file at ``db`` if given
    (else the data dir's)."""
    home = root / "dagster_home"
    if create:
        home.mkdir(parents=True)
        shutil.copy(REPO / "dagster_home" / "dagster.yaml", home / "dagster.yaml")
    env = {k: v for k, v in os.environ.items() if k not in _PIPELINE_VARS}
    env.update(DAGSTER_HOME=str(home), NAS_ASSETS_DATA_DIR=str(root / "data"))
    if db is not None:
        env["NAS_ASSETS_DB"] = str(db)
    return env


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class GraphQLError(AssertionError):
    pass


@dataclass(frozen=True)
class Webserver:
    """A running webserver: its base URL, process and log file."""

    url: str
    proc: subprocess.Popen
    log: Path

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self.log.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def graphql(self, query: str, variables: dict | None = None, timeout: float = 60) -> dict:
        """POST ``query`` to /graphql; the ``data`` of the answer (errors raise GraphQLError)."""
        body = json.dumps({"query": query, "variables": variables or {}}).encode()
        req = urllib.request.Request(f"{self.url}/graphql", data=body,
                                     headers={"Content-Type": "application/json"})
        try:
            answer = json.loads(urllib.request.urlopen(req, timeout=timeout).read())
        except urllib.error.HTTPError as exc:
            raise GraphQLError(f"HTTP {exc.code} from /graphql: {exc.read()[:2000]!r}") from None
        if answer.get("errors"):
            raise GraphQLError(f"GraphQL errors: {json.dumps(answer['errors'])[:3000]}")
        return answer["data"]

    def wait_for_assets(self, timeout: float = 90) -> list[dict]:
        """The code location loads after the server answers: poll until it lists asset nodes."""
        deadline = time.monotonic() + timeout
        while True:
            nodes = self.graphql("{ assetNodes { assetKey { path } groupName } }")["assetNodes"]
            if nodes:
                return nodes
            if time.monotonic() > deadline:
                raise AssertionError(f"no asset nodes after {timeout:.0f} s; webserver "
                                     f"log:\n{self.log_tail()}")
            time.sleep(0.5)


@contextmanager
def webserver(env: dict[str, str], log: Path, *, startup_timeout: float = 90) -> Iterator[Webserver]:
    """``dagster-webserver -w workspace.yaml`` (repo root) on a free loopback port, in its own
    process group; waits until ``/server_info`` answers and kills the group on exit."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [str(BIN / "dagster-webserver"), "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(port)],
            cwd=REPO, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = Webserver(url=url, proc=proc, log=log)
    try:
        deadline = time.monotonic() + startup_timeout
        while True:
            try:
                urllib.request.urlopen(f"{url}/server_info", timeout=2).read()
                break
            except OSError:
                if proc.poll() is not None:
                    raise AssertionError(
                        f"webserver exited with {proc.returncode}:\n{server.log_tail()}") from None
                if time.monotonic() > deadline:
                    raise AssertionError(
                        f"webserver did not answer /server_info in {startup_timeout:.0f} "
                        f"s:\n{server.log_tail()}"
                    ) from None
                time.sleep(0.5)
        yield server
    finally:
        _kill_group(proc)


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        pass
    try:  # workers the server started (code-server subprocesses) may outlive it
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()
