"""The project's Definitions with the orchestration benchmark's tiny training (``settings``); the
launcher (``NAS_ASSETS_PROFILE``) and partitions per backfill run (``NAS_ASSETS_BATCH``) come from
the environment, as for ``nas_assets.defs``."""

from __future__ import annotations

from nas_assets.defs import profiles
from nas_assets.defs.definitions import build_definitions
from nas_assets.defs.resources import ArtifactsResource, ReferenceDataResource, TrainingSetupResource
from tests.orchestration.settings import TRAINING, data_resource

_root = profiles.data_dir()
defs = build_definitions(
    data=data_resource(_root),
    training=TrainingSetupResource(runs_dir=str(_root / "runs"), overrides=TRAINING),
    artifacts=ArtifactsResource(models_dir=str(_root / "models"), reports_dir=str(_root / "reports")),
    reference=ReferenceDataResource(enabled=False),
)
