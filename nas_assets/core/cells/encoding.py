"""Architecture encodings and neighbourhoods (FLA and adjacency encodings, Hamming-1 neighbours).

* FLA encoding: 17 slots ``[input, conv1x1_0..4, conv3x3_0..4, maxpool3x3_0..4, output]``,
  a 17x17 slot adjacency flattened row-major (289 bits), as used by the footprint authors.
* Adjacency-one-hot features (36): 21 upper-triangle bits of the 7x7 matrix + 5x3 one-hot ops.
* Neighbour indexes over the enumerated space, as CSR arrays (``indptr``, ``indices``):
  Hamming-1 under the FLA encoding (sparse) and the graph-edit neighbourhood (denser).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from nas_assets.core.cells.bulk_hash import mix64, wl_signatures
from nas_assets.core.cells.enumeration import SpaceArrays
from nas_assets.core.cells.space import (
    CONV1X1,
    CONV3X3,
    INPUT_LABEL,
    MAX_EDGES,
    MAX_VERTICES,
    MAXPOOL3X3,
    OP_LABELS,
    OUTPUT_LABEL,
    ArchSpec,
)

N_SLOTS = 17
FLA_BITS = N_SLOTS * N_SLOTS
MAX_PER_OP = 5
#: First slot of each interior op in the FLA slot list.
_SLOT_BASE = {OP_LABELS[CONV1X1]: 1, OP_LABELS[CONV3X3]: 6, OP_LABELS[MAXPOOL3X3]: 11}
FLA_SLOT_NAMES: tuple[str, ...] = (
    "input",
    *(f"conv1x1_{i}" for i in range(MAX_PER_OP)),
    *(f"conv3x3_{i}" for i in range(MAX_PER_OP)),
    *(f"maxpool3x3_{i}" for i in range(MAX_PER_OP)),
    "output",
)
ADJ_ONEHOT_DIM = 21 + 5 * 3


def fla_slots(labels: np.ndarray) -> np.ndarray:
    """FLA slot of every vertex of padded label rows (N, 7); -1 for padding."""
    slots = np.full(labels.shape, -1, dtype=np.int16)
    slots[labels == INPUT_LABEL] = 0
    slots[labels == OUTPUT_LABEL] = N_SLOTS - 1
    for label, base in _SLOT_BASE.items():
        is_op = labels == label
        occurrence = np.cumsum(is_op, axis=1) - 1
        slots = np.where(is_op, base + occurrence, slots)
    return slots


def encode_fla_batch(matrices: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """FLA encodings of padded cells: (N, 7, 7), (N, 7) -> (N, 289) uint8 0/1."""
    n = matrices.shape[0]
    slots = fla_slots(labels).astype(np.int64)
    g, i, j = np.nonzero(matrices)
    out = np.zeros((n, FLA_BITS), dtype=np.uint8)
    out[g, slots[g, i] * N_SLOTS + slots[g, j]] = 1
    return out


def encode_fla(matrix: Sequence[Sequence[int]] | np.ndarray, ops: Sequence[str]) -> np.ndarray:
    """FLA 289-bit encoding of a spec (pruned and validated first); uint8 0/1 of length 289."""
    m, lab, _ = ArchSpec.from_spec(matrix, ops).padded()
    return encode_fla_batch(m, lab)[0]


def adjacency_onehot_batch(matrices: np.ndarray, labels: np.ndarray, n_vertices: np.ndarray) -> np.ndarray:
    """36 predictor features: 21 upper-triangle bits + one-hot of the 5 interior ops.

    Cells with fewer than 7 vertices are laid out with the output moved to vertex 6 (the
    NB101 padding convention), so the same bit always means an edge into the output.
    """
    n = matrices.shape[0]
    nv = n_vertices.astype(np.int64)
    full, _ = to_seven_vertices(matrices, labels, n_vertices)
    iu = np.triu_indices(MAX_VERTICES, k=1)
    edges = full[:, iu[0], iu[1]]
    ops = np.zeros((n, 5, 3), dtype=np.uint8)
    interior = labels[:, 1:6]
    for k in range(3):
        ops[:, :, k] = (interior == k) & (np.arange(1, 6)[None, :] < nv[:, None] - 1)
    return np.concatenate([edges, ops.reshape(n, 15)], axis=1)


def adjacency_onehot(matrix: Sequence[Sequence[int]] | np.ndarray, ops: Sequence[str]) -> np.ndarray:
    """The 36 adjacency-one-hot features of one spec."""
    m, lab, nv = ArchSpec.from_spec(matrix, ops).padded()
    return adjacency_onehot_batch(m, lab, nv)[0]


@dataclass
class NeighbourIndex:
    """Neighbours of every architecture, CSR: ``indices[indptr[i]:indptr[i+1]]``.

    Attributes:
        indptr: (N + 1,) int64 offsets.
        indices: (M,) int32 architecture indices (rows of the space), sorted per row.
        kind: ``"fla"`` or ``"graph_edit"``.
    """

    indptr: np.ndarray
    indices: np.ndarray
    kind: str

    def __len__(self) -> int:
        return int(self.indptr.size - 1)

    def neighbours(self, index: int) -> np.ndarray:
        return self.indices[self.indptr[index] : self.indptr[index + 1]]

    @property
    def degrees(self) -> np.ndarray:
        return np.diff(self.indptr)

    def edges(self) -> tuple[np.ndarray, np.ndarray]:
        """(source, target) arrays of all directed neighbour pairs."""
        src = np.repeat(np.arange(len(self), dtype=np.int32), self.degrees)
        return src, self.indices

    def symmetrised(self) -> "NeighbourIndex":
        """The undirected closure: j is a neighbour of i when either is a neighbour of the other.

        The graph-edit relation is not symmetric (deleting an edge may prune a vertex that no
        single flip puts back), so a random walk on it can reach a cell without out-neighbours
        (e.g. the 2-vertex cell); on the closure it cannot.
        """
        src, dst = self.edges()
        return _csr(len(self), np.concatenate([src, dst]), np.concatenate([dst, src]),
                    f"{self.kind}_symmetric")


def _csr(n: int, src: np.ndarray, dst: np.ndarray, kind: str) -> NeighbourIndex:
    pairs = np.unique(src.astype(np.int64) * n + dst.astype(np.int64))
    src, dst = pairs // n, pairs % n
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(src, minlength=n), out=indptr[1:])
    return NeighbourIndex(indptr=indptr, indices=dst.astype(np.int32), kind=kind)


_ZOBRIST = mix64(np.arange(FLA_BITS, dtype=np.uint64) + np.uint64(0x5EED))


def fla_neighbour_index(space: SpaceArrays, chunk: int = 50_000) -> NeighbourIndex:
    """Hamming-1 neighbours under the FLA encoding, restricted to the space.

    A flip can only land in the space if it toggles an edge between two slots the cell
    already uses (a lone edge to an unused slot leaves a dangling vertex), so only those
    V(V-1) flips are looked up, by Zobrist keys (XOR of per-bit random words) and verified
    exactly on the packed encodings.
    """
    n = len(space)
    slots = fla_slots(space.labels).astype(np.int64)
    used = slots >= 0
    bit = slots[:, :, None] * N_SLOTS + slots[:, None, :]  # (N, 7, 7) bit of edge u -> v
    bit = np.where(used[:, :, None] & used[:, None, :], bit, 0)
    keys = np.bitwise_xor.reduce(np.where(space.matrices.astype(bool), _ZOBRIST[bit], np.uint64(0)),
                                 axis=(1, 2))
    order = np.argsort(keys)
    sorted_keys = keys[order]
    packed = np.packbits(encode_fla_batch(space.matrices, space.labels), axis=1)
    srcs, dsts = [], []
    u, v = np.nonzero(~np.eye(MAX_VERTICES, dtype=bool))
    for start in range(0, n, chunk):
        sl = slice(start, min(n, start + chunk))
        ok = used[sl][:, u] & used[sl][:, v]  # (c, 42) candidate flips
        g, c = np.nonzero(ok)
        b = bit[sl][g, u[c], v[c]]
        query = keys[sl][g] ^ _ZOBRIST[b]
        pos = np.searchsorted(sorted_keys, query)
        pos = np.minimum(pos, n - 1)
        hit = sorted_keys[pos] == query
        src = g[hit] + start
        dst = order[pos[hit]]
        bhit = b[hit]
        # exact check: encodings differ exactly in the flipped bit
        diff = np.unpackbits(packed[src] ^ packed[dst], axis=1)[:, :FLA_BITS]
        exact = (diff.sum(axis=1) == 1) & (diff[np.arange(bhit.size), bhit] == 1)
        srcs.append(src[exact])
        dsts.append(dst[exact])
    return _csr(n, np.concatenate(srcs), np.concatenate(dsts), "fla")


def _prune_batch(adj: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Vectorised pruning of (N, 7, 7) cells whose output is vertex 6.

    Returns (kept-vertex mask (N, 7), input-reaches-output (N,)).
    """
    a = adj.astype(bool)
    n = a.shape[0]
    fwd = np.zeros((n, MAX_VERTICES), dtype=bool)
    fwd[:, 0] = True
    for v in range(1, MAX_VERTICES):
        fwd[:, v] = (a[:, :v, v] & fwd[:, :v]).any(axis=1)
    bwd = np.zeros((n, MAX_VERTICES), dtype=bool)
    bwd[:, -1] = True
    for v in range(MAX_VERTICES - 2, -1, -1):
        bwd[:, v] = (a[:, v, v + 1 :] & bwd[:, v + 1 :]).any(axis=1)
    return fwd & bwd, fwd[:, -1]


