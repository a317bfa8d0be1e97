"""FLA encoding, adjacency-one-hot features and the neighbour indexes, checked by brute force."""

from __future__ import annotations

import numpy as np
import pytest

from nas_assets.core.cells.encoding import (
    FLA_BITS,
    adjacency_onehot,
    adjacency_onehot_batch,
    encode_fla,
    encode_fla_batch,
    graph_edit_neighbour_index,
)
from nas_assets.core.cells.space import CONV1X1, CONV3X3, MAXPOOL3X3, ArchSpec, InvalidSpecError


def bits(vec: np.ndarray) -> set[int]:
    return set(np.flatnonzero(vec).tolist())


def test_fla_hand_worked_examples():
    # input -> conv3x3 -> output, plus input -> output.  Slots: input 0, conv3x3_0 6, output 16.
    enc = encode_fla([[0, 1, 1], [0, 0, 1], [0, 0, 0]], ["input", CONV3X3, "output"])
    assert enc.dtype == np.uint8 and enc.shape == (FLA_BITS,)
    assert bits(enc) == {0 * 17 + 6, 6 * 17 + 16, 0 * 17 + 16}
    # a chain conv1x1 -> conv1x1 -> maxpool: conv1x1_0 = 1, conv1x1_1 = 2, maxpool3x3_0 = 11
    chain = np.diag(np.ones(4, dtype=int), k=1)
    enc = encode_fla(chain, ["input", CONV1X1, CONV1X1, MAXPOOL3X3, "output"])
    assert bits(enc) == {0 * 17 + 1, 1 * 17 + 2, 2 * 17 + 11, 11 * 17 + 16}
    # occurrence order follows vertex order, per op: conv3x3 at vertices 1 and 3 -> slots 6 and 7
    m = [[0, 1, 1, 0, 0], [0, 0, 0, 1, 0], [0, 0, 0, 1, 0], [0, 0, 0, 0, 1], [0, 0, 0, 0, 0]]
    enc = encode_fla(m, ["input", CONV3X3, MAXPOOL3X3, CONV3X3, "output"])
    assert bits(enc) == {0 * 17 + 6, 0 * 17 + 11, 6 * 17 + 7, 11 * 17 + 7, 7 * 17 + 16}


def test_fla_rejects_invalid_specs():
    with pytest.raises(InvalidSpecError, match="not connected"):
        encode_fla([[0, 0], [0, 0]], ["input", "output"])


def test_adjacency_onehot_layout():
    feats = adjacency_onehot([[0, 1, 1], [0, 0, 1], [0, 0, 0]], ["input", CONV1X1, "output"])
    assert feats.shape == (36,)
    iu = list(zip(*np.triu_indices(7, k=1)))
    # output moved to vertex 6: edges 0->1, 0->6, 1->6
    assert {iu[i] for i in np.flatnonzero(feats[:21])} == {(0, 1), (0, 6), (1, 6)}
    ops = feats[21:].reshape(5, 3)
    assert ops[0].tolist() == [0, 1, 0] and ops[1:].sum() == 0


def test_batch_encodings_equal_single(space):
    rng = np.random.default_rng(1)
    idx = rng.choice(len(space), 200, replace=False)
    fla = encode_fla_batch(space.matrices[idx], space.labels[idx])
    adj = adjacency_onehot_batch(space.matrices[idx], space.labels[idx], space.n_vertices[idx])
    for row, i in enumerate(idx):
        assert np.array_equal(fla[row], encode_fla(space.matrix(i), space.ops(i)))
        assert np.array_equal(adj[row], adjacency_onehot(space.matrix(i), space.ops(i)))
    # FLA is injective on the space (one representative per hash)
    packed = np.packbits(encode_fla_batch(space.matrices, space.labels), axis=1)
    assert np.unique(packed, axis=0).shape[0] == len(space)


def test_fla_neighbour_index_is_exact_symmetric_and_sparse(space, fla_index):
    packed = np.packbits(encode_fla_batch(space.matrices, space.labels), axis=1)
    lookup = {row.tobytes(): i for i, row in enumerate(packed)}
    rng = np.random.default_rng(3)
    for i in rng.choice(len(space), 300, replace=False):
        enc = np.unpackbits(packed[i])[:FLA_BITS]
        expected = set()
        for b in range(FLA_BITS):  # brute force: all 289 flips
            flipped = enc.copy()
            flipped[b] ^= 1
            j = lookup.get(np.packbits(flipped).tobytes())
            if j is not None:
                expected.add(j)
        assert set(fla_index.neighbours(i).tolist()) == expected
    src, dst = fla_index.edges()
    pairs = set(zip(src.tolist(), dst.tolist()))
    assert all((b, a) in pairs for a, b in pairs)
    assert (src != dst).all() and dst.max() < len(space)
    # measured property of the space (see the closing note): FLA Hamming-1 is sparse
    assert int((fla_index.degrees == 0).sum()) == 4318
    assert len(pairs) == 2_131_004


def test_graph_edit_neighbours_match_brute_force(space):
    rng = np.random.default_rng(5)
    rows = rng.choice(len(space), 150, replace=False)
    index = graph_edit_neighbour_index(space, rows=rows)
    lookup = {h: i for i, h in enumerate(space.hashes.tolist())}
    for i in rows:
        v = int(space.n_vertices[i])
        m7 = np.zeros((7, 7), dtype=int)
        pos = list(range(v - 1)) + [6]
        for a in range(v):
            for b in range(v):
                m7[pos[a], pos[b]] = space.matrix(i)[a, b]
        ops7 = ["input"] + space.ops(i)[1:-1] + [CONV3X3] * (7 - v) + ["output"]
        expected = set()
        for a, b in zip(*np.triu_indices(7, k=1)):  # all 21 flips, padding vertices included
            m2 = m7.copy()
            m2[a, b] ^= 1
            try:
                expected.add(lookup[ArchSpec.from_spec(m2, ops7).arch_hash])
            except InvalidSpecError:
                pass
        for vert in range(1, v - 1):
            for op in (CONV3X3, CONV1X1, MAXPOOL3X3):
                if op != ops7[vert]:
                    ops2 = list(ops7)
                    ops2[vert] = op
                    expected.add(lookup[ArchSpec.from_spec(m7, ops2).arch_hash])
        expected.discard(int(i))
        assert set(index.neighbours(int(i)).tolist()) == expected
    assert index.degrees[np.setdiff1d(np.arange(len(space)), rows)].sum() == 0


def test_symmetrised_index_is_the_undirected_closure():
    from nas_assets.core.cells.encoding import NeighbourIndex

    # 0 -> 1, 1 -> 2 (directed), 3 isolated
    index = NeighbourIndex(indptr=np.array([0, 1, 2, 2, 2]), indices=np.array([1, 2], dtype=np.int32),
                           kind="graph_edit")
    sym = index.symmetrised()
    assert [sym.neighbours(i).tolist() for i in range(4)] == [[1], [0, 2], [1], []]
    assert sym.kind == "graph_edit_symmetric"
