"""The tiny training of the orchestration benchmark: the real network at stem 8, one cell per
stack, one epoch on a few hundred synthetic samples, so a partition's cost is mostly orchestration."""

from __future__ import annotations

from pathlib import Path

from nas_assets.defs.resources import So2SatDataResource

#: Samples of the synthetic stand-in (train, val, test).
SYNTHETIC = {"synthetic_train": 256, "synthetic_val": 128, "synthetic_test": 128}
#: One epoch of the real NB101 network, narrowed.
TRAINING = {"budgets": [1], "protocol": "snapshot", "stem_channels": 8, "cells_per_stack": 1,
            "batch_size": 64,
            "augment": False}


def data_resource(root: Path) -> So2SatDataResource:
    return So2SatDataResource(path=str(root / "so2sat_synthetic"), cache_dir=str(root / "cache"),
                              synthetic=True,
                              **SYNTHETIC)
