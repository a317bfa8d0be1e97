"""Predictor features of NAS-Bench-101 cells for the surrogate (encodings and the surrogate's inputs).

Three feature sets, concatenated in the order asked for:

* ``fla``: the 289-bit FLA encoding (:func:`nas_assets.core.cells.encoding.encode_fla_batch`).
* ``adjacency``: the 36 adjacency-one-hot features
  (:func:`nas_assets.core.cells.encoding.adjacency_onehot_batch`).
* ``cost``: 9 analytic descriptors -- log parameters and log FLOPs of the network built from the
  cell (:func:`nas_assets.core.cells.cost.network_cost_batch`), vertex and edge counts, one count per
  interior op, the depth (longest input->output path, in edges) and the width (in-degree of the
  output). These are invariant under vertex relabelling, which the bit encodings are not, and
  they carry most of what a tree ensemble can learn from ~1,000 points.

Everything is vectorised over padded batches (``matrices`` (N, 7, 7), ``labels`` (N, 7) with -3
as padding, ``n_vertices`` (N,), output at ``n_vertices - 1``: the layout of
:class:`nas_assets.core.cells.enumeration.SpaceArrays`); single specs are pruned, validated and padded
first by :func:`specs_to_arrays`.
"""

from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np

from nas_assets.core.cells.cost import CIFAR10_SHAPE, NetworkShape, network_cost_batch
from nas_assets.core.cells.encoding import (
    ADJ_ONEHOT_DIM,
    FLA_BITS,
    FLA_SLOT_NAMES,
    adjacency_onehot_batch,
    encode_fla_batch,
)
from nas_assets.core.cells.space import (
    INTERIOR_OPS,
    MAX_VERTICES,
    OP_LABELS,
    PAD_LABEL,
    InvalidSpecError,
    labels_to_ops,
    prune_spec,
)

#: The feature sets a surrogate may use, in canonical order.
FEATURE_SETS: tuple[str, ...] = ("fla", "adjacency", "cost")
#: Default of the feature functions here; :class:`SurrogateConfig` defaults to all three sets
#: (they won the tuning in benchmarks/surrogate.py).
DEFAULT_FEATURE_SETS: tuple[str, ...] = ("adjacency", "cost")

_OP_SHORT = {"conv3x3-bn-relu": "conv3x3", "conv1x1-bn-relu": "conv1x1", "maxpool3x3": "maxpool3x3"}
COST_FEATURE_NAMES: tuple[str, ...] = (
    "log_params",
    "log_flops",
    "n_vertices",
    "n_edges",
    *(f"n_{_OP_SHORT[op]}" for op in INTERIOR_OPS),
    "depth",
    "width",
)
_IU = np.triu_indices(MAX_VERTICES, k=1)
_ADJ_NAMES: tuple[str, ...] = (
    *(f"edge_{i}_{j}" for i, j in zip(*_IU)),
    *(f"op{v}_{_OP_SHORT[op]}" for v in range(1, 6) for op in INTERIOR_OPS),
)
_FLA_NAMES: tuple[str, ...] = tuple(f"fla_{a}__{b}" for a in FLA_SLOT_NAMES for b in FLA_SLOT_NAMES)
_NAMES = {"fla": _FLA_NAMES, "adjacency": _ADJ_NAMES, "cost": COST_FEATURE_NAMES}
FEATURE_DIMS: dict[str, int] = {"fla": FLA_BITS, "adjacency": ADJ_ONEHOT_DIM, "cost": len(COST_FEATURE_NAMES)}
assert all(len(_NAMES[k]) == FEATURE_DIMS[k] for k in FEATURE_SETS)


def check_feature_sets(feature_sets: Iterable[str] | str) -> tuple[str, ...]:
    """Validate a feature-set selection and return it as a tuple (order kept, duplicates refused).

    Raises:
        ValueError: an unknown or repeated name, or an empty selection.
    """
    if isinstance(feature_sets, str):  # ("fla") is a str, not a tuple: a common slip
        feature_sets = (feature_sets,)
    sets = tuple(feature_sets)
    unknown = [s for s in sets if s not in FEATURE_SETS]
    if unknown or not sets or len(set(sets)) != len(sets):
        raise ValueError(
            f"feature_sets={sets!r}: expected a non-empty selection without repeats from {FEATURE_SETS}"
        )
    return sets


