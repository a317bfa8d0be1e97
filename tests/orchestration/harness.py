"""A backfill of ``trained_architecture`` through a real Dagster instance, daemon and webserver,
measured: what ``benchmarks/orchestration.py`` prints and ``tests/orchestration`` asserts.

CPU accounting: this process makes itself a child subreaper, so every process the daemon and the
webserver start (code servers, run workers, step processes, local trainers) is reaped by its
parent or, orphaned, by us; ``getrusage(RUSAGE_CHILDREN)`` then holds all their CPU once the
services are stopped. A local trainer's own CPU is measured where it ends (``wait4`` in
``nas_assets.launch.local``, ``train_cpu_s`` in each materialization) and subtracted; SLURM jobs run
under slurmd and are never counted.
"""

from __future__ import annotations

import ctypes
import functools
import json
import os
import resource
import signal
import statistics
import subprocess
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from tests.dagster_server import BIN, REPO, free_port, instance_env
from tests.orchestration.settings import data_resource

MODULE = "tests.orchestration.defs"
#: The asset-graph query of the UI's lineage view, with the live partition counts it shows.
ASSET_GRAPH_QUERY = """{ assetNodes { id assetKey { path } groupName isPartitioned opNames jobNames
  dependencyKeys { path } dependedByKeys { path }
  partitionStats { numMaterialized numPartitions numFailed numMaterializing } } }"""
_PR_SET_CHILD_SUBREAPER = 36


def design_hashes(n: int, design: str) -> tuple[list[str], "object"]:
    """``n`` architectures and the frame of their rows: the ``paper`` design's first ``n`` distinct
    cells (the full space is enumerated: ~2 min), or ``small``: ``n`` seeded cells of the 2,532 with
    at most 5 vertices (under a second)."""
    import numpy as np

    from nas_assets.core.cells.cost import SO2SAT_SHAPE
    from nas_assets.core.cells.table import architecture_frame

    if design == "paper":
        keys, frame = _paper_design()
        if n > len(keys):
            raise ValueError(f"the paper design has {len(keys)} architectures, fewer than --partitions {n}")
        keys = keys[:n]
    else:
        from nas_assets.core.cells.enumeration import enumerate_space

        space = enumerate_space(max_vertices=5)
        frame = architecture_frame(space, SO2SAT_SHAPE)
        rows = np.random.default_rng(0).choice(len(space), size=n, replace=False)
        keys = [str(h) for h in frame["arch_hash"].iloc[rows]]
    return keys, frame[frame["arch_hash"].isin(keys)].reset_index(drop=True)


@functools.lru_cache(maxsize=1)
def _paper_design():
    """The paper design's distinct cells in visiting order, and their rows of the space table."""
    import numpy as np

    from nas_assets.core.cells.cost import SO2SAT_SHAPE
    from nas_assets.core.cells.sampling import PAPER, sample_design
    from nas_assets.core.cells.table import build_space_table

    space, fla, frame, _ = build_space_table(SO2SAT_SHAPE)
    visits = sample_design(np.asarray(space.hashes), fla, PAPER)
    keys = list(dict.fromkeys(visits["arch_hash"]))
    return keys, frame[frame["arch_hash"].isin(keys)].reset_index(drop=True)


@dataclass
class Setup:
    root: Path
    env: dict[str, str]
    keys: list[str]
    store: Path

    @property
    def home(self) -> Path:
        return Path(self.env["DAGSTER_HOME"])


def prepare(root: Path, n: int, design: str = "small", profile: str = "local", batch: int | None = None,
            slurm_config: dict | None = None) -> Setup:
    """An instance (the repo's dagster.yaml), a store holding the design's architectures, the
    partitions registered, and the synthetic data and its cache built."""
    from dagster import DagsterInstance

    from nas_assets.core import store as db
    from nas_assets.defs.partitions import ARCHITECTURE_PARTITIONS
    from nas_assets.train.data.stand_in import ensure_stand_in
    from nas_assets.train.so2sat_data import load_so2sat_arrays

    env = instance_env(root)
    env["NAS_ASSETS_PROFILE"] = profile
    # several tiny trainers share the machine: one thread each (else OpenMP spins, nas_assets.train.cpus)
    env["NAS_ASSETS_CPU_THREADS"] = "1"
    if batch is not None:
        env["NAS_ASSETS_BATCH"] = str(batch)
    if slurm_config is not None:
        config = root / "slurm.json"
        config.write_text(json.dumps(slurm_config))
        env["NAS_ASSETS_SLURM_CONFIG"] = str(config)
    keys, frame = design_hashes(n, design)
    store = root / "data" / "nas_assets.duckdb"
    with db.connect(store) as conn:
        db.write_architectures(conn, frame)
    data = data_resource(root / "data")
    ensure_stand_in(Path(data.path), n_train=data.synthetic_train, n_val=data.synthetic_val,
                    n_test=data.synthetic_test, seed=data.synthetic_seed)
    load_so2sat_arrays(Path(data.path), data.cache_dir, data.sensor, data.s1_transform, data.stats)
    with DagsterInstance.from_config(env["DAGSTER_HOME"]) as instance:
        instance.add_dynamic_partitions(ARCHITECTURE_PARTITIONS.name, keys)
    return Setup(root, env, keys, store)



