"""Hashing, pruning, validation and enumeration of the NB101 space against NB101's own code and data."""

from __future__ import annotations

import numpy as np
import pytest

from nas_assets.core.cells.space import (
    CONV1X1,
    CONV3X3,
    CUMULATIVE_LABELLED_COUNTS,
    CUMULATIVE_UNIQUE_COUNTS,
    INTERIOR_OPS,
    MAXPOOL3X3,
    OP_LABELS,
    ArchSpec,
    InvalidSpecError,
    hash_spec,
    labels_to_ops,
    prune_spec,
    string_to_matrix,
)


def reference_prune(matrix: np.ndarray, labels: list[int]):
    """NB101's ModelSpec._prune, re-stated with sets (test-side reference)."""
    n = matrix.shape[0]
    from_input, frontier = {0}, [0]
    while frontier:
        v = frontier.pop()
        for w in range(v + 1, n):
            if matrix[v, w] and w not in from_input:
                from_input.add(w)
                frontier.append(w)
    to_output, frontier = {n - 1}, [n - 1]
    while frontier:
        v = frontier.pop()
        for u in range(v):
            if matrix[u, v] and u not in to_output:
                to_output.add(u)
                frontier.append(u)
    keep = sorted(from_input & to_output)
    if n - 1 not in from_input:
        return None
    return matrix[np.ix_(keep, keep)], [labels[i] for i in keep]


def random_spec(rng: np.random.Generator) -> tuple[np.ndarray, list[int]]:
    n = int(rng.integers(2, 8))
    density = rng.uniform(0.15, 0.7)
    matrix = np.triu((rng.random((n, n)) < density).astype(int), k=1)
    labels = [-1] + [int(x) for x in rng.integers(0, 3, n - 2)] + [-2]
    return matrix, labels


def random_topological_relabel(matrix: np.ndarray, labels: list[int], rng) -> tuple[np.ndarray, list[int]]:
    """An isomorphic copy: a random linear extension of the DAG (input first, output last)."""
    n = matrix.shape[0]
    placed, order = set(), []
    while len(order) < n:
        ready = [v for v in range(n) if v not in placed
                 and all(u in placed for u in range(n) if matrix[u, v])]
        if len(order) < n - 1 and n - 1 in ready and len(ready) > 1:
            ready.remove(n - 1)
        v = ready[int(rng.integers(len(ready)))]
        placed.add(v)
        order.append(v)
    perm = np.array(order)
    return matrix[np.ix_(perm, perm)], [labels[i] for i in perm]


def test_random_specs_match_the_nb101_oracle(oracle_hash):
    rng = np.random.default_rng(2024)
    outcomes = {"valid": 0, "disconnected": 0, "too_big": 0, "padded": 0}
    for _ in range(2500):
        matrix, labels = random_spec(rng)
        ops = labels_to_ops(labels)
        ref = reference_prune(matrix, labels)
        if ref is None:
            outcomes["disconnected"] += 1
            with pytest.raises(InvalidSpecError, match="not connected"):
                hash_spec(matrix, ops)
            continue
        pruned, plabels = ref
        if pruned.shape[0] < matrix.shape[0]:
            outcomes["padded"] += 1
        if pruned.sum() > 9:
            outcomes["too_big"] += 1
            with pytest.raises(InvalidSpecError, match="too many edges"):
                hash_spec(matrix, ops)
            continue
        outcomes["valid"] += 1
        assert hash_spec(matrix, ops) == oracle_hash(pruned, plabels)
        assert hash_spec(matrix.tolist(), ops) == oracle_hash(pruned, plabels)
    assert outcomes["valid"] >= 1000 and outcomes["disconnected"] >= 200
    assert outcomes["too_big"] >= 50 and outcomes["padded"] >= 200, outcomes


def test_isomorphic_relabelings_share_a_hash(oracle_hash):
    rng = np.random.default_rng(7)
    checked = 0
    while checked < 300:
        matrix, labels = random_spec(rng)
        ref = reference_prune(matrix, labels)
        if ref is None or ref[0].sum() > 9 or ref[0].shape[0] < 4:
            continue
        pruned, plabels = ref
        h = hash_spec(pruned, labels_to_ops(plabels))
        for _ in range(3):
            m2, l2 = random_topological_relabel(pruned, plabels, rng)
            assert hash_spec(m2, labels_to_ops(l2)) == h == oracle_hash(m2, l2)
        checked += 1


def test_reference_keys_and_parameter_counts(reference):
    from nas_assets.core.cells.cost import CIFAR10_SHAPE, count_parameters

    for row in reference["rows"]:
        spec = ArchSpec.from_spec(row["matrix"], labels_to_ops(row["labels"]))
        assert spec.arch_hash == row["key"]
        assert count_parameters(spec, CIFAR10_SHAPE) == row["params"], row["key"]