def feature_names(feature_sets: Iterable[str] | str = DEFAULT_FEATURE_SETS) -> list[str]:
    """Column names of :func:`features_from_arrays` for ``feature_sets``, in order."""
    return [name for s in check_feature_sets(feature_sets) for name in _NAMES[s]]


def specs_to_arrays(
    specs: Iterable[tuple[Sequence[Sequence[int]] | np.ndarray, Sequence[str]]],
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Prune, validate and pad ``(matrix, ops)`` pairs into the batch layout.

    Args:
        specs: ``(matrix, ops)`` pairs; ``ops`` are op names (``input``, ``conv3x3-bn-relu``, ...).

    Returns:
        ``(matrices (N, 7, 7) uint8, labels (N, 7) int8 with -3 padding, n_vertices (N,) int8)``.

    Raises:
        InvalidSpecError: a spec is malformed or not in the space; the message gives its index.
    """
    mats, labs, nvs = [], [], []
    for k, spec in enumerate(specs):
        try:
            matrix, ops = spec
            pruned, pruned_ops = prune_spec(matrix, ops)
        except InvalidSpecError as exc:
            raise InvalidSpecError(f"spec {k}: {exc}") from None
        except (TypeError, ValueError) as exc:
            raise InvalidSpecError(
                f"spec {k}: expected a (matrix, ops) pair, got {type(spec).__name__}: {exc}"
            ) from None
        v = pruned.shape[0]
        m = np.zeros((MAX_VERTICES, MAX_VERTICES), dtype=np.uint8)
        m[:v, :v] = pruned
        lab = np.full(MAX_VERTICES, PAD_LABEL, dtype=np.int8)
        lab[:v] = [OP_LABELS[op] for op in pruned_ops]
        mats.append(m)
        labs.append(lab)
        nvs.append(v)
    if not mats:
        return (np.zeros((0, MAX_VERTICES, MAX_VERTICES), np.uint8),
                np.zeros((0, MAX_VERTICES), np.int8), np.zeros(0, np.int8))
    return np.stack(mats), np.stack(labs), np.asarray(nvs, dtype=np.int8)


def specs_from_nb101_columns(
    adjacency: Sequence[Sequence[Sequence[float]]] | np.ndarray,
    operations: Sequence[Sequence[int]] | np.ndarray,
) -> list[tuple[np.ndarray, list[str]]]:
    """``(matrix, ops)`` specs from NB101-style padded columns (7x7 adjacency, -3 = padding).

    This is the layout of exported NAS-Bench-101 tables (``adjacency``/``operations`` columns,
    ops ``-1`` input, ``0`` conv3x3, ``1`` conv1x1, ``2`` maxpool, ``-2`` output, ``-3`` padding):
    padding rows and columns are dropped and the labels mapped to op names.

    Raises:
        InvalidSpecError: an unknown op label, or a shape mismatch (the row index is named).
    """
    specs = []
    for k, (adj, ops) in enumerate(zip(adjacency, operations)):
        ops_arr = np.asarray(ops, dtype=np.int64)
        adj_arr = np.asarray(adj)
        if adj_arr.shape != (ops_arr.size, ops_arr.size):
            raise InvalidSpecError(
                f"row {k}: adjacency has shape {adj_arr.shape} but there are {ops_arr.size} operations"
            )
        keep = np.flatnonzero(ops_arr != PAD_LABEL)
        try:
            op_names = labels_to_ops(ops_arr[keep].tolist())
        except InvalidSpecError as exc:
            raise InvalidSpecError(f"row {k}: {exc}") from None
        specs.append((np.rint(adj_arr[np.ix_(keep, keep)]).astype(np.uint8), op_names))
    return specs


def _check_arrays(matrices: np.ndarray, labels: np.ndarray, n_vertices: np.ndarray) -> None:
    n = matrices.shape[0] if matrices.ndim == 3 else -1
    if (
        matrices.shape[1:] != (MAX_VERTICES, MAX_VERTICES)
        or labels.shape != (n, MAX_VERTICES)
        or n_vertices.shape != (n,)
    ):
        raise ValueError(
            f"expected padded arrays matrices (N, 7, 7), labels (N, 7), n_vertices (N,); got "
            f"{matrices.shape}, {labels.shape}, {n_vertices.shape} "
            "(use specs_to_arrays for (matrix, ops) pairs)"
        )


def cost_features_batch(
    matrices: np.ndarray, labels: np.ndarray, n_vertices: np.ndarray, shape: NetworkShape = CIFAR10_SHAPE
) -> np.ndarray:
    """The ``cost`` feature set, (N, 9) float32 (see :data:`COST_FEATURE_NAMES`)."""
    n = matrices.shape[0]
    params, flops = network_cost_batch(matrices, labels, n_vertices, shape)
    nv = n_vertices.astype(np.int64)
    m = matrices.astype(bool)
    positions = np.arange(MAX_VERTICES)
    interior = (positions[None, :] >= 1) & (positions[None, :] < nv[:, None] - 1)
    op_counts = [((labels == OP_LABELS[op]) & interior).sum(axis=1) for op in INTERIOR_OPS]
    # Longest path from the input by dynamic programming in vertex (= topological) order; the
    # cells are pruned, so every vertex up to the output is reachable and -1 never survives.
    depth = np.full((n, MAX_VERTICES), -1, dtype=np.int64)
    depth[:, 0] = 0
    for v in range(1, MAX_VERTICES):
        depth[:, v] = np.where(m[:, :v, v], depth[:, :v] + 1, -1).max(axis=1)
    rows = np.arange(n)
    out = nv - 1
    width = m[rows, :, out].sum(axis=1)
    columns = [
        np.log(params), np.log(flops), nv, m.sum(axis=(1, 2)), *op_counts, depth[rows, out], width,
    ]
    return np.stack(columns, axis=1).astype(np.float32)


def features_from_arrays(
    matrices: np.ndarray,
    labels: np.ndarray,
    n_vertices: np.ndarray,
    feature_sets: Iterable[str] | str = DEFAULT_FEATURE_SETS,
    shape: NetworkShape = CIFAR10_SHAPE,
) -> np.ndarray:
    """Features of a batch of padded, pruned cells (vectorised; the whole space in seconds).

    Args:
        matrices: (N, 7, 7) 0/1 adjacency, zero beyond ``n_vertices``; output at ``n_vertices - 1``.
        labels: (N, 7) NB101 labels, -3 as padding.
        n_vertices: (N,) vertex counts.
        feature_sets: which of :data:`FEATURE_SETS` to concatenate, in this order.
        shape: network skeleton for the ``cost`` features (CIFAR-10 or So2Sat).

    Returns:
        (N, F) float32, columns named by :func:`feature_names`.

    Raises:
        ValueError: unknown feature sets or arrays of the wrong shape.
    """
    sets = check_feature_sets(feature_sets)
    matrices, labels, n_vertices = np.asarray(matrices), np.asarray(labels), np.asarray(n_vertices)
    _check_arrays(matrices, labels, n_vertices)
    blocks = []
    for s in sets:
        if s == "fla":
            blocks.append(encode_fla_batch(matrices, labels))
        elif s == "adjacency":
            blocks.append(adjacency_onehot_batch(matrices, labels, n_vertices))
        else:
            blocks.append(cost_features_batch(matrices, labels, n_vertices, shape))
    # one allocation at the final dtype: the FLA block alone is 490 MB as float32 over the space
    out = np.empty((matrices.shape[0], sum(FEATURE_DIMS[s] for s in sets)), dtype=np.float32)
    col = 0
    for s, block in zip(sets, blocks):
        out[:, col : col + FEATURE_DIMS[s]] = block
        col += FEATURE_DIMS[s]
    return out


def features_from_specs(
    specs: Iterable[tuple[Sequence[Sequence[int]] | np.ndarray, Sequence[str]]],
    feature_sets: Iterable[str] | str = DEFAULT_FEATURE_SETS,
    shape: NetworkShape = CIFAR10_SHAPE,
) -> np.ndarray:
    """Features of ``(matrix, ops)`` specs (pruned and validated first).

    Raises:
        InvalidSpecError: a spec is not a valid cell of the space (its index is named).
    """
    return features_from_arrays(*specs_to_arrays(specs), feature_sets=feature_sets, shape=shape)
