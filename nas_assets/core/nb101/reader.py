"""NAS-Bench-101 CIFAR-10 reference data: the 1k JSON export and NB101's own TFRecords (NAS-Bench-101's
published files).

Pure Python + numpy + pandas: no TensorFlow, no protobuf runtime, no Dagster. Three layers:

* **TFRecord framing** -- :mod:`nas_assets.core.nb101.tfrecord`: :func:`read_tfrecord` /
  :func:`write_tfrecord`, CRC-32C, :class:`TFRecordError`.
* **The ModelMetrics protobuf** (``nasbench/lib/model_metrics.proto``) --
  :mod:`nas_assets.core.nb101.proto`: :func:`decode_model_metrics` / :func:`encode_model_metrics`,
  wire format by hand.
* **NB101 tables** -- :func:`load_nb101_json` (the 1k export) and :func:`load_nb101_tfrecord`
  (``nasbench_full.tfrecord``, ``nasbench_only108.tfrecord``) return *raw* frames in the NB101
  export convention; :func:`normalise_reference` turns either into the *normalised* frame, and
  :func:`load_reference` does both, dispatching on the file suffix.

The public names of the first two layers are re-exported here.

Raw frame (one row per architecture, both loaders):

    ``key``                             NB101 hash (32 hex chars)
    ``adjacency``                       (7, 7) uint8 array: the pruned matrix, zero-padded, output
                                        vertex at ``n_vertices - 1``
    ``operations``                      (7,) int8 array: -1 input, 0 conv3x3, 1 conv1x1,
                                        2 maxpool, -2 output, -3 padding (at the end)
    ``trainable_parameters``            int64
    ``final_training_time``             float64, seconds of the 108-epoch training (NaN if absent)
    ``{b}_final_validation_accuracy``   float64 per budget ``b`` (fraction)
    TFRecord only, per budget:          ``{b}_final_test_accuracy``, ``{b}_final_train_accuracy``,
                                        ``{b}_final_training_time`` (means) and ``{b}_repeats``
                                        (runs averaged; 0 and NaN metrics when the file has none)

"Final" is the last ``EvaluationData`` of a run (NB101's ``evaluation_data[2]``, at the end of
training); TFRecord values are means over the repeats (3 in NB101) of each (hash, budget).

Normalised frame (:func:`load_reference`), the columns downstream code should use:

    ``arch_hash``                 NB101 hash == :func:`nas_assets.core.cells.space.hash_spec`
    ``n_vertices``, ``n_edges``   int8, of the pruned cell
    ``matrix``                    row-major '0'/'1' string of the pruned V x V matrix and
    ``ops``                       comma-separated op names: the formats of DuckDB's
                                  ``architectures`` table. The vertex order is the source's; an
                                  isomorphic cell may be stored in another order there, so join
                                  on ``arch_hash``, never on ``matrix``.
    ``trainable_parameters``      int64 (NB101's network on CIFAR-10; ``params_cifar10`` there)
    ``val_accuracy_{b}``          mean final validation accuracy at budget ``b`` (fraction)
    ``test_accuracy_{b}``         mean final test accuracy (NaN: the 1k JSON has none)
    ``training_time_{b}``         mean training seconds (the 1k JSON has only 108 epochs)

Budgets absent from a file (``nasbench_only108.tfrecord`` has 108 epochs only) are NaN columns.
"""

from __future__ import annotations

import binascii
import json
import os
from operator import itemgetter
from pathlib import Path
from typing import Iterable

import numpy as np
import pandas as pd

