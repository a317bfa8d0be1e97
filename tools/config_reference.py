"""Write the field tables of docs/configuration.md from the config classes themselves.

Every resource and asset-config class is a pydantic model whose fields carry their default and a
``Field(description=...)``; this script renders one Markdown table per class between the markers

    <!-- generated: ClassName -->
    ...
    <!-- end generated -->

and leaves the prose around them alone. ``--check`` changes nothing and exits 1 when the file is
not what the classes say (the test suite runs it, so a new field or a changed default cannot go
undocumented).

    python tools/config_reference.py            # rewrite docs/configuration.md
    python tools/config_reference.py --check    # exit 1 if it is stale
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

from pydantic_core import PydanticUndefined

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "configuration.md"

#: Defaults that depend on the machine or the environment, in words.
DEFAULT_WORDS = {
    "python": "the interpreter running Dagster",
    "StoreResource.path": "`$NAS_ASSETS_DB`, else `$NAS_ASSETS_DATA_DIR/nas_assets.duckdb`",
    "So2SatDataResource.path": "`$NAS_ASSETS_SO2SAT_DIR`, else `$NAS_ASSETS_DATA_DIR/so2sat_synthetic`",
    "So2SatDataResource.cache_dir": "`$NAS_ASSETS_DATA_DIR/cache`",
    "So2SatDataResource.synthetic": "true when `NAS_ASSETS_SO2SAT_DIR` is unset",
    "TrainingSetupResource.runs_dir": "`$NAS_ASSETS_DATA_DIR/runs`",
    "ArtifactsResource.models_dir": "`$NAS_ASSETS_DATA_DIR/models`",
    "ArtifactsResource.reports_dir": "`reports/` next to the store",
    "ReferenceDataResource.path": "`$NAS_ASSETS_NB101`, else null",
    "LocalLauncher.accelerator": "`$NAS_ASSETS_ACCELERATOR`, else `cpu`",
    "LocalLauncher.devices": "`$NAS_ASSETS_DEVICES`, else 1",
}
MARKER = re.compile(r"(<!-- generated: (\w+) -->\n)(.*?)(<!-- end generated -->)", re.S)


def config_classes() -> dict[str, type]:
    """The documented classes by name."""
    from nas_assets.defs import config, launchers, resources, training_assets

    classes = [resources.StoreResource, resources.So2SatDataResource, resources.TrainingSetupResource,
               resources.ArtifactsResource, resources.ReferenceDataResource, launchers.LocalLauncher,
               launchers.SlurmLauncher, config.ArchitectureSpaceConfig, config.DesignSettings,
               training_assets.TrainedArchitectureConfig, config.SurrogateModelConfig,
               config.ReferenceLandscapeConfig, config.FootprintConfig]
    return {cls.__name__: cls for cls in classes}


def default_text(cls: type, name: str, field) -> str:
    words = DEFAULT_WORDS.get(f"{cls.__name__}.{name}") or DEFAULT_WORDS.get(name)
    if words:
        return words
    if field.default_factory is not None:
        value = field.default_factory()
    elif field.default is PydanticUndefined:
        return "required"
    else:
        value = field.default
    return f"`{json.dumps(value)}`"


def settings_table() -> str:
    """The training settings: each TrainConfig field with its help and its value in every preset."""
    from nas_assets.train.cli import option
    from nas_assets.train.config import TRAINING_PRESETS, setting_fields

    presets = list(TRAINING_PRESETS)
    rows = ["| field | option | " + " | ".join(f"`{p}`" for p in presets) + " | |",
            "|---|---|" + "---|" * len(presets) + "---|"]
    for f in setting_fields():
        values = " | ".join(f"`{json.dumps(getattr(TRAINING_PRESETS[p], f.name))}`" for p in presets)
        flag = option(f)
        rows.append(f"| `{f.name}` | {f'`{flag}`' if flag else '(file only)'} | {values} | "
                    f"{f.metadata['help'].replace('|', chr(92) + '|')} |")
    return "\n".join(rows) + "\n"


#: Generated blocks that are not pydantic classes.
OTHER_TABLES = {"TrainConfig": settings_table}


def table(cls: type) -> str:
    rows = ["| field | default | |", "|---|---|---|"]
    for name, field in cls.model_fields.items():
        description = (field.description or "").replace("|", "\\|").replace("\n", " ")
        rows.append(f"| `{name}` | {default_text(cls, name, field)} | {description} |")
    return "\n".join(rows) + "\n"


def render(text: str, classes: dict[str, type]) -> str:
    missing = (set(classes) | set(OTHER_TABLES)) - {m.group(2) for m in MARKER.finditer(text)}
    if missing:
        raise SystemExit(f"{DOC}: no '<!-- generated: NAME -->' block for {sorted(missing)}")

    def replace(match: re.Match) -> str:
        name = match.group(2)
        if name in OTHER_TABLES:
            return match.group(1) + OTHER_TABLES[name]() + match.group(4)
        if name not in classes:
            raise SystemExit(f"{DOC}: a generated block names {name!r}, which is not a config class")
        return match.group(1) + table(classes[name]) + match.group(4)

    return MARKER.sub(replace, text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if docs/configuration.md is stale")
    args = parser.parse_args(argv)
    current = DOC.read_text()
    wanted = render(current, config_classes())
    if args.check:
        if wanted != current:
            print(f"{DOC} is stale: run python tools/config_reference.py", file=sys.stderr)
            return 1
        return 0
    if wanted != current:
        DOC.write_text(wanted)
        print(f"wrote {DOC}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
