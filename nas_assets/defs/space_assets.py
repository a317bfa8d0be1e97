"""Assets of the space stage: the whole NB101 space and the sampled design."""


import json
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pandas as pd
from dagster import AssetExecutionContext, Failure, MaterializeResult, MetadataValue, asset

from nas_assets.core import store as db
from nas_assets.core.cells.sampling import sample_design
from nas_assets.core.cells.space import SPACE_SIZE
from nas_assets.core.cells.table import build_space_table
from nas_assets.core.store import space as space_sql
from nas_assets.defs.config import ArchitectureSpaceConfig, DesignSettings
from nas_assets.defs.partitions import ARCHITECTURE_PARTITION_SET
from nas_assets.defs.resources import StoreResource

#: Bump when what architecture_space writes changes, so stored spaces are recomputed.
SPACE_FORMAT = "1"


def _stored_space_matches(store: StoreResource, shape: dict) -> bool:
    """The store already holds the full space, written by this format for this network shape."""
    if not Path(store.path).exists():
        return False
    with store.connect() as conn:
        return (
            db.get_meta(conn, "space_format") == SPACE_FORMAT
            and db.get_meta(conn, "network_shape") == json.dumps(shape, sort_keys=True)
            and db.table_count(conn, "architectures") == SPACE_SIZE
        )


@asset(group_name="space", kinds={"duckdb", "numpy"})
def architecture_space(
    context: AssetExecutionContext, config: ArchitectureSpaceConfig, store: StoreResource
) -> MaterializeResult:
    """All 423,624 NAS-Bench-101 cells with hash, pruned matrix, ops, parameters, FLOPs and FLA neighbours."""
    shape = asdict(config.shape())
    if not config.force and _stored_space_matches(store, shape):
        return MaterializeResult(metadata={"reused": True, "n_architectures": SPACE_SIZE,
                                           "store": MetadataValue.path(store.path)})
    space, fla, frame, timings = build_space_table(config.shape(), workers=config.workers or None)
    t0 = time.perf_counter()
    src, dst = fla.edges()
    context.log.info(f"writing the space ({len(frame):,} cells, {src.size:,} FLA neighbour pairs) and its "
                     "shape "
                     f"to {store.path} in one transaction")
    with store.connect() as conn:
        db.write_space(conn, frame, src, dst, {"network_shape": shape, "space_format": SPACE_FORMAT})
    timings["write_s"] = time.perf_counter() - t0
    per_vertex = frame["n_vertices"].value_counts().sort_index()
    return MaterializeResult(
        metadata={
            "reused": False,
            "dagster/row_count": len(frame),
            "n_architectures": len(frame),
            "per_vertex_count": MetadataValue.json({str(int(k)): int(v) for k, v in per_vertex.items()}),
            "fla_neighbour_pairs": int(dst.size),
            "fla_isolated_architectures": int((fla.degrees == 0).sum()),
            "fla_mean_degree": float(fla.degrees.mean()),
            **{k: round(v, 2) for k, v in timings.items()},
            "store": MetadataValue.path(store.path),
            "preview": MetadataValue.md(frame.head(10).to_markdown(index=False)),
        }
    )


def _cifar10_measured_rows(hashes: np.ndarray, path: str | None) -> np.ndarray:
    """Rows of the space whose cell NB101 measured on CIFAR-10 (shipped cells, or a user's file)."""
    from nas_assets.core.nb101.reader import ReferenceDataError, load_reference
    from nas_assets.core.nb101.shipped import load_shipped_raw

    try:
        keys = load_shipped_raw()["key"] if path is None else load_reference(path)["arch_hash"]
    except (ReferenceDataError, ValueError) as exc:
        raise Failure(description=f"prefer_cifar10_measured: {exc}", allow_retries=False) from None
    # a hash lookup: np.isin on object arrays of strings compares pairwise (137 s for 423k x 20k)
    rows = np.flatnonzero(pd.Index(hashes).isin(keys))
    if rows.size == 0:
        raise Failure(description=f"prefer_cifar10_measured: none of the reference's {len(keys)} cells is in "
                                  "the "
                                  "space table", allow_retries=False)
    return rows


@asset(group_name="space", kinds={"duckdb"}, deps=[architecture_space])
def sampled_architectures(
    context: AssetExecutionContext, config: DesignSettings, store: StoreResource
) -> MaterializeResult:
    """The design of experiment: a seeded uniform sample, Hamming-1 random walks and local search,
    with provenance."""
    design_config = config.design()
    with store.connect() as conn:
        hashes = space_sql.space_hashes(conn)
        if hashes.size == 0:
            raise RuntimeError(f"{store.path}: architectures table is empty; "
                               "materialize architecture_space first.")
        fla = db.read_neighbour_index(conn, "fla", hashes.size)
        candidates = (_cifar10_measured_rows(hashes, config.cifar10_reference_path)
                      if config.prefers_cifar10_measured() else None)
        design = sample_design(hashes, fla, design_config, candidates)
        if design.empty and not config.allow_empty:  # it would delete every partition: only when asked
            raise Failure(
                description=f"the design has no architecture ({asdict(design_config)}): it would empty "
                            "sampled_architectures and remove every architecture partition. Set n_initial > "
                            "0, "
                            "or allow_empty: true to empty the design on purpose; nothing was changed.",
                allow_retries=False)
        db.write_sampled(conn, design)
        db.set_meta(conn, "design", {"preset": config.preset, **asdict(design_config),
                                     "prefer_cifar10_measured": config.prefers_cifar10_measured()})
    keys = list(dict.fromkeys(design["arch_hash"]))
    existing = set(context.instance.get_dynamic_partitions(ARCHITECTURE_PARTITION_SET))
    to_add = [k for k in keys if k not in existing]
    stale = sorted(existing - set(keys))
    if to_add:
        context.instance.add_dynamic_partitions(ARCHITECTURE_PARTITION_SET, to_add)
    for key in stale:  # keep the partition set equal to the current design
        context.instance.delete_dynamic_partition(ARCHITECTURE_PARTITION_SET, key)
    stages = design.groupby("stage")["is_new"].agg(["size", "sum"])
    return MaterializeResult(
        metadata={
            "dagster/row_count": len(design),
            "n_visits": len(design),
            "n_architectures": len(keys),
            "per_stage": MetadataValue.json(
                {s: {"visits": int(r["size"]), "new": int(r["sum"])} for s, r in stages.iterrows()}
            ),
            "design": MetadataValue.json({"preset": config.preset, **asdict(design_config),
                                          "prefer_cifar10_measured": config.prefers_cifar10_measured()}),
            "initial_from": ("CIFAR-10 measured cells"
                             + (f" ({len(candidates)})" if candidates is not None else "")
                             if config.prefers_cifar10_measured() else "the whole space"),
            "partitions_added": len(to_add),
            "partitions_removed": len(stale),
            "preview": MetadataValue.md(design.head(15).to_markdown(index=False)),
        }
    )
