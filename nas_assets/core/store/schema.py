"""What a nas_assets store is: its tables, the check that a file is one, and the additive
migration of stores written by an older nas_assets.

Tables are declared once here; every other module of the store reads ``TABLES`` for their
columns. A store is recognised by its ``nas_assets_meta`` table (schema name and version).
"""

from __future__ import annotations

import re
from pathlib import Path

import duckdb

from nas_assets.core.store.errors import StoreError

SCHEMA_NAME = "nas_assets"
SCHEMA_VERSION = "1"
META_TABLE = "nas_assets_meta"

TABLES: dict[str, str] = {
    META_TABLE: "key VARCHAR PRIMARY KEY, value VARCHAR NOT NULL",
    "architectures": (
        "arch_index INTEGER NOT NULL UNIQUE, arch_hash VARCHAR PRIMARY KEY, n_vertices TINYINT NOT NULL, "
        "n_edges TINYINT NOT NULL, matrix VARCHAR NOT NULL, ops VARCHAR NOT NULL, "
        "params BIGINT NOT NULL, flops BIGINT NOT NULL, params_cifar10 BIGINT NOT NULL, "
        "flops_cifar10 BIGINT NOT NULL, n_fla_neighbours SMALLINT NOT NULL"
    ),
    "neighbours": "kind VARCHAR NOT NULL, src INTEGER NOT NULL, dst INTEGER NOT NULL",
    "sampled_architectures": (
        "visit INTEGER PRIMARY KEY, arch_index INTEGER NOT NULL, arch_hash VARCHAR NOT NULL, "
        "stage VARCHAR NOT NULL, walk_id INTEGER, step INTEGER NOT NULL, parent_hash VARCHAR, "
        "is_new BOOLEAN NOT NULL"
    ),
    "training_runs": (
        "arch_hash VARCHAR NOT NULL, run_key VARCHAR NOT NULL, dataset VARCHAR, seed INTEGER, recipe "
        "VARCHAR, "
        "protocol VARCHAR, max_epochs INTEGER, params BIGINT, flops BIGINT, train_seconds DOUBLE, "
        "eval_seconds DOUBLE, images_per_second DOUBLE, world_size INTEGER, device VARCHAR, hostname "
        "VARCHAR, slurm_job_id VARCHAR, "
        "launcher VARCHAR, test_overall_accuracy DOUBLE, test_macro_accuracy DOUBLE, test_kappa DOUBLE, "
        "config VARCHAR, result_path VARCHAR, ingested_at TIMESTAMP DEFAULT current_timestamp, config_key "
        "VARCHAR, "
        "PRIMARY KEY (arch_hash, run_key)"
    ),
    "budget_metrics": (
        "arch_hash VARCHAR NOT NULL, run_key VARCHAR NOT NULL, epoch INTEGER NOT NULL, train_seconds DOUBLE, "
        "train_overall_accuracy DOUBLE, train_macro_accuracy DOUBLE, train_kappa DOUBLE, train_loss DOUBLE, "
        "val_overall_accuracy DOUBLE, val_macro_accuracy DOUBLE, val_kappa DOUBLE, val_loss DOUBLE, "
        "test_overall_accuracy DOUBLE, test_macro_accuracy DOUBLE, test_kappa DOUBLE, test_loss DOUBLE, "
        "PRIMARY KEY (arch_hash, run_key, epoch)"
    ),
    "class_metrics": (
        "arch_hash VARCHAR NOT NULL, run_key VARCHAR NOT NULL, epoch INTEGER NOT NULL, class_index SMALLINT "
        "NOT NULL, "
        "train_accuracy DOUBLE, val_accuracy DOUBLE, test_accuracy DOUBLE, "
        "PRIMARY KEY (arch_hash, run_key, epoch, class_index)"
    ),
    "surrogate_predictions": (
        "arch_hash VARCHAR NOT NULL, metric VARCHAR NOT NULL, budget INTEGER NOT NULL, "
        "mean DOUBLE NOT NULL, std DOUBLE NOT NULL"
    ),
    # the CIFAR-10 reference landscape: NB101's measured accuracies and a surrogate over the space
    "reference_results": (
        "arch_hash VARCHAR NOT NULL, budget INTEGER NOT NULL, val_accuracy DOUBLE, test_accuracy DOUBLE, "
        "source VARCHAR NOT NULL, predicted DOUBLE, PRIMARY KEY (arch_hash, budget)"
    ),
    "reference_predictions": (
        "arch_hash VARCHAR NOT NULL, budget INTEGER NOT NULL, mean DOUBLE NOT NULL, std DOUBLE NOT NULL"
    ),
    "footprints": (
        "landscape VARCHAR NOT NULL, metric VARCHAR NOT NULL, value DOUBLE, fitness VARCHAR NOT NULL, "
        "computed_at TIMESTAMP NOT NULL, ci_low DOUBLE, ci_high DOUBLE, ci_method VARCHAR, "
        "PRIMARY KEY (landscape, metric)"
    ),
    # paired bootstrap of So2Sat's trained sample minus CIFAR-10 on the same cells, per metric
    "footprint_differences": (
        "metric VARCHAR PRIMARY KEY, landscape_a VARCHAR NOT NULL, landscape_b VARCHAR NOT NULL, value_a "
        "DOUBLE, "
        "value_b DOUBLE, difference DOUBLE, ci_low DOUBLE, ci_high DOUBLE, verdict VARCHAR NOT NULL, "
        "method VARCHAR NOT NULL, computed_at TIMESTAMP NOT NULL"
    ),
}
RESULT_TABLES = ("training_runs", "budget_metrics", "class_metrics")
ARCHITECTURE_COLUMNS = [c.split()[0] for c in TABLES["architectures"].split(", ")]
SAMPLED_COLUMNS = [c.split()[0] for c in TABLES["sampled_architectures"].split(", ")]


