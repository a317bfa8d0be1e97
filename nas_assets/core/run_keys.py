"""The identity of a training run: one key names its runs folder and its rows in DuckDB.

A run is what its measuring settings (:data:`MEASURING_FIELDS` of the training configuration)
and its data (:data:`DATA_FIELDS`: the resolved source directory, sensor, S1 transform and
normalisation statistics) make it. :func:`run_key` hashes exactly these: the Dagster training
setup names ``<runs_dir>/<run key>/`` with it before a job starts, and ingestion computes the
same key from the result file, which records both the configuration and the data. The same
basis without the seed is :func:`config_key`: runs sharing it are repeats of one measurement.
Where a run executes (accelerator, devices, nodes), its precision, ``compile`` and the
evaluation batch do not enter.

The ``legacy_*`` functions are the keys used before the two were one (a 12-hex folder id and a
16-hex DuckDB key of the record's data name); they only find and re-key what older versions left.
Pure Python: the Dagster layer, the trainer and the store all import it.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Literal, Mapping, get_args

#: How a run's budgets are trained. ``snapshot``: one run of the largest budget, measured at each
#: budget epoch on the way (one cosine schedule over all epochs). ``nb101``: NAS-Bench-101's
#: protocol, one independent run per budget, each with its own cosine schedule annealed to zero.
TrainingProtocol = Literal["snapshot", "nb101"]
PROTOCOLS: tuple[str, ...] = get_args(TrainingProtocol)
#: What a record without a ``config.protocol`` (schema 1) measured.
LEGACY_PROTOCOL = "snapshot"

#: Training configuration fields that change what a run measures: the run key, a configuration
#: key (without ``seed``) and the trainer's reuse of an existing result compare these.
MEASURING_FIELDS: tuple[str, ...] = ("budgets", "protocol", "recipe", "lr", "batch_size", "stem_channels",
                                     "num_stacks", "cells_per_stack", "augment", "seed")
#: The data settings that change what a run measures (a result file's ``data`` holds them).
DATA_FIELDS: tuple[str, ...] = ("source", "sensor", "s1_transform", "stats")


def key_basis(config: Mapping[str, Any], data: Mapping[str, Any]) -> dict[str, Any]:
    """What a run key hashes, normalised so that a configuration and its JSON round trip agree.

    Args:
        config: a training configuration as a mapping (``TrainConfig.to_dict()`` or a result
            file's ``config``); only :data:`MEASURING_FIELDS` are read.
        data: the data settings, :data:`DATA_FIELDS` (``source`` a resolved directory path).

    Raises:
        KeyError: ``data`` lacks one of :data:`DATA_FIELDS`.
    """
    basis = {k: config.get(k) for k in MEASURING_FIELDS}
    basis["budgets"] = sorted({int(b) for b in basis["budgets"] or ()})
    basis["protocol"] = basis["protocol"] or LEGACY_PROTOCOL
    if basis["lr"] is not None:  # 1 and 1.0 are one learning rate
        basis["lr"] = float(basis["lr"])
    basis["data"] = {k: data[k] for k in DATA_FIELDS}
    return basis


def _digest(basis: dict, length: int) -> str:
    return hashlib.md5(json.dumps(basis, sort_keys=True).encode()).hexdigest()[:length]


def run_key(config: Mapping[str, Any], data: Mapping[str, Any]) -> str:
    """The run key: 16 hex of md5 over :func:`key_basis` (seed included)."""
    return _digest(key_basis(config, data), 16)


def config_key(config: Mapping[str, Any], data: Mapping[str, Any]) -> str:
    """The configuration key: :func:`run_key`'s basis without the seed (16 hex)."""
    basis = key_basis(config, data)
    del basis["seed"]
    return _digest(basis, 16)


# -- keys of older versions (migration only) -------------------------------------------------------


def legacy_folder_key(config: Mapping[str, Any], data: Mapping[str, Any]) -> str:
    """The 12-hex ``config_id`` that named ``<runs_dir>/<id>/`` before the run key did.

    Args:
        config: the configuration as a mapping (budgets as given, sorted for every preset).
        data: :data:`DATA_FIELDS`, ``source`` resolved.
    """
    basis = {k: config.get(k) for k in MEASURING_FIELDS if k != "protocol"}
    basis["budgets"] = list(basis["budgets"] or ())
    if config.get("protocol") != LEGACY_PROTOCOL:  # snapshot ids predate protocols
        basis["protocol"] = config.get("protocol")
    basis.update(data=data["source"], sensor=data["sensor"], s1=data["s1_transform"], stats=data["stats"])
    return _digest(basis, 12)


def _legacy_basis(record: Mapping[str, Any]) -> dict[str, Any]:
    config = record.get("config", {})
    basis = {k: config.get(k) for k in MEASURING_FIELDS}
    basis["protocol"] = config.get("protocol") or LEGACY_PROTOCOL
    basis["data"] = record.get("data", {}).get("name")
    network = record.get("network", {})
    basis["network"] = {k: network.get(k) for k in ("in_channels", "num_classes", "input_size")}
    return basis


def legacy_run_key(record: Mapping[str, Any]) -> str:
    """The DuckDB run key of a result record before this module (16 hex over the record's measuring
    config, data name and network shape; a snapshot run's basis left the protocol out)."""
    basis = _legacy_basis(record)
    if basis["protocol"] == LEGACY_PROTOCOL:
        del basis["protocol"]
    return _digest(basis, 16)


def legacy_config_key(record: Mapping[str, Any]) -> str:
    """:func:`legacy_run_key`'s configuration key (without the seed, protocol always in)."""
    basis = _legacy_basis(record)
    del basis["seed"]
    return _digest(basis, 16)