def _proc_cpu(pid: int) -> float:
    """CPU seconds of a live process and the children it has reaped."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return sum(int(x) for x in fields[11:15]) / os.sysconf("SC_CLK_TCK")


class _Reaper:
    """Child subreaper: orphaned descendants are reaped here (their CPU lands in RUSAGE_CHILDREN)."""

    def __init__(self) -> None:
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
        self.ours: set[int] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.5):
            self.reap()

    def reap(self) -> None:
        while True:
            try:
                info = os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOHANG | os.WNOWAIT)
            except ChildProcessError:
                return
            if info is None or info.si_pid in self.ours:
                return  # our Popen children are waited by their Popen objects
            try:
                os.waitpid(info.si_pid, 0)
            except ChildProcessError:
                pass

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self.reap()


@dataclass
class Latency:
    samples: list[float] = field(default_factory=list)
    errors: int = 0

    def pct(self, q: float) -> float:
        if not self.samples:
            return float("nan")
        return statistics.quantiles(self.samples, n=100,
                                    method="inclusive")[int(q) - 1] if len(self.samples) > 1 \
            else self.samples[0]


@dataclass
class Outcome:
    """What one backfill measured."""

    partitions: int
    batch: int
    launcher: str
    wall_s: float
    backfill_status: str
    runs: int
    failed_runs: int
    materialized: int
    duplicate_materializations: int
    failed_checks: int
    descendants_cpu_s: float
    webserver_cpu_s: float
    train_cpu_s: float
    step_start_cpu_s: float
    ingest_cpu_s: float
    lock_waits: int
    lock_wait_s: float
    store_failures: int
    sqlite_lock_errors: int
    training_rows: int
    instance_mb: float
    graphql: Latency
    dagster_errors: list[str]

    @property
    def orchestration_cpu_s(self) -> float:
        """Everything but training and the webserver: daemon, code servers, run workers, steps."""
        return self.descendants_cpu_s - self.webserver_cpu_s - self.train_cpu_s


def _graphql(url: str, query: str, variables: dict | None = None, timeout: float = 120) -> dict:
    body = json.dumps({"query": query, "variables": variables or {}}).encode()
    req = urllib.request.Request(f"{url}/graphql", data=body, headers={"Content-Type": "application/json"})
    answer = json.loads(urllib.request.urlopen(req, timeout=timeout).read())
    if answer.get("errors"):
        raise RuntimeError(f"GraphQL errors: {json.dumps(answer['errors'])[:2000]}")
    return answer["data"]


def _start(cmd: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    with open(log, "wb") as out:
        return subprocess.Popen(cmd, cwd=REPO, env=env, stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)


def _stop(proc: subprocess.Popen) -> None:
    for sig, wait in ((signal.SIGTERM, 30), (signal.SIGKILL, 10)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout=wait)
            break
        except subprocess.TimeoutExpired:
            continue
    try:  # what the group left behind (code servers)
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


LAUNCH = """mutation($p: LaunchBackfillParams!) { launchPartitionBackfill(backfillParams: $p) {
  __typename ... on LaunchBackfillSuccess { backfillId } ... on PythonError { message stack } } }"""


def run_backfill(setup: Setup, timeout_s: float = 3600, poll_graphql_s: float = 2.0,
                 progress: bool = False) -> Outcome:
    """Start daemon and webserver, backfill every partition through GraphQL (as the UI's
    "Materialize all" does), poll the asset graph while it runs, stop both; measure."""
    from dagster import DagsterInstance, DagsterRunStatus, RunsFilter
    from dagster._core.execution.backfill import BulkActionStatus

    reaper = _Reaper()
    usage0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    logs = setup.root / "logs"
    logs.mkdir(exist_ok=True)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    daemon = _start([str(BIN / "dagster-daemon"), "run", "-m", MODULE], setup.env, logs / "daemon.log")
    web = _start([str(BIN / "dagster-webserver"), "-m", MODULE, "-h", "127.0.0.1", "-p", str(port)],
                 setup.env,
                 logs / "webserver.log")
    reaper.ours.update({daemon.pid, web.pid})
    latency = Latency()
    web_cpu = 0.0
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                if _graphql(url, "{ assetNodes { id } }")["assetNodes"]:
                    break
            except OSError:
                pass
            if web.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"webserver not serving: {(logs / 'webserver.log').read_text()[-3000:]}")
            time.sleep(0.5)
        t0 = time.monotonic()
        answer = _graphql(url, LAUNCH, {"p": {"assetSelection": [{"path": ["trained_architecture"]}],
                                              "partitionNames": setup.keys}})["launchPartitionBackfill"]
        if answer["__typename"] != "LaunchBackfillSuccess":
            raise RuntimeError(f"launchPartitionBackfill: {answer}")
        backfill_id = answer["backfillId"]
        with DagsterInstance.from_config(str(setup.home)) as instance:
            status = None
            last_print = 0.0
            while time.monotonic() - t0 < timeout_s:
                t = time.monotonic()
                try:
                    _graphql(url, ASSET_GRAPH_QUERY)
                    latency.samples.append(time.monotonic() - t)
                except Exception:  # noqa: BLE001 -- counted, the backfill goes on
                    latency.errors += 1
                status = instance.get_backfill(backfill_id).status
                if status not in (BulkActionStatus.REQUESTED, BulkActionStatus.CANCELING):
                    break
                if daemon.poll() is not None:
                    raise RuntimeError(f"dagster-daemon exited: {(logs / 'daemon.log').read_text()[-3000:]}")
                if progress and time.monotonic() - last_print > 30:
                    last_print = time.monotonic()
                    done = instance.get_runs_count(RunsFilter(tags={"dagster/backfill": backfill_id},
                                                              statuses=[DagsterRunStatus.SUCCESS]))
                    print(f"  {time.monotonic() - t0:6.0f} s: {done} runs succeeded", flush=True)
                time.sleep(max(0.0, poll_graphql_s - (time.monotonic() - t)))
            wall = time.monotonic() - t0
            # the daemon's last runs may still be winding down (run monitoring, slot release)
            time.sleep(2)
            web_cpu = _proc_cpu(web.pid)
    finally:
        _stop(web)
        _stop(daemon)
        time.sleep(1)
        reaper.close()
    usage1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    descendants = (usage1.ru_utime + usage1.ru_stime) - (usage0.ru_utime + usage0.ru_stime)
    return _measure(setup, backfill_id, str(status.value if status else "TIMEOUT"), wall, descendants,
                    web_cpu,
                    latency, logs)


def _measure(setup: Setup, backfill_id: str, status: str, wall: float, descendants: float, web_cpu: float,
             latency: Latency, logs: Path) -> Outcome:
    import duckdb
    from dagster import (
        AssetKey,
        DagsterEventType,
        DagsterInstance,
        DagsterRunStatus,
        EventRecordsFilter,
        RunsFilter,
    )

    key = AssetKey("trained_architecture")
    with DagsterInstance.from_config(str(setup.home)) as instance:
        runs = instance.get_runs(RunsFilter(tags={"dagster/backfill": backfill_id}))
        records = instance.get_event_records(EventRecordsFilter(DagsterEventType.ASSET_MATERIALIZATION,
                                                                asset_key=key),
                                             limit=100_000)
        checks = instance.get_event_records(EventRecordsFilter(DagsterEventType.ASSET_CHECK_EVALUATION),
                                            limit=100_000)
        errors = []
        for run in runs:
            if run.status == DagsterRunStatus.FAILURE:
                for rec in instance.all_logs(run.run_id, of_type=DagsterEventType.STEP_FAILURE):
                    errors.append(str(rec.dagster_event.event_specific_data.error.message)[:300])
    metas = [r.asset_materialization.metadata for r in records]
    partitions = [r.asset_materialization.partition for r in records]
    value = lambda m, k: float(m[k].value) if k in m else 0.0  # noqa: E731
    step_starts = {}
    for r in records:
        step_starts[r.run_id] = value(r.asset_materialization.metadata, "step_start_cpu_s")
    with duckdb.connect(str(setup.store), read_only=True) as conn:
        training_rows = conn.execute("SELECT count(DISTINCT arch_hash) FROM training_runs").fetchone()[0]
    size = sum(f.stat().st_size for f in setup.home.rglob("*") if f.is_file()) / 2**20
    store_failures = sum("locked by another process" in e for e in errors)
    # the instance's SQLite under concurrent runs: daemon and webserver logs, runs' compute logs
    sqlite_locked = sum(f.read_text(errors="replace").count("database is locked")
                        for f in [*logs.glob("*.log"), *setup.home.rglob("*.err"), *setup.home.rglob("*.out")]
                        if f.is_file())
    return Outcome(
        partitions=len(setup.keys), batch=int(setup.env.get("NAS_ASSETS_BATCH", "1")),
        launcher=setup.env.get("NAS_ASSETS_PROFILE", "local"), wall_s=wall, backfill_status=status,
        runs=len(runs), failed_runs=sum(r.status != DagsterRunStatus.SUCCESS for r in runs),
        materialized=len(set(partitions) & set(setup.keys)),
        duplicate_materializations=len(partitions) - len(set(partitions)),
        failed_checks=sum(not c.event_log_entry.dagster_event.event_specific_data.passed for c in checks),
        descendants_cpu_s=descendants, webserver_cpu_s=web_cpu,
        train_cpu_s=sum(value(m, "train_cpu_s") for m in metas),
        step_start_cpu_s=sum(step_starts.values()),
        ingest_cpu_s=sum(value(m, "ingest_cpu_s") for m in metas),
        lock_waits=sum(value(m, "store_lock_wait_s") > 0 for m in metas),
        lock_wait_s=sum(value(m, "store_lock_wait_s") for m in metas),
        store_failures=store_failures, sqlite_lock_errors=sqlite_locked, training_rows=training_rows,
        instance_mb=size, graphql=latency,
        dagster_errors=errors,
    )


def table(outcomes: list[Outcome]) -> str:
    """The report, one column per backfill."""
    rows = [
        ("launcher", lambda o: o.launcher),
        ("partitions", lambda o: str(o.partitions)),
        ("partitions per run", lambda o: str(o.batch)),
        ("Dagster runs (failed)", lambda o: f"{o.runs} ({o.failed_runs})"),
        ("backfill status", lambda o: o.backfill_status),
        ("partitions materialized (duplicates)", lambda o: f"{o.materialized} "
                                                           f"({o.duplicate_materializations})"),
        ("failed checks", lambda o: str(o.failed_checks)),
        ("rows in DuckDB (architectures)", lambda o: str(o.training_rows)),
        ("wall time, s", lambda o: f"{o.wall_s:.0f}"),
        ("wall time per partition, s", lambda o: f"{o.wall_s / o.partitions:.2f}"),
        ("orchestration CPU per partition, s", lambda o: f"{o.orchestration_cpu_s / o.partitions:.2f}"),
        ("  step process start per partition, s", lambda o: f"{o.step_start_cpu_s / o.partitions:.2f}"),
        ("  ingest per partition, s", lambda o: f"{o.ingest_cpu_s / o.partitions:.3f}"),
        ("  rest (daemon, run workers, Pipes, launch), s",
         lambda o: f"{(o.orchestration_cpu_s - o.step_start_cpu_s - o.ingest_cpu_s) / o.partitions:.2f}"),
        ("training CPU per partition, s",
         lambda o: f"{o.train_cpu_s / o.partitions:.2f}" if o.train_cpu_s else "(SLURM)"),
        ("webserver CPU, s", lambda o: f"{o.webserver_cpu_s:.0f}"),
        ("DuckDB lock waits (s waited)", lambda o: f"{o.lock_waits} ({o.lock_wait_s:.1f})"),
        ("DuckDB lock failures", lambda o: str(o.store_failures)),
        ("SQLite 'database is locked' in logs", lambda o: str(o.sqlite_lock_errors)),
        ("Dagster instance size, MB", lambda o: f"{o.instance_mb:.1f}"),
        ("asset graph GraphQL p50 / p95, s", lambda o: f"{o.graphql.pct(50):.2f} / {o.graphql.pct(95):.2f}"),
        ("GraphQL samples (errors)", lambda o: f"{len(o.graphql.samples)} ({o.graphql.errors})"),
    ]
    width = max(len(r[0]) for r in rows) + 2
    lines = []
    for name, fn in rows:
        lines.append(name.ljust(width) + "".join(fn(o).rjust(19) for o in outcomes))
    return "\n".join(lines)
