"""Vectorised graph hashing for many cells at once.

Two tools, both over batches of equally sized graphs held as numpy arrays:

* :func:`wl_signatures` -- a 64-bit Weisfeiler-Lehman signature (random-mix multiset
  hashing, numpy only). It refines exactly like the NB101 md5 hash (same initial colours,
  same in/out-neighbour multisets, V rounds), so equal signatures <=> equal NB101 hashes up
  to 64-bit collisions. Used to deduplicate the 1.29 M labelled graphs of the enumeration and
  to look up mutated specs in the space.
* :func:`nb101_hashes` -- the exact NB101 md5 fingerprint (NAS-Bench-101's search space) for a batch of pruned
  graphs. Each round computes one md5 per *distinct* vertex state (states repeat a lot across
  the space) and builds the md5 messages as byte arrays, so Python only calls ``md5``.
"""

from __future__ import annotations

import hashlib

import numpy as np

try:  # CPython's built-in md5: ~30 % faster than OpenSSL's for the short messages here
    from _md5 import md5 as _fast_md5
except ImportError:  # pragma: no cover - other interpreters
    _fast_md5 = hashlib.md5

_U64 = np.uint64
_MASK_CONSTANTS = np.array(
    [0x9E3779B97F4A7C15, 0xBF58476D1CE4E5B9, 0x94D049BB133111EB, 0xD6E8FEB86659FD93,
     0xA0761D6478BD642F, 0xE7037ED1A0B428DB, 0x8EBC6AF09C88C6E3, 0x589965CC75374CC3],
    dtype=_U64,
)


