"""Seeded builders of test data shared by tests and benchmarks (never used by the product)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from nas_assets.core.cells.space import ArchSpec


def fake_result(spec: ArchSpec, seed: int = 0, num_classes: int = 17, budgets=(4, 12, 36, 108),
                dataset: str = "synthetic-test") -> dict:
    """A structurally valid result record with plausible random metrics (as a job would write)."""
    rng = np.random.default_rng(seed)

    def split(level: float) -> dict:
        per_class = np.clip(rng.normal(level, 0.1, num_classes), 0, 1)
        return {
            "overall_accuracy": float(np.clip(level + rng.normal(0, 0.02), 0, 1)),
            "macro_accuracy": float(per_class.mean()),
            "kappa": float(np.clip(level - 0.1, -1, 1)),
            "loss": float(rng.uniform(0.5, 2.0)),
            "per_class_accuracy": per_class.tolist(),
            "n_samples": 1000,
        }

    rows = []
    for k, epoch in enumerate(sorted(budgets)):
        level = 0.4 + 0.1 * k
        rows.append({"epoch": epoch, "train_seconds": 10.0 * epoch, "train": split(level + 0.05),
                     "val": split(level)})
    return {
        "schema_version": 1,
        "status": "complete",
        "arch": {"arch_hash": spec.arch_hash, "matrix": spec.matrix_string(), "ops": spec.ops_string(),
                 "n_vertices": spec.n_vertices, "n_edges": spec.n_edges},
        "trainable_parameters": 123456,
        "flops": 654321,
        "network": {"in_channels": 18, "num_classes": num_classes, "input_size": 32},
        "config": {"budgets": list(sorted(budgets)), "recipe": "sgd", "lr": None, "batch_size": 256,
                   "stem_channels": 16, "num_stacks": 3, "cells_per_stack": 1, "augment": True, "seed": seed},
        "data": {"name": dataset, "num_classes": num_classes, "num_channels": 18},
        "environment": {"world_size": 1, "device": "cpu", "hostname": "test"},
        "run": {"launcher": "test"},
        "budgets": rows,
        "test": split(0.7),
        "timings": {"train_seconds": 1080.0, "eval_seconds": 5.0, "train_images_per_second": 1000.0},
    }


def seed_trained_store(store_path, n: int = 40, budgets=(1, 2), run_key: str = "testrunkey000001",
                       seed: int = 0, walks: int = 0, walk_length: int = 8,
                       include: list[str] | None = None) -> list[str]:
    """Write training rows straight into a store holding the space (no training): ``n`` random
    cells (the first ones replaced by the hashes in ``include``) plus ``walks`` FLA random walks
    recorded as the design's walks; accuracy grows with the cell's parameter count (a learnable
    landscape), per-class rows included.

    Returns:
        The hashes written, sample first, then the walks' cells.
    """
    import duckdb

    from nas_assets.core import store as db
    from nas_assets.core.landscape.metrics import random_walks

    rng = np.random.default_rng(seed)
    with duckdb.connect(str(store_path)) as conn:
        total = conn.execute("SELECT count(*) FROM architectures").fetchall()[0][0]
        rows = list(rng.choice(total, n, replace=False))
        if include:
            wanted = conn.execute(
                "SELECT arch_index FROM architectures WHERE arch_hash IN (SELECT unnest(?))",
                [list(include)]).fetchall()
            wanted_rows = [int(r[0]) for r in wanted]
            rows = wanted_rows + [r for r in rows if r not in wanted_rows][: n - len(wanted_rows)]
        design = []
        if walks:
            index = db.read_neighbour_index(conn, "fla", total)
            paths = random_walks(index, n_walks=walks, n_steps=walk_length - 1, seed=seed)
            visit = 0
            for w, path in enumerate(paths):
                for step, row in enumerate(path):
                    design.append((visit, int(row), w, step))
                    visit += 1
            rows += [int(r) for r in np.unique(paths) if r not in rows]
        cells = conn.execute("SELECT arch_index, arch_hash, params FROM architectures WHERE arch_index IN "
                             "(SELECT unnest(?)) ",
                             [[int(r) for r in rows]]).df().set_index("arch_index").loc[rows]
        logp = np.log(cells["params"].to_numpy(dtype=float))
        base = 0.3 + 0.4 * (logp - logp.min()) / (np.ptp(logp) + 1e-9)
        for arch_hash, level in zip(cells["arch_hash"], base):
            conn.execute("INSERT INTO training_runs (arch_hash, run_key, max_epochs) VALUES (?, ?, ?)",
                         [arch_hash, run_key, max(budgets)])
            for k, epoch in enumerate(budgets):
                acc = float(np.clip(level + 0.05 * k + rng.normal(0, 0.01), 0, 0.99))
                conn.execute("INSERT INTO budget_metrics (arch_hash, run_key, epoch, val_macro_accuracy, "
                             "val_overall_accuracy, val_kappa) VALUES (?, ?, ?, ?, ?, ?)",
                             [arch_hash, run_key, epoch, acc, min(acc + 0.05, 0.99), acc - 0.2])
                per_class = np.clip(acc + rng.normal(0, 0.1, 17), 0, 1)
                conn.executemany("INSERT INTO class_metrics (arch_hash, run_key, epoch, class_index, "
                                 "val_accuracy) VALUES (?, ?, ?, ?, ?)",
                                 [[arch_hash, run_key, epoch, c, float(v)] for c, v in enumerate(per_class)])
        by_row = dict(zip(cells.index, cells["arch_hash"]))
        for visit, row, w, step in design:
            conn.execute("INSERT INTO sampled_architectures VALUES (?, ?, ?, 'walk', ?, ?, NULL, true)",
                         [visit, row, by_row[row], w, step])
    return list(cells["arch_hash"])


def later_stage_resources(tmp_path) -> dict:
    """Resources of the surrogate and footprint stages, for tests that materialize with all assets."""
    from nas_assets.defs.resources import ArtifactsResource, ReferenceDataResource

    return {"artifacts": ArtifactsResource(models_dir=str(tmp_path / "models"),
                                           reports_dir=str(tmp_path / "reports")),
            "reference": ReferenceDataResource(enabled=False)}


def write_nb101_json_export(raw, path) -> None:
    """Write a raw NB101 frame (``nb101_shipped.load_shipped_raw`` convention) as the public 1k
    JSON export: one list per column, padded 7x7 ``adjacency`` and 7 ``operations`` (-3 padding)."""
    import json

    columns = {
        "key": raw["key"].tolist(),
        "adjacency": [np.asarray(a).astype(int).tolist() for a in raw["adjacency"]],
        "operations": [np.asarray(o).astype(int).tolist() for o in raw["operations"]],
        "trainable_parameters": raw["trainable_parameters"].astype(int).tolist(),
        "final_training_time": raw["final_training_time"].astype(float).tolist(),
    }
    for b in (4, 12, 36, 108):
        columns[f"{b}_final_validation_accuracy"] = (
            raw[f"{b}_final_validation_accuracy"].astype(float).tolist())
    Path(path).write_text(json.dumps(columns))


def nb101_tfrecord_from_json(json_path, out_path, n: int | None = None, test_accuracy: float = 0.9) -> int:
    """Write the first ``n`` cells of the NB101 1k JSON export as a ``nasbench_full``-style
    TFRecord: 4 budgets x 3 repeats whose validation accuracies average to the JSON's values.

    Returns:
        The number of cells written.
    """
    from nas_assets.core.cells.space import LABEL_OPS
    from nas_assets.core.nb101 import reader as nd
    from nas_assets.core.nb101.reader import EvaluationData, ModelMetrics

    raw = nd.load_nb101_json(json_path)
    raw = raw if n is None else raw.head(n)
    records = []
    for _, row in raw.iterrows():
        labels = row["operations"][row["operations"] != -3]
        v = labels.size
        matrix = "".join(str(x) for x in row["adjacency"][:v, :v].ravel())
        ops = ",".join(LABEL_OPS[int(x)] for x in labels)
        for b in nd.BUDGETS:
            val = row[f"{b}_final_validation_accuracy"]
            time = row["final_training_time"] if b == 108 else 7.0 * b
            for delta in (-0.002, 0.0, 0.002):  # mean = the JSON value
                final = EvaluationData(float(b), time, 1.0, val + delta, test_accuracy)
                metrics = ModelMetrics((EvaluationData(0.0), EvaluationData(b / 2), final),
                                       int(row["trainable_parameters"]), 1.0)
                records.append(nd.encode_nb101_record(row["key"], b, matrix, ops, metrics))
    nd.write_tfrecord(out_path, records)
    return len(raw)
