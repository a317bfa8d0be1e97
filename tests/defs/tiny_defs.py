"""The project's Definitions with the smallest real data and training, for tests that drive
``dagster asset materialize -m tests.defs.tiny_defs`` (paths under ``$NAS_ASSETS_DATA_DIR``).

With ``$NAS_ASSETS_TEST_SPACE_FROM`` naming a store that holds the space, ``architecture_space``
takes the space's rows from there instead of enumerating them (minutes), and writes them itself.
"""

from __future__ import annotations

import os

from nas_assets.defs import profiles, space_assets
from nas_assets.defs.definitions import build_definitions
from nas_assets.defs.resources import (
    ArtifactsResource,
    ReferenceDataResource,
    So2SatDataResource,
    TrainingSetupResource,
)
from tests.defs.kill_harness import SPACE_FROM, SYNTHETIC, TRAINING
from tests.defs.stored_space import stored_space_table

if os.environ.get(SPACE_FROM):
    space_assets.build_space_table = stored_space_table(os.environ[SPACE_FROM])

_root = profiles.data_dir()
defs = build_definitions(
    data=So2SatDataResource(path=str(_root / "so2sat_synthetic"), cache_dir=str(_root / "cache"),
                            synthetic=True,
                            **SYNTHETIC),
    training=TrainingSetupResource(runs_dir=str(_root / "runs"), overrides=TRAINING),
    artifacts=ArtifactsResource(models_dir=str(_root / "models"), reports_dir=str(_root / "reports")),
    reference=ReferenceDataResource(enabled=False),
)
