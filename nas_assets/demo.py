"""``python -m nas_assets demo``: the whole pipeline on the embedded default, recorded in the
Dagster instance of ``$DAGSTER_HOME`` (so the UI shows every run afterwards).

Runs in order: space and design, the (synthetic) dataset, one run per architecture partition
(skipping partitions already materialized with a result on disk), then the results table.
"""

from __future__ import annotations

import time

from dagster import AssetKey, DagsterInstance, materialize

from nas_assets.defs.definitions import ASSETS, CHECKS, defs
from nas_assets.defs.partitions import ARCHITECTURE_PARTITIONS


#: the console shows this script's lines; every event is still in the instance (and the UI)
QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


def _run(instance: DagsterInstance, resources: dict, selection: list[str], partition_key: str | None = None) -> float:
    t0 = time.perf_counter()
    result = materialize([*ASSETS, *CHECKS], instance=instance, resources=resources, selection=selection,
                         partition_key=partition_key, raise_on_error=True, run_config=QUIET)
    if not result.success:
        raise SystemExit(f"materialization of {selection} {partition_key or ''} failed")
    return time.perf_counter() - t0


def main() -> int:
    instance = DagsterInstance.get()
    resources = defs.resources
    t_start = time.perf_counter()
    print("1/4 architecture space + sampled design ...", flush=True)
    seconds = _run(instance, resources, ["architecture_space", "sampled_architectures"])
    print(f"    {seconds:.1f} s", flush=True)
    print("2/4 So2Sat-format dataset + cache ...", flush=True)
    print(f"    {_run(instance, resources, ['so2sat_dataset']):.1f} s", flush=True)
    keys = instance.get_dynamic_partitions(ARCHITECTURE_PARTITIONS.name)
    done = instance.get_materialized_partitions(AssetKey("trained_architecture"))
    print(f"3/4 training {len(keys)} architectures ({len(set(keys) & done)} already trained) ...", flush=True)
    for i, key in enumerate(keys, 1):
        seconds = _run(instance, resources, ["trained_architecture"], partition_key=key)
        print(f"    [{i:>2}/{len(keys)}] {key}  {seconds:.1f} s", flush=True)
    print("4/4 results table ...", flush=True)
    _run(instance, resources, ["results_table"])
    store = resources["store"].path
    from nas_assets.core import store as db
    from nas_assets.defs import training_queries as q

    with db.connect(store, read_only=True) as conn:
        summary = q.results_summary(conn)
    print(f"\ndone in {time.perf_counter() - t_start:.0f} s: {summary['architectures']} architectures trained; "
          f"mean val macro accuracy {summary['mean_val_macro_accuracy']}, overall {summary['mean_val_overall_accuracy']}")
    print(f"DuckDB store : {store}")
    print(f"  SQL        : .venv/bin/python -c \"import duckdb; print(duckdb.connect('{store}', read_only=True)"
          f".sql('SELECT * FROM results'))\"")
    print("Dagster UI   : make ui, then open http://127.0.0.1:3000")
    return 0