def test_padded_spec_with_extraneous_vertices_prunes_to_the_cell():
    # vertex 2 is a dead end (no path to output), vertex 3 unreachable from input
    matrix = [
        [0, 1, 1, 0, 0],
        [0, 0, 0, 0, 1],
        [0, 0, 0, 0, 0],
        [0, 0, 0, 0, 1],
        [0, 0, 0, 0, 0],
    ]
    ops = ["input", CONV3X3, MAXPOOL3X3, CONV1X1, "output"]
    pruned, pops = prune_spec(matrix, ops)
    assert pruned.tolist() == [[0, 1, 0], [0, 0, 1], [0, 0, 0]]
    assert pops == ["input", CONV3X3, "output"]
    assert hash_spec(matrix, ops) == hash_spec([[0, 1, 0], [0, 0, 1], [0, 0, 0]],
                                               ["input", CONV3X3, "output"])


@pytest.mark.parametrize(
    "matrix, ops, message",
    [
        ([[0, 1], [1, 0]], ["input", "output"], "not strictly upper-triangular"),
        ([[0, 1, 0], [0, 0, 1], [0, 0, 0]], ["input", "output"], "size mismatch"),
        ([[0, 1, 0], [0, 0, 1], [0, 0, 0]], ["input", "conv5x5", "output"], "unknown op 'conv5x5'"),
        ([[0, 1, 0], [0, 0, 0], [0, 0, 0]], ["input", CONV3X3, "output"], "not connected"),
        ([[0, 2], [0, 0]], ["input", "output"], "0 or 1"),
        ([[0, 1, 1]], ["input", "output"], "square"),
        ([[0, 1], [0, 0]], ["output", "input"], "first op must be 'input'"),
        (np.triu(np.ones((8, 8), int), 1), ["input"] + [CONV3X3] * 6 + ["output"], "too many"),
        (np.triu(np.ones((7, 7), int), 1), ["input"] + [CONV3X3] * 5 + ["output"],
         "too many edges after pruning: 21 > 9"),
    ],
)
def test_invalid_specs_raise_clear_errors(matrix, ops, message):
    with pytest.raises(InvalidSpecError, match=message):
        hash_spec(matrix, ops)
    assert issubclass(InvalidSpecError, ValueError)


def test_matrix_string_round_trip():
    spec = ArchSpec.from_spec([[0, 1, 1], [0, 0, 1], [0, 0, 0]], ["input", CONV1X1, "output"])
    assert spec.matrix_string() == "011001000"
    assert ArchSpec.from_strings(spec.matrix_string(), spec.ops_string()) == spec
    relabelled = ArchSpec.from_spec([[0, 1, 1], [0, 0, 1], [0, 0, 0]], ["input", CONV3X3, "output"])
    assert relabelled != spec
    with pytest.raises(InvalidSpecError, match="row-major"):
        string_to_matrix("01x")


def test_enumeration_counts_per_vertex_number(space):
    assert len(space) == CUMULATIVE_UNIQUE_COUNTS[7] == 423_624
    counts = np.bincount(space.n_vertices, minlength=8)
    assert {v: int(counts[2 : v + 1].sum()) for v in range(2, 8)} == CUMULATIVE_UNIQUE_COUNTS
    labelled = np.cumsum([space.labelled_counts[v] for v in range(2, 8)])
    assert dict(zip(range(2, 8), labelled.tolist())) == CUMULATIVE_LABELLED_COUNTS
    assert len(set(space.hashes.tolist())) == len(space)
    assert np.unique(space.signatures).size == len(space)
    assert space.n_edges.max() == 9


def test_enumerated_hashes_are_exact_on_a_sample(space):
    rng = np.random.default_rng(0)
    for i in rng.choice(len(space), 300, replace=False):
        assert hash_spec(space.matrix(i), space.ops(i)) == space.hashes[i]


def test_enumeration_keeps_nb101s_stored_representatives(space, reference):
    index = {h: i for i, h in enumerate(space.hashes.tolist())}
    for row in reference["rows"]:
        i = index[row["key"]]
        assert np.array_equal(space.matrix(i), row["matrix"])
        assert [OP_LABELS[o] for o in space.ops(i)] == row["labels"]


def test_small_enumeration_matches_the_prefix_of_the_full_one(space):
    from nas_assets.core.cells.enumeration import enumerate_space

    small = enumerate_space(max_vertices=5, workers=1)
    assert len(small) == CUMULATIVE_UNIQUE_COUNTS[5]
    assert small.hashes.tolist() == space.hashes[: len(small)].tolist()


def test_interior_op_order_is_nb101s():
    assert INTERIOR_OPS == ("conv3x3-bn-relu", "conv1x1-bn-relu", "maxpool3x3")
