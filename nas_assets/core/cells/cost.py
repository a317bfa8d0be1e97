"""Analytic size and cost of the NAS-Bench-101 network (NAS-Bench-101's search space), no torch needed.

Everything is vectorised over padded batches (``matrices`` (N, 7, 7), ``labels`` (N, 7),
``n_vertices`` (N,)) so the whole space costs well under a second; single-spec helpers wrap
the batch code. The channel rule is NB101's ``compute_vertex_channels``; the torch network of
``nas_assets.train.network`` uses :func:`vertex_channels` so both agree by construction.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nas_assets.core.cells.space import CONV1X1, CONV3X3, MAX_VERTICES, OP_LABELS, ArchSpec
from nas_assets.core.nb101.protocol import NB101_CELLS_PER_STACK, NB101_NUM_STACKS, NB101_STEM_CHANNELS
from nas_assets.core.settings import require_int_at_least

_CONV3 = OP_LABELS[CONV3X3]
_CONV1 = OP_LABELS[CONV1X1]


@dataclass(frozen=True)
class NetworkShape:
    """Macro skeleton of the NB101 network around the cell.

    Attributes:
        in_channels: image channels (3 for CIFAR-10, 18 for So2Sat fusion, 8 S1, 10 S2).
        num_classes: classifier outputs (10 CIFAR-10, 17 So2Sat LCZ42).
        stem_channels: width of the stem conv and of the first stack (NB101: 128).
        num_stacks: stacks of cells, with a 2x2 max-pool and channel doubling between them.
        cells_per_stack: cells in each stack.
        input_size: height = width of the input image (32 for both datasets).
    """

    in_channels: int = 3
    num_classes: int = 10
    stem_channels: int = NB101_STEM_CHANNELS
    num_stacks: int = NB101_NUM_STACKS
    cells_per_stack: int = NB101_CELLS_PER_STACK
    input_size: int = 32

    def __post_init__(self) -> None:
        for name in ("in_channels", "num_classes", "stem_channels", "num_stacks", "cells_per_stack",
                     "input_size"):
            require_int_at_least(name, getattr(self, name), 1)

    def cell_plan(self) -> list[tuple[int, int, int]]:
        """(input channels, output channels, spatial size) of every cell in order."""
        plan = []
        cin, size = self.stem_channels, self.input_size
        for stack in range(self.num_stacks):
            cout = self.stem_channels * 2**stack
            if stack > 0:
                size = -(-size // 2)  # 2x2 stride-2 max-pool, 'same' padding: ceil(H / 2)
            for _ in range(self.cells_per_stack):
                plan.append((cin, cout, size))
                cin = cout
        return plan


CIFAR10_SHAPE = NetworkShape(in_channels=3, num_classes=10)
SO2SAT_SHAPE = NetworkShape(in_channels=18, num_classes=17)


def vertex_channels_batch(
    matrices: np.ndarray, n_vertices: np.ndarray, in_channels: int, out_channels: int
) -> np.ndarray:
    """Channels of every vertex of a batch of padded cells (NB101's rule).

    Args:
        matrices: (N, 7, 7) pruned adjacency, zero-padded; output at ``n_vertices - 1``.
        n_vertices: (N,) vertex counts.
        in_channels: channels entering the cell (vertex 0).
        out_channels: channels leaving the cell (output vertex).

    Returns:
        (N, 7) int64; entries beyond the output vertex are 0.
    """
    n = matrices.shape[0]
    rows = np.arange(n)
    out_idx = n_vertices.astype(np.int64) - 1
    m = matrices.astype(bool)
    positions = np.arange(MAX_VERTICES)
    interior = (positions[None, :] >= 1) & (positions[None, :] < out_idx[:, None])
    feeds_out = m[rows, :, out_idx] & interior  # (N, 7): interior vertex -> output edge
    k = feeds_out.sum(axis=1)
    safe_k = np.maximum(k, 1)
    base = out_channels // safe_k
    extra = out_channels % safe_k
    rank = np.cumsum(feeds_out, axis=1) - 1  # order among the output's interior predecessors
    ch = np.where(feeds_out, base[:, None] + (rank < extra[:, None]), 0).astype(np.int64)
    for t in range(MAX_VERTICES - 2, 0, -1):  # successors first: t+1.. are final
        succ = m[:, t, :] & interior
        best = np.where(succ, ch, 0).max(axis=1)
        ch[:, t] = np.where(interior[:, t] & ~feeds_out[:, t], best, ch[:, t])
    ch[:, 0] = in_channels
    ch[rows, out_idx] = out_channels
    return ch


def vertex_channels(matrix: np.ndarray, in_channels: int, out_channels: int) -> list[int]:
    """Channels of each vertex of one pruned cell (see :func:`vertex_channels_batch`)."""
    v = matrix.shape[0]
    padded = np.zeros((1, MAX_VERTICES, MAX_VERTICES), dtype=np.uint8)
    padded[0, :v, :v] = matrix
    return vertex_channels_batch(padded, np.array([v]), in_channels, out_channels)[0, :v].tolist()


def _cell_weights(
    matrices: np.ndarray, labels: np.ndarray, n_vertices: np.ndarray, cin: int, cout: int
) -> tuple[np.ndarray, np.ndarray]:
    """(conv weights, BN parameters) of one cell for each architecture."""
    n = matrices.shape[0]
    rows = np.arange(n)
    out_idx = n_vertices.astype(np.int64) - 1
    ch = vertex_channels_batch(matrices, n_vertices, cin, cout)
    positions = np.arange(MAX_VERTICES)
    interior = (positions[None, :] >= 1) & (positions[None, :] < out_idx[:, None])
    from_input = matrices[:, 0, :].astype(bool) & interior
    kernel = np.where(labels == _CONV3, 9, np.where(labels == _CONV1, 1, 0)) * interior
    weights = (kernel * ch * ch).sum(axis=1) + (from_input * cin * ch).sum(axis=1)
    bn = (2 * ch * (kernel > 0)).sum(axis=1) + (2 * ch * from_input).sum(axis=1)
    # Output projection: when input->output is an edge (it is the whole cell when V == 2).
    out_proj = matrices[rows, 0, out_idx].astype(bool)
    weights = weights + out_proj * cin * cout
    bn = bn + out_proj * 2 * cout
    return weights.astype(np.int64), bn.astype(np.int64)


def network_cost_batch(
    matrices: np.ndarray, labels: np.ndarray, n_vertices: np.ndarray, shape: NetworkShape = CIFAR10_SHAPE
) -> tuple[np.ndarray, np.ndarray]:
    """Trainable parameters and forward FLOPs of the NB101 network for a batch of cells.

    FLOPs count each multiply-add of a convolution or of the classifier as 2 (the convention
    of ``torch.utils.flop_counter``); batch norm, ReLU, pooling and additions are not counted.

    Returns:
        (params, flops), each (N,) int64.
    """
    stem_w = shape.in_channels * shape.stem_channels * 9
    params = np.full(matrices.shape[0], stem_w + 2 * shape.stem_channels, dtype=np.int64)
    flops = np.full(matrices.shape[0], 2 * stem_w * shape.input_size**2, dtype=np.int64)
    cache: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}
    last = shape.stem_channels
    for cin, cout, size in shape.cell_plan():
        if (cin, cout) not in cache:
            cache[(cin, cout)] = _cell_weights(matrices, labels, n_vertices, cin, cout)
        w, bn = cache[(cin, cout)]
        params += w + bn
        flops += 2 * w * size * size
        last = cout
    params += last * shape.num_classes + shape.num_classes
    flops += 2 * last * shape.num_classes
    return params, flops


def count_parameters(spec: ArchSpec, shape: NetworkShape = CIFAR10_SHAPE) -> int:
    """Trainable parameters of the NB101 network built from ``spec``."""
    return int(network_cost_batch(*spec.padded(), shape)[0][0])


def count_flops(spec: ArchSpec, shape: NetworkShape = CIFAR10_SHAPE) -> int:
    """Forward FLOPs for one image (2 per multiply-add of convs and classifier)."""
    return int(network_cost_batch(*spec.padded(), shape)[1][0])