def existing_tables(conn: duckdb.DuckDBPyConnection) -> set[str]:
    rows = conn.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main'"
    ).fetchall()
    return {r[0] for r in rows}


def check_or_init(conn: duckdb.DuckDBPyConnection, path: Path, read_only: bool) -> None:
    tables = existing_tables(conn)
    if META_TABLE not in tables:
        if tables:
            raise StoreError(
                f"{path}: a DuckDB database that nas_assets did not create (tables: "
                f"{', '.join(sorted(tables))}; "
                f"no {META_TABLE} table). Refusing to write into it: choose another store path."
            )
        if read_only:
            raise StoreError(f"{path}: empty database; materialize the architecture_space asset first.")
        conn.execute("BEGIN")
        for name, columns in TABLES.items():
            conn.execute(f"CREATE TABLE {name} ({columns})")
        conn.execute(
            f"INSERT INTO {META_TABLE} VALUES ('schema', ?), ('schema_version', ?)", [SCHEMA_NAME,
                                                                                      SCHEMA_VERSION]
        )
        conn.execute("COMMIT")
        return
    meta = dict(conn.execute(f"SELECT key, value FROM {META_TABLE}").fetchall())
    if meta.get("schema") != SCHEMA_NAME:
        raise StoreError(f"{path}: {META_TABLE}.schema is {meta.get('schema')!r}, expected {SCHEMA_NAME!r}.")
    if meta.get("schema_version") != SCHEMA_VERSION:
        raise StoreError(
            f"{path}: store schema version {meta.get('schema_version')!r}, this nas_assets expects "
            f"{SCHEMA_VERSION!r}. Re-create the store (move the file away) or use the matching version."
        )
    missing = [t for t in TABLES if t not in tables]
    if missing and not read_only:
        for name in missing:
            conn.execute(f"CREATE TABLE {name} ({TABLES[name]})")
    if not read_only and ("training_runs", "config_key") in add_missing_columns(conn, tables):
        # runs ingested before configuration keys: each run key its own configuration (never mixed);
        # ingesting their result files again gives them the real key
        conn.execute("UPDATE training_runs SET config_key = run_key WHERE config_key IS NULL")


def add_missing_columns(conn: duckdb.DuckDBPyConnection, tables: set[str]) -> set[tuple[str, str]]:
    """Give tables of an older store the nullable columns added since (e.g. ``training_runs.protocol``).

    Additive changes need no schema-version bump: old rows read NULL there, old readers ignore
    the column. Only name and type are added; constraints of later columns cannot apply to old rows.

    Returns:
        The (table, column) pairs added.
    """
    added: set[tuple[str, str]] = set()
    for name in tables & TABLES.keys():
        have = {r[0] for r in conn.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = 'main' "
            "AND table_name = ?", [name]).fetchall()}
        for column in re.split(r",\s*(?![^()]*\))", TABLES[name]):  # commas outside PRIMARY KEY (a, b)
            col_name, col_type = column.split()[:2]
            if col_name.upper() not in ("PRIMARY", "UNIQUE") and col_name not in have:
                conn.execute(f"ALTER TABLE {name} ADD COLUMN IF NOT EXISTS {col_name} {col_type}")
                added.add((name, col_name))
    return added
