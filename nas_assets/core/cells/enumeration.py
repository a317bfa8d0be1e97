"""Enumerate the whole NAS-Bench-101 space (423,624 cells) with numpy.

Follows the order of NB101's ``generate_graphs.py`` -- vertex count ascending, edge bitmask
ascending (bit ``x + y(y-1)/2`` is edge x->y), interior labellings in ``itertools.product``
order -- and keeps the first labelled graph of each hash class, so the representative matrix
of every architecture is the one NB101 stored.
"""

from __future__ import annotations

import itertools
import multiprocessing
import os
from concurrent.futures import Executor, ProcessPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass
from functools import partial

import numpy as np

from nas_assets.core.cells.bulk_hash import nb101_hashes, wl_signatures
from nas_assets.core.cells.space import (
    CUMULATIVE_LABELLED_COUNTS,
    INPUT_LABEL,
    INTERIOR_OPS,
    LABEL_OPS,
    MAX_EDGES,
    MAX_VERTICES,
    OUTPUT_LABEL,
    PAD_LABEL,
)


@dataclass
class SpaceArrays:
    """The enumerated space as padded arrays (row i = architecture index i).

    Attributes:
        matrices: (N, 7, 7) uint8 pruned adjacency, zero-padded beyond ``n_vertices``; the
            output vertex sits at ``n_vertices - 1``.
        labels: (N, 7) int8 NB101 labels, -3 as padding.
        n_vertices: (N,) int8.
        hashes: (N,) NB101 hashes as a numpy unicode array.
        signatures: (N,) uint64 WL signatures (for vectorised lookups of mutated specs).
        labelled_counts: labelled graphs seen per vertex count before deduplication.
    """

    matrices: np.ndarray
    labels: np.ndarray
    n_vertices: np.ndarray
    hashes: np.ndarray
    signatures: np.ndarray
    labelled_counts: dict[int, int]

    def __len__(self) -> int:
        return int(self.hashes.shape[0])

    @property
    def n_edges(self) -> np.ndarray:
        return self.matrices.sum(axis=(1, 2), dtype=np.int16)

    def matrix(self, index: int) -> np.ndarray:
        v = int(self.n_vertices[index])
        return self.matrices[index, :v, :v]

    def ops(self, index: int) -> list[str]:
        v = int(self.n_vertices[index])
        return [LABEL_OPS[int(x)] for x in self.labels[index, :v]]

    def matrix_strings(self) -> list[str]:
        """Row-major '0'/'1' strings of the pruned V x V matrices (NB101 tfrecord style)."""
        chars = (self.matrices + ord("0")).astype(np.uint8)
        order = np.arange(len(self))
        result = np.empty(len(self), dtype=object)
        for v in np.unique(self.n_vertices):
            sel = order[self.n_vertices == v]
            block = np.ascontiguousarray(chars[sel, :v, :v]).reshape(sel.size, v * v)
            result[sel] = block.view(f"S{v * v}").ravel().astype(str)
        return result.tolist()

    def ops_strings(self) -> list[str]:
        """Comma-separated op names per architecture."""
        names = {lab: name for lab, name in LABEL_OPS.items()}
        result = np.empty(len(self), dtype=object)
        keys = self.labels.astype(np.int64) - PAD_LABEL  # -3..2 -> 0..5
        codes = (keys * (6 ** np.arange(MAX_VERTICES))).sum(axis=1)
        uniq, inverse = np.unique(codes, return_inverse=True)
        texts = []
        for code in uniq:
            labs = [(int(code) // 6**i) % 6 - 3 for i in range(MAX_VERTICES)]
            texts.append(",".join(names[x] for x in labs if x != PAD_LABEL))
        result[:] = np.array(texts, dtype=object)[inverse.ravel()]
        return result.tolist()


def _edge_bit_positions(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(rows, cols, bit index) of the upper-triangle edges of an n x n matrix, NB101 order."""
    xs, ys = np.triu_indices(n, k=1)
    bits = xs + ys * (ys - 1) // 2
    return xs, ys, bits


def full_dag_matrices(n: int) -> np.ndarray:
    """All n-vertex upper-triangular matrices with every vertex on an input->output path.

    Returns (M, n, n) uint8 in ascending NB101 bitmask order, at most 9 edges.
    """
    n_bits = n * (n - 1) // 2
    masks = np.arange(1 << n_bits, dtype=np.uint32)
    masks = masks[np.bitwise_count(masks) <= MAX_EDGES]
    xs, ys, bits = _edge_bit_positions(n)
    mats = np.zeros((masks.size, n, n), dtype=np.uint8)
    mats[:, xs, ys] = (masks[:, None] >> bits.astype(np.uint32)) & 1
    ok = np.all(mats[:, : n - 1, :].any(axis=2), axis=1) & np.all(mats[:, :, 1:].any(axis=1), axis=1)
    return mats[ok]


def _labellings(n: int) -> np.ndarray:
    """All labellings of n vertices (input, interior..., output), itertools.product order."""
    combos = list(itertools.product(range(len(INTERIOR_OPS)), repeat=n - 2))
    interior = np.array(combos, dtype=np.int8).reshape(len(combos), n - 2)
    ends = np.broadcast_to(np.array([INPUT_LABEL], np.int8), (interior.shape[0], 1))
    outs = np.broadcast_to(np.array([OUTPUT_LABEL], np.int8), (interior.shape[0], 1))
    return np.concatenate([ends, interior, outs], axis=1)


def _labelled_signatures(mats: np.ndarray, labs: np.ndarray) -> np.ndarray:
    """WL signatures of every (matrix, labelling) pair, matrix-major (generator order)."""
    n_lab = labs.shape[0]
    sigs = np.empty(mats.shape[0] * n_lab, dtype=np.uint64)
    chunk = max(1, 200_000 // n_lab)  # bounds the (chunk * n_lab, n, n) temporaries
    for start in range(0, mats.shape[0], chunk):
        m = mats[start : start + chunk]
        sigs[start * n_lab : (start + m.shape[0]) * n_lab] = wl_signatures(
            np.repeat(m, n_lab, axis=0), np.tile(labs, (m.shape[0], 1))
        )
    return sigs


def _split(n_items: int, parts: int) -> list[slice]:
    bounds = np.linspace(0, n_items, parts + 1).astype(int)
    return [slice(a, b) for a, b in zip(bounds[:-1], bounds[1:]) if b > a]


def _parallel(pool: Executor | None, fn, arrays: list[np.ndarray], n_items: int, parts: int) -> list:
    """Run ``fn`` over row-chunks of ``arrays`` (in the pool if given) and keep chunk order."""
    slices = _split(n_items, parts if pool is not None else 1)
    if pool is None or len(slices) == 1:
        return [fn(*(a[s] for a in arrays)) for s in slices]
    return list(pool.map(fn, *([a[s] for s in slices] for a in arrays)))


def default_workers() -> int:
    """Processes for bulk hashing: the CPUs this process may use, at most 8."""
    try:
        return max(1, min(8, len(os.sched_getaffinity(0))))
    except AttributeError:  # not Linux
        return max(1, min(8, os.cpu_count() or 1))


def enumerate_space(max_vertices: int = MAX_VERTICES, workers: int | None = None) -> SpaceArrays:
    """Enumerate every unique NB101 cell with at most ``max_vertices`` vertices.

    Args:
        max_vertices: 2..7 (7 gives the full 423,624-cell space).
        workers: processes for the hashing (default: available CPUs, at most 8; 1 = inline).

    Returns:
        SpaceArrays in NB101 generator order, with exact NB101 hashes.
    """
    if not 2 <= max_vertices <= MAX_VERTICES:
        raise ValueError(f"max_vertices must be in 2..{MAX_VERTICES}, got {max_vertices}")
    workers = default_workers() if workers is None else max(1, int(workers))
    # fork, not spawn: spawn re-imports the caller's __main__, which breaks user scripts
    # without a main guard. The workers run numpy/hashlib only and take no locks.
    can_fork = "fork" in multiprocessing.get_all_start_methods()
    pool_cm = (
        ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork"))
        if workers > 1 and max_vertices >= 6 and can_fork
        else nullcontext(None)
    )
    mats_out, labels_out, nv_out, hashes_out, sigs_out = [], [], [], [], []
    labelled_counts: dict[int, int] = {}
    seen = np.empty(0, dtype=np.uint64)
    with pool_cm as pool:
        for n in range(2, max_vertices + 1):
            mats = full_dag_matrices(n)
            labs = _labellings(n)
            n_lab = labs.shape[0]
            labelled_counts[n] = mats.shape[0] * n_lab
            big = pool if n >= 6 else None
            sigs = np.concatenate(_parallel(
                big, partial(_labelled_signatures, labs=labs), [mats], mats.shape[0], 2 * workers
            ))
            uniq, first = np.unique(sigs, return_index=True)
            new = ~np.isin(uniq, seen)  # pruned graphs of different V never share a hash
            first = np.sort(first[new])
            seen = np.concatenate([seen, uniq[new]])
            sel_mats = mats[first // n_lab]
            sel_labs = labs[first % n_lab]
            hashes = [h for part in _parallel(big, nb101_hashes, [sel_mats, sel_labs], first.size, workers)
                      for h in part]
            padded = np.zeros((first.size, MAX_VERTICES, MAX_VERTICES), dtype=np.uint8)
            padded[:, :n, :n] = sel_mats
            plabs = np.full((first.size, MAX_VERTICES), PAD_LABEL, dtype=np.int8)
            plabs[:, :n] = sel_labs
            mats_out.append(padded)
            labels_out.append(plabs)
            nv_out.append(np.full(first.size, n, dtype=np.int8))
            hashes_out.append(np.array(hashes))
            sigs_out.append(sigs[first])
    cumulative = np.cumsum([labelled_counts[n] for n in sorted(labelled_counts)])
    for n, total in zip(sorted(labelled_counts), cumulative):
        if total != CUMULATIVE_LABELLED_COUNTS[n]:  # guards the generator against regressions
            raise RuntimeError(f"enumeration produced {total} labelled graphs for V<={n}, "
                               f"expected {CUMULATIVE_LABELLED_COUNTS[n]}")
    return SpaceArrays(
        matrices=np.concatenate(mats_out),
        labels=np.concatenate(labels_out),
        n_vertices=np.concatenate(nv_out),
        hashes=np.concatenate(hashes_out),
        signatures=np.concatenate(sigs_out),
        labelled_counts=labelled_counts,
    )
