"""Fixtures of the UI tests: the demo pipeline in a fresh instance, a webserver on it, a real browser.

``demo_instance`` runs ``python -m nas_assets demo`` once per session (minutes: every test that
uses it is marked ``slow``; NAS_ASSETS_UI_DEMO_DIR=<dir> reuses the instance a finished one left);
``ui_server`` serves that instance with ``dagster-webserver``; ``browser`` is Debian's ``chromium``
driven by Playwright (never a browser Playwright downloads: ``.ci/run`` installs the package).
What the tests expect comes from ``nas_assets.defs.definitions.defs`` at test time, so new assets
and checks are covered as they land.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.dagster_server import REPO, Webserver, instance_env, webserver
from tests.ui.ui_helpers import Expected

#: Enough for the demo on 2 busy cores (about 4 minutes on 2 idle ones).
DEMO_TIMEOUT_S = 3600
#: Where the demo puts its DuckDB file, relative to its directory.
DEMO_DB = Path("store") / "nas_assets.duckdb"
#: A directory a previous session's demo left (``<pytest tmp>/demo0``): reuse it instead of running
#: the demo again (for working on the UI tests, or regenerating the documentation's screenshots).
REUSE_DEMO_VAR = "NAS_ASSETS_UI_DEMO_DIR"
#: Large enough that Dagster draws full asset nodes (zoom >= 0.6) with untruncated names.
VIEWPORT = {"width": 2400, "height": 1350}


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test that needs the demo pipeline is slow (also for ``-m "not slow"`` selection)."""
    for item in items:
        if "demo_instance" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.slow)


@dataclass(frozen=True)
class DemoInstance:
    """A Dagster instance the demo pipeline ran in, and what the demo printed."""

    home: Path  # DAGSTER_HOME
    data_dir: Path  # NAS_ASSETS_DATA_DIR
    db: Path  # NAS_ASSETS_DB
    env: dict[str, str] = field(repr=False)  # the environment the demo ran with (use it for servers)
    stdout: str = field(repr=False)
    stderr: str = field(repr=False)
    seconds: float = 0.0


@pytest.fixture(scope="session")
def demo_instance(tmp_path_factory: pytest.TempPathFactory) -> DemoInstance:
    """``python -m nas_assets demo`` in a temporary DAGSTER_HOME / NAS_ASSETS_DATA_DIR / NAS_ASSETS_DB."""
    reuse = os.environ.get(REUSE_DEMO_VAR)
    if reuse:
        return _reused_demo(Path(reuse).resolve())
    root = tmp_path_factory.mktemp("demo")
    db = root / DEMO_DB
    db.parent.mkdir()
    env = instance_env(root, db=db)
    t0 = time.monotonic()
    # its own process group, so a timeout (or an interrupted session) also ends its training processes
    proc = subprocess.Popen([sys.executable, "-m", "nas_assets", "demo"], cwd=REPO, env=env,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)
    try:
        stdout, stderr = proc.communicate(timeout=DEMO_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        stdout, stderr = proc.communicate()
        pytest.fail(f"`python -m nas_assets demo` ran over {DEMO_TIMEOUT_S} s; stdout:\n{stdout[-3000:]}\n"
                    f"stderr:\n{stderr[-3000:]}", pytrace=False)
    except BaseException:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        raise
    seconds = time.monotonic() - t0
    (root / "demo.stdout").write_text(stdout)
    (root / "demo.stderr").write_text(stderr)
    assert proc.returncode == 0, (
        f"`python -m nas_assets demo` exited with {proc.returncode} after {seconds:.0f} s\n"
        f"stdout:\n{stdout[-3000:]}\nstderr:\n{stderr[-5000:]}"
    )
    return DemoInstance(home=Path(env["DAGSTER_HOME"]), data_dir=Path(env["NAS_ASSETS_DATA_DIR"]), db=db,
                        env=env, stdout=stdout, stderr=stderr, seconds=seconds)


def _reused_demo(root: Path) -> DemoInstance:
    """The instance a previous session's demo left in ``root`` (its tmp dir ``demo0``)."""
    if not (root / "demo.stdout").is_file() or not (root / "dagster_home" / "dagster.yaml").is_file():
        pytest.fail(f"{REUSE_DEMO_VAR}={root}: not the directory of a finished demo (demo.stdout, "
                    "dagster_home/dagster.yaml)", pytrace=False)
    env = instance_env(root, db=root / DEMO_DB, create=False)
    return DemoInstance(home=root / "dagster_home", data_dir=root / "data", db=root / DEMO_DB, env=env,
                        stdout=(root / "demo.stdout").read_text(), stderr=(root / "demo.stderr").read_text())


@pytest.fixture(scope="session")
def ui_server(demo_instance: DemoInstance, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Webserver]:
    """``dagster-webserver -w workspace.yaml`` on loopback, serving the demo's instance, code loaded."""
    log = tmp_path_factory.mktemp("webserver") / "webserver.log"
    with webserver(demo_instance.env, log) as server:
        server.wait_for_assets()
        yield server


@pytest.fixture(scope="session")
def expected() -> Expected:
    from nas_assets.defs.definitions import defs

    graph = defs.resolve_asset_graph()
    keys = sorted(graph.materializable_asset_keys, key=lambda k: k.to_user_string())
    return Expected(
        assets=[k.to_user_string() for k in keys],
        checks=sorted((c.asset_key.to_user_string(), c.name) for c in graph.asset_check_keys),
        partitions={k.to_user_string(): graph.get(k).partitions_def
                    for k in keys if graph.get(k).partitions_def},
    )


@pytest.fixture(scope="session")
def browser():
    """Debian's chromium, headless, through Playwright's sync API (no downloaded browser)."""
    executable = shutil.which("chromium")
    if executable is None:
        message = ("chromium is not installed: the UI browser tests drive Debian's `chromium` package "
                   "(sudo make test installs it)")
        if os.environ.get("NAS_ASSETS_REQUIRE_ALL") == "1":
            pytest.fail(f"{message}; NAS_ASSETS_REQUIRE_ALL=1, so this is an error", pytrace=False)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        # --no-sandbox: CI runs as root; --disable-dev-shm-usage: containers have a small /dev/shm
        browser = pw.chromium.launch(executable_path=executable, headless=True,
                                     args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"])
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    """A fresh browser context and page (no Dagster "join the community" dialog)."""
    context = browser.new_context(viewport=VIEWPORT)
    context.set_default_timeout(60_000)
    # the dialog Dagster shows on localhost until dismissed (key of its useStateWithStorage)
    context.add_init_script("window.localStorage.setItem('communityNux', JSON.stringify('1'));")
    page = context.new_page()
    yield page
    context.close()