def mix64(x: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser, elementwise on uint64 (wrapping arithmetic)."""
    z = x.astype(_U64, copy=True)
    z += _MASK_CONSTANTS[0]
    z ^= z >> _U64(30)
    z *= _MASK_CONSTANTS[1]
    z ^= z >> _U64(27)
    z *= _MASK_CONSTANTS[2]
    z ^= z >> _U64(31)
    return z


def wl_signatures(adj: np.ndarray, labels: np.ndarray, keep: np.ndarray | None = None) -> np.ndarray:
    """64-bit WL signatures of a batch of labelled DAGs.

    Args:
        adj: (N, n, n) 0/1 adjacency matrices (upper-triangular).
        labels: (N, n) integer labels (-2..2).
        keep: optional (N, n) bool mask of vertices that belong to the graph (pruned vertices
            are False); edges touching dropped vertices are ignored. Default: all kept.

    Returns:
        (N,) uint64 signatures; graphs with equal NB101 hash get equal signatures.
    """
    n_graphs, n, _ = adj.shape
    if keep is None:
        keep = np.ones((n_graphs, n), dtype=bool)
    a = adj.astype(bool) & keep[:, :, None] & keep[:, None, :]
    a64 = a.astype(_U64)
    n_vertices = keep.sum(axis=1)
    in_deg = a.sum(axis=1).astype(np.int64)
    out_deg = a.sum(axis=2).astype(np.int64)
    colour0 = out_deg * 64 + in_deg * 8 + (labels.astype(np.int64) + 3)
    state = mix64(colour0.astype(_U64))
    for round_index in range(n):
        from_preds = np.einsum("guv,gu->gv", a64, mix64(state ^ _MASK_CONSTANTS[3]))
        from_succs = np.einsum("gvw,gw->gv", a64, mix64(state ^ _MASK_CONSTANTS[4]))
        new_state = mix64(state * _MASK_CONSTANTS[5] + mix64(from_preds)
                          ^ mix64(from_succs + _MASK_CONSTANTS[6]))
        # NB101 runs exactly V rounds for a V-vertex graph: freeze smaller graphs.
        active = (round_index < n_vertices)[:, None]
        state = np.where(active, new_state, state)
    contributions = np.where(keep, mix64(state ^ _MASK_CONSTANTS[7]), _U64(0))
    return mix64(contributions.sum(axis=1, dtype=_U64) + n_vertices.astype(_U64))


# byte -> its two lower-case hex characters, as one little-endian uint16
_HEX_PAIRS = np.array(
    [ord("0123456789abcdef"[b >> 4]) | ord("0123456789abcdef"[b & 15]) << 8 for b in range(256)],
    dtype="<u2",
)


def _hex_rows(digests: np.ndarray | bytes) -> np.ndarray:
    """(m, 16) digests (array or concatenated bytes) -> (m, 32) uint8 ASCII lower-case hex."""
    raw = np.frombuffer(digests, dtype=np.uint8) if isinstance(digests, bytes) else digests
    raw = raw.reshape(-1, 16)
    return _HEX_PAIRS[raw].view(np.uint8).reshape(raw.shape[0], 32)


def _md5_rows(messages: np.ndarray) -> bytes:
    """md5 digest of each row of a (m, L) uint8 array, concatenated."""
    if messages.shape[0] == 0:
        return b""
    width = messages.shape[1]
    blob = np.ascontiguousarray(messages).tobytes()
    md5 = _fast_md5
    return b"".join([md5(blob[i : i + width]).digest() for i in range(0, len(blob), width)])


def _sorted_table(digests: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Hex table of (m, 16) md5 digests sorted as hex strings; returns (rows, index -> rank).

    Hex order equals raw-byte order: sort by the first 8 bytes as a big-endian uint64 and
    fall back to both halves only if two different digests share a prefix.
    """
    words = digests.reshape(-1, 16).view(">u8").astype(np.uint64)
    order = np.argsort(words[:, 0])
    head, tail = words[order, 0], words[order, 1]
    if ((head[1:] == head[:-1]) & (tail[1:] != tail[:-1])).any():
        order = np.lexsort((words[:, 1], words[:, 0]))
    rank = np.empty(order.size, dtype=np.int32)
    rank[order] = np.arange(order.size, dtype=np.int32)
    return _hex_rows(digests[order]), rank


def _unique_rows(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Exact unique rows of a small-int matrix; returns (representative index, inverse).

    Rows are keyed by a 64-bit polynomial hash, then checked element by element, so a key
    collision raises instead of silently merging two states.
    """
    acc = np.zeros(rows.shape[0], dtype=_U64)
    for j in range(rows.shape[1]):
        acc *= _MASK_CONSTANTS[2]
        acc += rows[:, j].astype(_U64)
    _, first, inverse = np.unique(mix64(acc), return_index=True, return_inverse=True)
    inverse = inverse.ravel()
    if not np.array_equal(rows[first[inverse]], rows):
        raise RuntimeError("64-bit key collision while deduplicating vertex states")
    return first, inverse


def nb101_hashes(adj: np.ndarray, labels: np.ndarray) -> list[str]:
    """Exact NB101 hashes of a batch of pruned V-vertex graphs (all the same V).

    Args:
        adj: (N, V, V) 0/1 upper-triangular adjacency of pruned graphs.
        labels: (N, V) NB101 integer labels.

    Returns:
        N hex fingerprints, identical to ``graph_util.hash_module``.
    """
    n_graphs, n, _ = adj.shape
    if n_graphs == 0:
        return []
    a = adj.astype(bool)
    in_deg = a.sum(axis=1)
    out_deg = a.sum(axis=2)
    # Round 0: md5(str((out, in, label))) over the few distinct triples.
    code = (out_deg.astype(np.int64) * 64 + in_deg * 8 + labels.astype(np.int64) + 3).ravel()
    codes, ids = np.unique(code, return_inverse=True)
    table, rank = _sorted_table(np.frombuffer(b"".join(
        hashlib.md5(str((int(c) // 64, int(c) // 8 % 8, int(c) % 8 - 3)).encode()).digest() for c in codes
    ), dtype=np.uint8).reshape(-1, 16))
    ids = rank[ids].reshape(n_graphs, n)

    big = np.int32(np.iinfo(np.int32).max)
    n_in = in_deg.ravel()
    n_out = out_deg.ravel()
    dedup = True
    for _ in range(n):
        # Neighbour ids sorted by hex order (table is hex-sorted, so sort the ids).
        ids_b = np.broadcast_to(ids[:, :, None], (n_graphs, n, n))  # [g, u, v] = ids[g, u]
        preds = np.sort(np.where(a, ids_b, big).transpose(0, 2, 1), axis=2)  # [g, v, u]
        succs = np.sort(np.where(a, ids[:, None, :], big), axis=2)  # [g, v, w]
        rows = np.concatenate(
            [ids.reshape(-1, 1), preds.reshape(-1, n), succs.reshape(-1, n)], axis=1
        )
        if dedup:
            first, inverse = _unique_rows(rows)
            # States only ever split, so once nearly all are distinct, stop paying for dedup
            # (a repeated state just gets the same md5 twice; equal strings sort together).
            dedup = first.size < 0.9 * rows.shape[0]
        else:
            first = inverse = np.arange(rows.shape[0])
        new_digests = np.empty((first.size, 16), dtype=np.uint8)
        group = n_in[first].astype(np.int64) * 8 + n_out[first]
        for code in np.unique(group):
            ki, ko = int(code) // 8, int(code) % 8
            sel = np.flatnonzero(group == code)
            r = rows[first[sel]]
            width = 32 * (ki + ko + 1) + 2
            msg = np.empty((sel.size, width), dtype=np.uint8)
            pos = 0
            for j in range(ki):
                msg[:, pos : pos + 32] = table[r[:, 1 + j]]
                pos += 32
            msg[:, pos] = ord("|")
            pos += 1
            for j in range(ko):
                msg[:, pos : pos + 32] = table[r[:, 1 + n + j]]
                pos += 32
            msg[:, pos] = ord("|")
            msg[:, pos + 1 :] = table[r[:, 0]]
            new_digests[sel] = np.frombuffer(_md5_rows(msg), dtype=np.uint8).reshape(-1, 16)
        table, rank = _sorted_table(new_digests)
        ids = rank[inverse].reshape(n_graphs, n)

    # Fingerprint: md5(str(sorted(hashes))) = md5("['h1', 'h2', ...]").
    ids = np.sort(ids, axis=1)
    width = 2 + 34 * n + 2 * (n - 1)
    msg = np.empty((n_graphs, width), dtype=np.uint8)
    msg[:, 0] = ord("[")
    msg[:, -1] = ord("]")
    for v in range(n):
        start = 1 + 36 * v
        msg[:, start] = ord("'")
        msg[:, start + 1 : start + 33] = table[ids[:, v]]
        msg[:, start + 33] = ord("'")
        if v < n - 1:
            msg[:, start + 34] = ord(",")
            msg[:, start + 35] = ord(" ")
    return [bytes(row).decode() for row in _hex_rows(_md5_rows(msg))]
