"""Whether an existing result file answers a training request.

A result is reused only when it measured the same thing: the same :data:`MEASURING_FIELDS` of the
configuration and the same data (source directory, sensor, normalisation) -- what the run key
(:mod:`nas_assets.core.run_keys`) covers. Where it ran (accelerator, devices, nodes) and the numeric
precision do not count, as in the run key.
"""

from __future__ import annotations

import json
from pathlib import Path

from nas_assets.core.run_keys import DATA_FIELDS, LEGACY_PROTOCOL, MEASURING_FIELDS
from nas_assets.train.config import RECIPES, TrainConfig

#: Command-line option of each compared field (default: ``--<field with dashes>``).
_OPTIONS = {"budgets": "--epochs", "augment": "--no-augment", "source": "--data"}


class ResultConflict(ValueError):
    """An existing result file that cannot stand for the requested run; the message says how to proceed."""


def _measured(config: dict) -> dict:
    """The measuring fields of a recorded (or requested) configuration, defaults filled in."""
    values = {k: config.get(k) for k in MEASURING_FIELDS}
    values["budgets"] = sorted(int(b) for b in values["budgets"] or ())
    values["protocol"] = values["protocol"] or LEGACY_PROTOCOL
    if values["lr"] is None and values["recipe"] in RECIPES:  # the recipe's default is the same run
        values["lr"] = RECIPES[values["recipe"]].lr
    return values


def differences(record: dict, config: TrainConfig, data: dict) -> list[str]:
    """``'<option>: recorded <a>, requested <b>'`` for every measuring field that differs."""
    recorded = {**_measured(record.get("config") or {}),
                **{k: (record.get("data") or {}).get(k) for k in DATA_FIELDS}}
    wanted = {**_measured(config.to_dict()), **{k: data.get(k) for k in DATA_FIELDS}}
    return [f"{_OPTIONS.get(k, '--' + k.replace('_', '-'))}: recorded {recorded[k]!r}, "
            f"requested {wanted[k]!r}"
            for k in wanted if recorded[k] != wanted[k]]


def check_reusable(path: Path, config: TrainConfig, data: dict) -> None:
    """Return when the result at ``path`` measured what ``config`` and ``data`` ask for.

    Raises:
        ResultConflict: the file is unreadable, or measured another configuration (naming the
            fields that differ and how to keep both results or replace this one).
    """
    try:
        record = json.loads(path.read_text())
        if not isinstance(record, dict):
            raise ValueError("not a JSON object")
    except (OSError, ValueError) as exc:
        raise ResultConflict(f"{path}: exists but cannot be read ({exc}); pass --force to train again and "
                             f"replace it") from None
    diffs = differences(record, config, data)
    if diffs:
        raise ResultConflict(
            f"{path}: holds a result of another configuration ({'; '.join(diffs)}). To keep both, pass "
            "another --out; to replace it, pass --force")
