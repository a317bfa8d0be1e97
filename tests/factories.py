"""Seeded builders of test data shared by tests and benchmarks (never used by the product)."""

from __future__ import annotations

import numpy as np

from nas_assets.core.space import ArchSpec


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
        rows.append({"epoch": epoch, "train_seconds": 10.0 * epoch, "train": split(level + 0.05), "val": split(level)})
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
