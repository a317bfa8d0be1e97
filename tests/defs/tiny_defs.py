"""The project's Definitions with the smallest real data and training, for tests that drive
``dagster asset materialize -m tests.defs.tiny_defs`` (paths under ``$NAS_ASSETS_DATA_DIR``)."""

from __future__ import annotations

from nas_assets.defs import profiles
from nas_assets.defs.definitions import build_definitions
from nas_assets.defs.resources import (
    ArtifactsResource,
    ReferenceDataResource,
    So2SatDataResource,
    TrainingSetupResource,
)
from tests.defs.kill_harness import SYNTHETIC, TRAINING

_root = profiles.data_dir()
defs = build_definitions(
    data=So2SatDataResource(path=str(_root / "so2sat_synthetic"), cache_dir=str(_root / "cache"), synthetic=True,
                            **SYNTHETIC),
    training=TrainingSetupResource(runs_dir=str(_root / "runs"), **TRAINING),
    artifacts=ArtifactsResource(models_dir=str(_root / "models"), reports_dir=str(_root / "reports")),
    reference=ReferenceDataResource(enabled=False),
)
