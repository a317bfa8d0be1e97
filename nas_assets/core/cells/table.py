"""The enumerated space as one table: the rows of DuckDB's ``architectures`` and of the export."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from nas_assets.core.cells.cost import CIFAR10_SHAPE, NetworkShape, network_cost_batch
from nas_assets.core.cells.encoding import NeighbourIndex
from nas_assets.core.cells.enumeration import SpaceArrays


def architecture_frame(space: SpaceArrays, shape: NetworkShape,
                       fla: NeighbourIndex | None = None) -> pd.DataFrame:
    """One row per architecture, in enumeration order.

    Args:
        space: the enumerated space.
        shape: network skeleton for ``params``/``flops`` (e.g. So2Sat: 18 channels, 17 classes).
        fla: optional FLA neighbour index, for ``n_fla_neighbours`` (0 when absent).

    Returns:
        Columns arch_index, arch_hash, n_vertices, n_edges, matrix ('0'/'1' row-major string of
        the pruned V x V matrix), ops (comma-separated names), params, flops, params_cifar10,
        flops_cifar10 (NB101's own network: 3 channels, 10 classes), n_fla_neighbours.
    """
    params, flops = network_cost_batch(space.matrices, space.labels, space.n_vertices, shape)
    if shape == CIFAR10_SHAPE:
        params_c, flops_c = params, flops
    else:
        params_c, flops_c = network_cost_batch(space.matrices, space.labels, space.n_vertices, CIFAR10_SHAPE)
    n = len(space)
    return pd.DataFrame(
        {
            "arch_index": np.arange(n, dtype=np.int32),
            "arch_hash": space.hashes.astype(object),
            "n_vertices": space.n_vertices.astype(np.int8),
            "n_edges": space.n_edges.astype(np.int8),
            "matrix": space.matrix_strings(),
            "ops": space.ops_strings(),
            "params": params,
            "flops": flops,
            "params_cifar10": params_c,
            "flops_cifar10": flops_c,
            "n_fla_neighbours": (fla.degrees if fla is not None else np.zeros(n)).astype(np.int16),
        }
    )


def build_space_table(
    shape: NetworkShape, workers: int | None = None
) -> tuple[SpaceArrays, NeighbourIndex, pd.DataFrame, dict[str, float]]:
    """Enumerate the space, index FLA neighbours and tabulate; returns timings in seconds too."""
    import time

    from nas_assets.core.cells.encoding import fla_neighbour_index
    from nas_assets.core.cells.enumeration import enumerate_space

    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    space = enumerate_space(workers=workers)
    timings["enumerate_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    fla = fla_neighbour_index(space)
    timings["fla_index_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    frame = architecture_frame(space, shape, fla)
    timings["table_s"] = time.perf_counter() - t0
    return space, fla, frame, timings


def padded_arrays(matrix_strings: Sequence[str],
                  ops_strings: Sequence[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The stored ``matrix``/``ops`` columns back to padded arrays, vectorised.

    Returns:
        (N, 7, 7) uint8 matrices, (N, 7) int8 labels (-3 pads), (N,) int8 vertex counts.
    """
    from nas_assets.core.cells.space import MAX_VERTICES, OP_LABELS, PAD_LABEL

    matrix_array = np.asarray(matrix_strings, dtype=object)
    n = matrix_array.size
    lengths = np.fromiter((len(m) for m in matrix_array), dtype=np.int64, count=n)
    n_vertices = np.rint(np.sqrt(lengths)).astype(np.int8)
    matrices = np.zeros((n, MAX_VERTICES, MAX_VERTICES), dtype=np.uint8)
    for v in np.unique(n_vertices):
        sel = np.flatnonzero(n_vertices == v)
        blob = "".join(matrix_array[sel]).encode()
        bits = (np.frombuffer(blob, dtype=np.uint8) - ord("0")).reshape(sel.size, v, v)
        matrices[sel, :v, :v] = bits
    labels = np.full((n, MAX_VERTICES), PAD_LABEL, dtype=np.int8)
    uniq, inverse = np.unique(np.asarray(ops_strings, dtype=object).astype(str), return_inverse=True)
    table = np.full((uniq.size, MAX_VERTICES), PAD_LABEL, dtype=np.int8)
    for k, text in enumerate(uniq):
        names = text.split(",")
        table[k, : len(names)] = [OP_LABELS[name] for name in names]
    labels[:] = table[inverse.ravel()]
    return matrices, labels, n_vertices