from nas_assets.core.cells.bulk_hash import nb101_hashes
from nas_assets.core.cells.enumeration import SpaceArrays
from nas_assets.core.cells.space import (
    LABEL_OPS,
    MAX_EDGES,
    MAX_VERTICES,
    OP_LABELS,
    PAD_LABEL,
    InvalidSpecError,
    prune_spec,
)
from nas_assets.core.cells.table import padded_arrays
from nas_assets.core.nb101.errors import ReferenceDataError, _check_file
from nas_assets.core.nb101.proto import (
    _FINAL_COLUMNS,
    EvaluationData,
    ModelMetrics,
    ProtobufDecodeError,
    _final_metrics,
    _final_of,
    decode_model_metrics,
    encode_model_metrics,
)
from nas_assets.core.nb101.protocol import NB101_BUDGETS
from nas_assets.core.nb101.shipped import SHIPPED_NAME, load_shipped_raw
from nas_assets.core.nb101.tfrecord import (
    TFRecordError,
    _Batch,
    _tfrecord_batches,
    crc32c,
    crc32c_many,
    masked_crc32c,
    read_tfrecord,
    write_tfrecord,
)
from nas_assets.core.surrogate.features import specs_from_nb101_columns, specs_to_arrays

__all__ = [
    "BUDGETS", "EvaluationData", "ModelMetrics", "ProtobufDecodeError", "ReferenceDataError",
    "TFRecordError", "crc32c", "crc32c_many", "decode_model_metrics", "encode_model_metrics",
    "encode_nb101_record", "load_nb101_json", "load_nb101_tfrecord", "load_reference",
    "load_shipped_reference", "SHIPPED_NAME",
    "masked_crc32c", "normalise_reference", "read_tfrecord", "write_tfrecord",
]

#: NB101's epoch budgets.
BUDGETS: tuple[int, ...] = NB101_BUDGETS
#: The budget whose training time the 1k JSON's ``final_training_time`` holds.
FINAL_TIME_BUDGET = 108
JSON_SUFFIXES = (".json",)
TFRECORD_SUFFIXES = (".tfrecord", ".tfrecords")


# --------------------------------------------------------------------------------------------
# NB101 records and tables.


def encode_nb101_record(arch_hash: str, epochs: int, matrix: str, ops: str, metrics: ModelMetrics) -> bytes:
    """One NB101 TFRecord payload: JSON ``[hash, epochs, matrix, ops, base64 ModelMetrics]``.

    Args:
        arch_hash: the NB101 hash.
        epochs: the budget of this run.
        matrix: row-major '0'/'1' string of the pruned matrix.
        ops: comma-separated op names (``input,...,output``).
        metrics: the run's metrics.
    """
    payload = binascii.b2a_base64(encode_model_metrics(metrics), newline=False).decode("ascii")
    return json.dumps([arch_hash, int(epochs), matrix, ops, payload]).encode("utf-8")


def _check_budgets(budgets: Iterable[int]) -> tuple[int, ...]:
    out = tuple(int(b) for b in budgets)
    if not out or any(b <= 0 for b in out) or len(set(out)) != len(out):
        raise ValueError(f"budgets={out!r}: expected distinct positive epoch counts, e.g. {BUDGETS}")
    return out


def _validation_column(b: int) -> str:
    return f"{b}_final_validation_accuracy"