def to_seven_vertices(
    matrices: np.ndarray, labels: np.ndarray, n_vertices: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Embed padded cells in 7x7 with the output moved to vertex 6 (NB101's padding layout).

    Interior vertices keep their index; the vertices between them and the output are
    isolated padding (op conv3x3, never on a path), so pruning gives the cell back.
    """
    n = matrices.shape[0]
    rows = np.arange(n)
    nv = n_vertices.astype(np.int64)
    pos = np.broadcast_to(np.arange(MAX_VERTICES), (n, MAX_VERTICES)).copy()
    pos[rows, nv - 1] = MAX_VERTICES - 1  # padding rows/cols of ``matrices`` hold no edges
    full = np.zeros((n, MAX_VERTICES, MAX_VERTICES), dtype=np.uint8)
    g, i, j = np.nonzero(matrices)
    full[g, pos[g, i], pos[g, j]] = 1
    interior = (np.arange(MAX_VERTICES)[None, :] >= 1) & (np.arange(MAX_VERTICES)[None, :] < nv[:, None] - 1)
    seven = np.where(interior, labels, np.int8(OP_LABELS[CONV3X3])).astype(np.int8)
    seven[:, 0] = INPUT_LABEL
    seven[:, -1] = OUTPUT_LABEL
    return full, seven


def graph_edit_neighbour_index(
    space: SpaceArrays, rows: np.ndarray | None = None, chunk: int = 20_000
) -> NeighbourIndex:
    """Neighbours under the standard NB101 mutation: flip one of the 21 upper-triangle bits
    of the 7x7 matrix or change one interior op, then prune, validate and look up.

    Cells with fewer than 7 vertices are embedded with isolated padding vertices before the
    output, so a single flip can never bring a padding vertex into the cell (it would need an
    in- and an out-edge). The relation is not symmetric: deleting an edge may prune a vertex,
    which no single flip puts back.

    Args:
        space: the enumerated space.
        rows: optional architecture indices to compute neighbours for (others get none).
        chunk: architectures per vectorised batch (bounds memory, ~1.5 GB at the default).
    """
    n = len(space)
    sources = np.arange(n) if rows is None else np.unique(np.asarray(rows, dtype=np.int64))
    full, labels = to_seven_vertices(space.matrices, space.labels, space.n_vertices)
    nv = space.n_vertices.astype(np.int64)
    real = np.arange(MAX_VERTICES)[None, :] < nv[:, None] - 1
    real[:, -1] = True  # output
    order = np.argsort(space.signatures)
    sorted_sigs = space.signatures[order]
    iu, ju = np.triu_indices(MAX_VERTICES, k=1)
    srcs, dsts = [], []
    for start in range(0, sources.size, chunk):
        sl = sources[start : start + chunk]
        m, lab, rl = full[sl], labels[sl], real[sl]
        # 21 edge flips between real vertices
        flip_ok = rl[:, iu] & rl[:, ju]
        g, e = np.nonzero(flip_ok)
        adj_f = m[g].copy()
        adj_f[np.arange(g.size), iu[e], ju[e]] ^= 1
        lab_f = lab[g]
        # op changes: each interior vertex to each of the two other ops
        g2, v2 = np.nonzero(rl[:, 1:-1])
        v2 = v2 + 1
        adj_o = np.repeat(m[g2], 2, axis=0)
        lab_o = np.repeat(lab[g2], 2, axis=0)
        rows = np.arange(lab_o.shape[0])
        cur = lab_o[rows, np.repeat(v2, 2)]
        lab_o[rows, np.repeat(v2, 2)] = (cur + np.tile([1, 2], g2.size)) % 3
        adj = np.concatenate([adj_f, adj_o])
        lbl = np.concatenate([lab_f, lab_o])
        src = sl[np.concatenate([g, np.repeat(g2, 2)])]
        keep, connected = _prune_batch(adj)
        kept_adj = adj.astype(bool) & keep[:, :, None] & keep[:, None, :]
        valid = connected & (kept_adj.sum(axis=(1, 2)) <= MAX_EDGES)
        sig = wl_signatures(adj[valid], lbl[valid], keep[valid])
        pos = np.minimum(np.searchsorted(sorted_sigs, sig), n - 1)
        hit = sorted_sigs[pos] == sig
        dst = order[pos[hit]]
        s = src[valid][hit]
        srcs.append(s[dst != s])
        dsts.append(dst[dst != s])
    return _csr(n, np.concatenate(srcs), np.concatenate(dsts), "graph_edit")