def load_nb101_json(path: str | os.PathLike, *, verify_hash: bool = True) -> pd.DataFrame:
    """Read the 1k-architecture JSON export (``nb101_cifar10_1k.json``) as a raw frame.

    The file holds columns as lists (``key``, padded 7x7 ``adjacency``, ``operations`` with -3
    padding, ``{4,12,36,108}_final_validation_accuracy``, ``final_training_time``,
    ``trainable_parameters``); other columns (nasbench-vis's ``embedding``) are dropped. Cells
    are pruned and re-padded with padding at the end (NB101's rows already are).

    Args:
        path: the JSON file.
        verify_hash: check every ``key`` against our NB101 hash of its cell (~0.1 s for 1k rows).

    Returns:
        The raw frame described in the module docstring.

    Raises:
        ReferenceDataError: missing file, missing column, ragged columns, invalid cell or hash mismatch.
    """
    path = Path(path)
    _check_file(path, "the NB101 JSON export (columns as lists: key, adjacency, operations, ...)")
    try:
        data = json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ReferenceDataError(f"{path}: not a JSON file ({exc})") from None
    budget_columns = [_validation_column(b) for b in BUDGETS]
    required = ["key", "adjacency", "operations", "trainable_parameters", *budget_columns]
    if not isinstance(data, dict):
        raise ReferenceDataError(
            f"{path}: expected a JSON object of columns {required}, got {type(data).__name__}"
        )
    missing = [c for c in required if c not in data]
    if missing:
        raise ReferenceDataError(f"{path}: missing columns {missing}; expected columns {required} (lists)")
    columns = [*required, *(["final_training_time"] if "final_training_time" in data else [])]
    sizes = {c: len(data[c]) if isinstance(data[c], list) else -1 for c in columns}
    if len(set(sizes.values())) != 1 or -1 in sizes.values():
        raise ReferenceDataError(f"{path}: columns must be lists of one length, got lengths {sizes}")
    keys = data["key"]
    _check_keys(path, np.asarray(keys, dtype=object))
    try:
        specs = specs_from_nb101_columns(data["adjacency"], data["operations"])
        matrices, labels, n_vertices = specs_to_arrays(specs)
    except InvalidSpecError as exc:
        raise ReferenceDataError(f"{path}: {exc}") from None
    n = len(keys)
    frame = pd.DataFrame({"key": pd.Series(keys, dtype=object)})
    frame["adjacency"] = _object_column(matrices)
    frame["operations"] = _object_column(labels)
    try:
        frame["trainable_parameters"] = np.asarray(data["trainable_parameters"], dtype=np.int64)
        times = data.get("final_training_time", [None] * n)
        frame["final_training_time"] = np.array([np.nan if t is None else t for t in times], dtype=np.float64)
        for c in budget_columns:
            frame[c] = np.array([np.nan if v is None else v for v in data[c]], dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ReferenceDataError(f"{path}: non-numeric metric values ({exc})") from None
    if verify_hash:
        _verify_hashes(path, np.asarray(keys, dtype=object), matrices, labels, n_vertices)
    return frame


def _check_keys(path: Path | str, keys: np.ndarray) -> None:
    """Raise unless every key is an NB101 hash: 32 lower-case hex characters."""
    ok = pd.Series(keys, dtype=object).map(type).eq(str).to_numpy()
    if ok.all():
        ok = pd.Series(keys, dtype=object).str.fullmatch("[0-9a-f]{32}").to_numpy(dtype=bool)
    if not ok.all():
        k = int(np.flatnonzero(~ok)[0])
        raise ReferenceDataError(
            f"{path}: row {k}: key {keys[k]!r} is not an NB101 hash (32 lower-case hex characters)"
        )


def _object_column(arrays: np.ndarray) -> np.ndarray:
    column = np.empty(arrays.shape[0], dtype=object)
    column[:] = list(arrays)
    return column


def _verify_hashes(path: Path, keys: np.ndarray, matrices: np.ndarray, labels: np.ndarray,
                   n_vertices: np.ndarray) -> None:
    """Raise if a key differs from our NB101 hash of its cell (vectorised, 40-90 us a cell)."""
    ours = np.empty(keys.size, dtype=object)
    for v in np.unique(n_vertices):
        sel = np.flatnonzero(n_vertices == v)
        ours[sel] = nb101_hashes(matrices[sel, :v, :v], labels[sel, :v])
    bad = np.flatnonzero(ours != keys)
    if bad.size:
        k = int(bad[0])
        raise ReferenceDataError(
            f"{path}: {bad.size} of {keys.size} architectures carry a hash that is not the NB101 hash of "
            f"their cell; first: row {k}, key {keys[k]!r}, computed {ours[k]!r}"
        )


def load_nb101_tfrecord(
    path: str | os.PathLike,
    budgets: Iterable[int] = BUDGETS,
    *,
    verify_hash: bool = False,
    verify_crc: bool = True,
) -> pd.DataFrame:
    """Read an NB101 TFRecord (``nasbench_full.tfrecord``, ``nasbench_only108.tfrecord``) as a raw frame.

    Each record is JSON ``[hash, epochs, matrix '0'/'1' string, ops csv, base64 ModelMetrics]``;
    runs are averaged per (hash, budget). Records of budgets not in ``budgets`` are skipped;
    budgets without records are NaN columns with ``{b}_repeats == 0``. Rows are in order of
    first appearance in the file. Measured 75k-105k records/s on one busy core (synthetic
    NB101-shaped files of 50k and 600k records, CRCs checked, hashes not), so the full file
    (5.08 M records: 423,624 cells x 4 budgets x 3 repeats) takes about a minute.

    Args:
        path: the TFRecord file.
        budgets: the epoch budgets to keep.
        verify_hash: check every hash against our NB101 hash of its cell (once per cell, not per
            record; 40-90 us a cell, so 20-40 s more for the 423,624 cells of the full files).
            Off by default: the CRCs already guard against damage, and our hash is tested
            against google's code.
        verify_crc: check the data CRC of every record (the length CRC is always checked).

    Returns:
        The raw frame described in the module docstring.

    Raises:
        ReferenceDataError: missing file, malformed record (file, record index and byte offset
            named) or hash mismatch.
        TFRecordError: truncated file or CRC mismatch.
    """
    path = Path(path)
    budgets = _check_budgets(budgets)
    budget_index = {b: i for i, b in enumerate(budgets)}
    index: dict[str, int] = {}
    first_matrix: list[str] = []
    first_ops: list[str] = []
    parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    for batch in _tfrecord_batches(path, verify_data=verify_crc):
        try:
            codes, which, values = _parse_batch(batch.records(), budget_index, index, first_matrix, first_ops)
        except (ValueError, TypeError, KeyError, IndexError, OverflowError, binascii.Error) as exc:
            _diagnose(path, batch, exc)
            raise
        parts.append((codes, which, values))
    n = len(index)
    if parts:
        codes = np.concatenate([p[0] for p in parts])
        which = np.concatenate([p[1] for p in parts])
        values = np.concatenate([p[2] for p in parts])
    else:
        codes, which = np.zeros(0, np.int64), np.zeros(0, np.int64)
        values = np.zeros((0, len(_FINAL_COLUMNS)))
    keys = np.array(list(index), dtype=object)
    _check_keys(path, keys)
    matrices, labels, n_vertices = _cells_from_strings(path, keys, first_matrix, first_ops)
    if verify_hash:
        _verify_hashes(path, keys, matrices, labels, n_vertices)

    # trainable parameters: the first run of each cell (NB101's API does the same)
    _, first = np.unique(codes, return_index=True)
    params = values[first, 0]
    if np.isnan(params).any():
        k = int(np.flatnonzero(np.isnan(params))[0])
        raise ReferenceDataError(
            f"{path}: architecture {keys[k]} has no trainable_parameters in its ModelMetrics"
        )
    frame = pd.DataFrame({"key": keys})
    frame["adjacency"] = _object_column(matrices)
    frame["operations"] = _object_column(labels)
    frame["trainable_parameters"] = params.astype(np.int64)
    slot = codes * len(budgets) + which
    counts = np.bincount(slot, minlength=n * len(budgets)).reshape(n, len(budgets))
    means = {}
    for col, name in enumerate(_FINAL_COLUMNS[1:], start=1):
        v = values[:, col]
        present = ~np.isnan(v)
        total = np.bincount(slot[present], weights=v[present], minlength=n * len(budgets))
        count = np.bincount(slot[present], minlength=n * len(budgets))
        with np.errstate(invalid="ignore", divide="ignore"):
            means[name] = (total / count).reshape(n, len(budgets))  # 0/0 -> NaN: no runs
    final = budget_index.get(FINAL_TIME_BUDGET)
    frame["final_training_time"] = means["training_time"][:, final] if final is not None else np.nan
    for b, i in budget_index.items():
        frame[_validation_column(b)] = means["validation_accuracy"][:, i]
        frame[f"{b}_final_test_accuracy"] = means["test_accuracy"][:, i]
        frame[f"{b}_final_train_accuracy"] = means["train_accuracy"][:, i]
        frame[f"{b}_final_training_time"] = means["training_time"][:, i]
        frame[f"{b}_repeats"] = counts[:, i].astype(np.int16)
    return frame


def _parse_batch(records: list[bytes], budget_index: dict[int, int], index: dict[str, int],
                 first_matrix: list[str], first_ops: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Codes (cell index), budget slots and final metrics of a batch; new cells are registered.

    The fast path: one ``json.loads`` for the whole batch and numpy for the protobufs. Any
    exception sends the caller to :func:`_diagnose` for a precise message.
    """
    rows = json.loads(b"[" + b",".join(records) + b"]")
    if not rows:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros((0, len(_FINAL_COLUMNS)))
    if set(map(type, rows)) != {list} or set(map(len, rows)) != {5}:
        raise ValueError("a record is not a 5-element list")
    # not zip(*rows): its 5 big tuples trigger full garbage collections over the parsed rows
    hashes, epochs, matrices, ops, payloads = (list(map(itemgetter(k), rows)) for k in range(5))
    if set(map(type, epochs)) != {int}:
        raise TypeError("epochs must be integers")
    budgets = np.array(sorted(budget_index), dtype=np.int64)
    slot_of = np.array([budget_index[b] for b in budgets.tolist()], dtype=np.int64)
    ep = np.array(epochs, dtype=np.int64)
    pos = np.minimum(np.searchsorted(budgets, ep), budgets.size - 1)
    keep = budgets[pos] == ep
    which = slot_of[pos[keep]]
    kept = np.flatnonzero(keep)
    local, uniques = pd.factorize(np.array(hashes, dtype=object)[kept])
    if (local < 0).any():  # factorize's code for None / NaN
        raise TypeError("a hash is null")
    _, first = np.unique(local, return_index=True)  # factorize numbers in order of appearance
    codes_of = np.empty(len(uniques), dtype=np.int64)
    for u, h in enumerate(uniques):
        code = index.get(h)
        if code is None:
            i = kept[first[u]]
            if type(h) is not str or type(matrices[i]) is not str or type(ops[i]) is not str:
                raise TypeError("hash, matrix and ops must be strings")
            code = index[h] = len(index)
            first_matrix.append(matrices[i])
            first_ops.append(ops[i])
        codes_of[u] = code
    codes = codes_of[local]
    a2b = binascii.a2b_base64
    messages = [a2b(payloads[i], strict_mode=True) for i in kept.tolist()]
    return codes, which, _final_metrics(messages)


def _diagnose(path: Path, batch: _Batch, exc: Exception) -> None:
    """Find the record of ``batch`` that broke the fast path and raise a precise error about it."""
    for k, record in enumerate(batch.records()):
        where = f"{path}: record {batch.first_index + k} at byte offset {int(batch.offsets[k])}"
        try:
            row = json.loads(record)
        except (UnicodeDecodeError, json.JSONDecodeError) as err:
            raise ReferenceDataError(
                f"{where}: not JSON ({err}); expected [hash, epochs, matrix, ops, base64 metrics]"
            ) from None
        types = (str, int, str, str, str)
        if type(row) is not list or len(row) != 5 or any(type(x) is not t for x, t in zip(row, types)):
            shown = repr(row)[:120]
            raise ReferenceDataError(
                f"{where}: expected a JSON list [hash (str), epochs (int), matrix (str), ops (str), "
                f"base64 ModelMetrics (str)], got {shown}"
            )
        try:
            _final_of(decode_model_metrics(binascii.a2b_base64(row[4], strict_mode=True)))
        except binascii.Error as err:
            raise ReferenceDataError(f"{where}: the metrics field is not base64 ({err})") from None
        except ProtobufDecodeError as err:
            raise ReferenceDataError(
                f"{where}: the metrics are not a ModelMetrics protobuf ({err})"
            ) from None
    raise ReferenceDataError(
        f"{path}: unreadable records in the batch at byte offset {int(batch.offsets[0])}: {exc}"
    )


def _cells_from_strings(path: Path, keys: np.ndarray, matrices: list[str],
                        ops: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Validated padded arrays from NB101's matrix/ops strings (vectorised)."""
    n = len(matrices)
    if n == 0:
        return (np.zeros((0, MAX_VERTICES, MAX_VERTICES), np.uint8), np.zeros((0, MAX_VERTICES), np.int8),
                np.zeros(0, np.int8))
    lengths = np.fromiter(map(len, matrices), dtype=np.int64, count=n)
    side = np.rint(np.sqrt(lengths)).astype(np.int64)
    n_ops = np.fromiter((o.count(",") + 1 for o in ops), dtype=np.int64, count=n)
    blob = np.frombuffer("".join(matrices).encode("utf-8", "replace"), dtype=np.uint8)
    bad = (side * side != lengths) | (side < 2) | (side > MAX_VERTICES) | (n_ops != side)
    if blob.size != lengths.sum() or ((blob != ord("0")) & (blob != ord("1"))).any():
        bad |= [set(m) - {"0", "1"} != set() for m in matrices]
    unknown = {o for o in set(ops) if any(name not in OP_LABELS for name in o.split(","))}
    if unknown:
        bad |= np.isin(np.asarray(ops, dtype=object), list(unknown))
    if bad.any():
        k = int(np.flatnonzero(bad)[0])
        raise ReferenceDataError(
            f"{path}: architecture {keys[k]} has matrix {matrices[k]!r} and ops {ops[k]!r}; expected a "
            "row-major '0'/'1' string of V*V characters (V = 2..7) and V comma-separated op names from "
            f"{sorted(OP_LABELS)}"
        )
    mats, labels, n_vertices = padded_arrays(matrices, ops)
    _check_cells(path, keys, mats, labels)
    return mats, labels, n_vertices


def _check_cells(path: Path | str, keys: np.ndarray, matrices: np.ndarray, labels: np.ndarray) -> None:
    """Raise unless every row is a pruned, valid cell with padding at the end (vectorised)."""
    n = matrices.shape[0]
    if matrices.shape[1:] != (MAX_VERTICES, MAX_VERTICES) or labels.shape != (n, MAX_VERTICES):
        raise ReferenceDataError(
            f"{path}: expected (N, 7, 7) adjacency and (N, 7) operations, "
            f"got {matrices.shape} and {labels.shape}"
        )
    pad = labels == PAD_LABEL
    nv = (~pad).sum(axis=1)
    pos = np.arange(MAX_VERTICES)
    inside = pos[None, :] < nv[:, None]
    rows = np.arange(n)
    last = np.clip(nv - 1, 0, MAX_VERTICES - 1)
    interior = inside & (pos[None, :] > 0) & (pos[None, :] < nv[:, None] - 1)
    m = matrices.astype(np.int64)
    out_deg, in_deg = m.sum(axis=2), m.sum(axis=1)
    ok = (
        (pad == ~inside).all(axis=1)  # padding only at the end
        & (nv >= 2)
        & (labels[:, 0] == OP_LABELS["input"])
        & (labels[rows, last] == OP_LABELS["output"])
        & (~interior | np.isin(labels, [0, 1, 2])).all(axis=1)
        & np.isin(matrices, [0, 1]).all(axis=(1, 2))
        & (np.tril(m).sum(axis=(1, 2)) == 0)
        & ((m * ~(inside[:, :, None] & inside[:, None, :])).sum(axis=(1, 2)) == 0)
        & ((out_deg > 0) | ~inside | (pos[None, :] == last[:, None])).all(axis=1)  # pruned
        & ((in_deg > 0) | ~inside | (pos[None, :] == 0)).all(axis=1)
        & (m.sum(axis=(1, 2)) <= MAX_EDGES)
    )
    if ok.all():
        return
    k = int(np.flatnonzero(~ok)[0])
    v = int(nv[k])
    reason = "it is not a pruned cell with -3 padding only at the end (the loaders' layout)"
    try:
        names = [LABEL_OPS[int(x)] for x in labels[k, :v]]
        prune_spec(matrices[k, :v, :v], names)
    except (InvalidSpecError, KeyError) as exc:
        reason = f"invalid cell: {exc}"
    raise ReferenceDataError(f"{path}: row {k} (key {keys[k]!r}): {reason}")


def normalise_reference(
    raw: pd.DataFrame, budgets: Iterable[int] = BUDGETS, *, source: str = "frame"
) -> pd.DataFrame:
    """The normalised reference frame (module docstring) from a raw frame of either loader.

    Args:
        raw: a frame of :func:`load_nb101_json` or :func:`load_nb101_tfrecord`.
        budgets: the budgets to give columns to (absent ones are NaN).
        source: what to call ``raw`` in error messages (the loaders pass the file name).

    Raises:
        ReferenceDataError: a missing column or a row that is not a valid pruned cell.
    """
    budgets = _check_budgets(budgets)
    missing = [c for c in ("key", "adjacency", "operations", "trainable_parameters") if c not in raw.columns]
    if missing:
        raise ReferenceDataError(
            f"{source}: missing columns {missing}; expected a frame of load_nb101_json/_tfrecord"
        )
    n = len(raw)
    keys = raw["key"].to_numpy(dtype=object)
    if n:
        matrices = np.stack(raw["adjacency"].to_numpy()).astype(np.uint8)
        labels = np.stack(raw["operations"].to_numpy()).astype(np.int8)
    else:
        matrices = np.zeros((0, MAX_VERTICES, MAX_VERTICES), np.uint8)
        labels = np.zeros((0, MAX_VERTICES), np.int8)
    _check_cells(source, keys, matrices, labels)
    n_vertices = (labels != PAD_LABEL).sum(axis=1).astype(np.int8)
    cells = SpaceArrays(matrices, labels, n_vertices, keys, np.zeros(n, np.uint64), {})
    nan = np.full(n, np.nan)

    def column(name: str, fallback: np.ndarray = nan) -> np.ndarray:
        return raw[name].to_numpy(dtype=np.float64) if name in raw.columns else fallback

    frame = pd.DataFrame({
        "arch_hash": keys,
        "n_vertices": n_vertices,
        "n_edges": cells.n_edges.astype(np.int8),
        "matrix": cells.matrix_strings() if n else [],
        "ops": cells.ops_strings() if n else [],
        "trainable_parameters": raw["trainable_parameters"].to_numpy(dtype=np.int64),
    })
    for b in budgets:
        frame[f"val_accuracy_{b}"] = column(_validation_column(b))
    for b in budgets:
        frame[f"test_accuracy_{b}"] = column(f"{b}_final_test_accuracy")
    for b in budgets:
        fallback = column("final_training_time") if b == FINAL_TIME_BUDGET else nan
        frame[f"training_time_{b}"] = column(f"{b}_final_training_time", fallback)
    return frame


def load_reference(
    path: str | os.PathLike,
    budgets: Iterable[int] = BUDGETS,
    *,
    verify_hash: bool | None = None,
) -> pd.DataFrame:
    """Load NB101 CIFAR-10 reference data as the normalised frame (module docstring).

    Args:
        path: ``*.json`` (the 1k export) or ``*.tfrecord`` (NB101's full or 108-only file).
        budgets: epoch budgets to give columns to.
        verify_hash: check every hash against our NB101 hash of its cell; ``None`` checks the
            JSON (milliseconds) and not a TFRecord (~40 s for the full space).

    Raises:
        ReferenceDataError: missing file, unknown suffix, or malformed content.
        TFRecordError: a truncated or corrupt TFRecord.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    expected = f"NB101 reference data: a {' or '.join(JSON_SUFFIXES + TFRECORD_SUFFIXES)} file"
    if suffix in JSON_SUFFIXES:
        raw = load_nb101_json(path, verify_hash=True if verify_hash is None else verify_hash)
    elif suffix in TFRECORD_SUFFIXES:
        raw = load_nb101_tfrecord(path, budgets, verify_hash=bool(verify_hash))
    else:
        if not path.exists():
            raise ReferenceDataError(f"{path}: does not exist; expected {expected}")
        raise ReferenceDataError(f"{path}: unknown suffix {path.suffix!r}; expected {expected}")
    return normalise_reference(raw, budgets, source=str(path))


def load_shipped_reference(budgets: Iterable[int] = BUDGETS) -> pd.DataFrame:
    """The NB101 CIFAR-10 reference shipped with the package (20,001 cells), normalised.

    See :mod:`nas_assets.core.nb101.shipped`: validation accuracy at every budget of the file,
    108-epoch training time and parameters; no test accuracy (NaN columns).
    """
    return normalise_reference(load_shipped_raw(), budgets, source=SHIPPED_NAME)
