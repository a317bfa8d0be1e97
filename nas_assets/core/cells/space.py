"""The NAS-Bench-101 cell space: constants, specs, pruning, validation and the NB101 hash.

A cell is a DAG given by an upper-triangular 0/1 adjacency matrix and one op per vertex
(first ``input``, last ``output``). Everything here is pure Python + numpy so that a
researcher can ``from nas_assets.core.cells import space`` without Dagster or torch.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Sequence

import numpy as np

INPUT = "input"
OUTPUT = "output"
CONV3X3 = "conv3x3-bn-relu"
CONV1X1 = "conv1x1-bn-relu"
MAXPOOL3X3 = "maxpool3x3"

#: Interior ops in NB101 label order (label index = position).
INTERIOR_OPS: tuple[str, ...] = (CONV3X3, CONV1X1, MAXPOOL3X3)
ALL_OPS: tuple[str, ...] = (INPUT, OUTPUT, *INTERIOR_OPS)
INPUT_LABEL = -1
OUTPUT_LABEL = -2
#: Label of an unused vertex slot in padded (N, 7) label arrays (a cell's own labels come first).
PAD_LABEL = -3
#: Op name -> NB101 integer label (the value hashed).
OP_LABELS: dict[str, int] = {INPUT: INPUT_LABEL, OUTPUT: OUTPUT_LABEL} | {
    op: i for i, op in enumerate(INTERIOR_OPS)
}
LABEL_OPS: dict[int, str] = {v: k for k, v in OP_LABELS.items()}

MAX_VERTICES = 7
MAX_EDGES = 9
#: Unique architectures with at most V vertices (NAS-Bench-101's search space), V = 2..7.
CUMULATIVE_UNIQUE_COUNTS: dict[int, int] = {2: 1, 3: 7, 4: 91, 5: 2532, 6: 64542, 7: 423624}
#: Labelled graphs before deduplication, cumulative, V = 2..7.
CUMULATIVE_LABELLED_COUNTS: dict[int, int] = {
    2: 1, 3: 7, 4: 97, 5: 3364, 6: 128509, 7: 1293208,
}
SPACE_SIZE = CUMULATIVE_UNIQUE_COUNTS[MAX_VERTICES]


class InvalidSpecError(ValueError):
    """A (matrix, ops) pair that is not a valid NAS-Bench-101 cell; the message says why."""


@dataclass(frozen=True, eq=False)
class ArchSpec:
    """A pruned, validated NAS-Bench-101 cell.

    Attributes:
        matrix: V x V upper-triangular 0/1 adjacency (uint8), V in 2..7.
        ops: V op names, ``input`` first and ``output`` last.
        arch_hash: the NB101 hash (32 hex chars).
    """

    matrix: np.ndarray
    ops: tuple[str, ...]
    arch_hash: str

    def __eq__(self, other: object) -> bool:
        # isomorphic cells are the same architecture: identity is the NB101 hash
        return isinstance(other, ArchSpec) and other.arch_hash == self.arch_hash

    def __hash__(self) -> int:
        return hash(self.arch_hash)

    @property
    def n_vertices(self) -> int:
        return int(self.matrix.shape[0])

    @property
    def n_edges(self) -> int:
        return int(self.matrix.sum())

    @property
    def labels(self) -> list[int]:
        return [OP_LABELS[op] for op in self.ops]

    def padded(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """As a batch of one for the vectorised code: (1, 7, 7) matrix, (1, 7) labels (-3 pads), (1,) V."""
        v = self.n_vertices
        m = np.zeros((1, MAX_VERTICES, MAX_VERTICES), dtype=np.uint8)
        m[0, :v, :v] = self.matrix
        lab = np.full((1, MAX_VERTICES), PAD_LABEL, dtype=np.int8)
        lab[0, :v] = self.labels
        return m, lab, np.array([v], dtype=np.int8)

    def matrix_string(self) -> str:
        """Row-major '0'/'1' string, as in NB101's tfrecords."""
        return matrix_to_string(self.matrix)

    def ops_string(self) -> str:
        return ",".join(self.ops)

    @classmethod
    def from_spec(cls, matrix: Sequence[Sequence[int]] | np.ndarray, ops: Sequence[str]) -> "ArchSpec":
        """Prune and validate ``(matrix, ops)`` and hash it.

        Raises:
            InvalidSpecError: the spec is malformed or not in the space.
        """
        rows = _as_rows(matrix)
        pruned, pruned_ops = _prune_rows(rows, _check_ops(ops, len(rows)))
        arch_hash = _hash_rows(pruned, [OP_LABELS[o] for o in pruned_ops])
        array = np.array(pruned, dtype=np.uint8).reshape(len(pruned), len(pruned))
        return cls(array, tuple(pruned_ops), arch_hash)

    @classmethod
    def from_strings(cls, matrix: str, ops: str) -> "ArchSpec":
        """Rebuild from the stored ``matrix``/``ops`` strings of the DuckDB tables."""
        return cls.from_spec(string_to_matrix(matrix), ops.split(","))


def matrix_to_string(matrix: np.ndarray) -> str:
    return "".join("1" if x else "0" for x in np.asarray(matrix).ravel())


def string_to_matrix(text: str) -> np.ndarray:
    """Parse a row-major '0'/'1' string of a square matrix."""
    n = int(round(len(text) ** 0.5))
    if n * n != len(text) or set(text) - {"0", "1"}:
        raise InvalidSpecError(
            f"matrix string {text!r}: expected a row-major '0'/'1' string of length V*V"
        )
    return np.frombuffer(text.encode(), dtype=np.uint8).reshape(n, n) - ord("0")


def _as_rows(matrix: Sequence[Sequence[int]] | np.ndarray) -> list[list[int]]:
    """Validate a square strictly upper-triangular 0/1 matrix; return it as Python lists.

    Plain lists, not numpy: for one small matrix, numpy's per-call overhead is most of the cost
    (single-spec hashing is on the query path of the benchmark API).
    """
    if isinstance(matrix, np.ndarray):
        if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
            raise InvalidSpecError(f"matrix must be square 2-D, got shape {matrix.shape}")
        rows = matrix.tolist()
    else:
        try:
            rows = [list(r) for r in matrix]
        except TypeError:
            raise InvalidSpecError("matrix must be a square 2-D array or list of lists") from None
    n = len(rows)
    if any(len(r) != n for r in rows):
        raise InvalidSpecError(f"matrix is not square: {n} rows of lengths {sorted({len(r) for r in rows})}")
    if n < 2:
        raise InvalidSpecError(f"matrix must have at least 2 vertices (input, output), got {n}")
    out = []
    for i, r in enumerate(rows):
        row = []
        for j, x in enumerate(r):
            if x is True or x == 1:
                if j <= i:
                    raise InvalidSpecError(
                        f"matrix is not strictly upper-triangular: edge {i}->{j} points backwards "
                        "or is a self-loop"
                    )
                row.append(1)
            elif x is False or x == 0:
                row.append(0)
            else:
                raise InvalidSpecError(f"matrix entries must be 0 or 1, got {x!r} at ({i}, {j})")
        out.append(row)
    return out


def _check_ops(ops: Sequence[str], n: int) -> list[str]:
    ops = list(ops)
    if len(ops) != n:
        raise InvalidSpecError(f"size mismatch: matrix has {n} vertices but {len(ops)} ops were given")
    if ops[0] != INPUT or ops[-1] != OUTPUT:
        raise InvalidSpecError(f"first op must be {INPUT!r} and last {OUTPUT!r}, got {ops[0]!r} "
                               f"... {ops[-1]!r}")
    for i, op in enumerate(ops[1:-1], start=1):
        if op not in INTERIOR_OPS:
            raise InvalidSpecError(f"unknown op {op!r} at vertex {i}; expected one of {list(INTERIOR_OPS)}")
    return ops


def _prune_rows(rows: list[list[int]], ops: list[str]) -> tuple[list[list[int]], list[str]]:
    n = len(rows)
    forward = [False] * n
    forward[0] = True
    for v in range(1, n):  # upper-triangular: one topological pass suffices
        forward[v] = any(rows[u][v] and forward[u] for u in range(v))
    if not forward[n - 1]:
        raise InvalidSpecError("input is not connected to output: no path from vertex 0 to the last vertex")
    backward = [False] * n
    backward[n - 1] = True
    for v in range(n - 2, -1, -1):
        backward[v] = any(rows[v][w] and backward[w] for w in range(v + 1, n))
    keep = [v for v in range(n) if forward[v] and backward[v]]
    if len(keep) > MAX_VERTICES:
        raise InvalidSpecError(f"too many vertices after pruning: {len(keep)} > {MAX_VERTICES}")
    pruned = [[rows[i][j] for j in keep] for i in keep]
    n_edges = sum(map(sum, pruned))
    if n_edges > MAX_EDGES:
        raise InvalidSpecError(f"too many edges after pruning: {n_edges} > {MAX_EDGES}")
    return pruned, [ops[i] for i in keep]


def prune_spec(
    matrix: Sequence[Sequence[int]] | np.ndarray, ops: Sequence[str]
) -> tuple[np.ndarray, list[str]]:
    """Drop vertices not on an input->output path, then validate the NB101 limits.

    Args:
        matrix: square upper-triangular 0/1 matrix (list or array), possibly padded.
        ops: op names, one per vertex, ``input`` first and ``output`` last.

    Returns:
        The pruned matrix (uint8) and ops.

    Raises:
        InvalidSpecError: malformed input, input not connected to output, or more than
            7 vertices / 9 edges after pruning.
    """
    rows = _as_rows(matrix)
    pruned, pruned_ops = _prune_rows(rows, _check_ops(ops, len(rows)))
    return np.array(pruned, dtype=np.uint8).reshape(len(pruned), len(pruned)), pruned_ops


def _hash_rows(rows: list[list[int]], labels: Sequence[int]) -> str:
    """The NB101 fingerprint (NAS-Bench-101's search space) of a pruned matrix (lists) with integer labels."""
    n = len(rows)
    md5 = hashlib.md5
    preds = [[u for u in range(n) if rows[u][v]] for v in range(n)]
    succs = [[w for w in range(n) if rows[v][w]] for v in range(n)]
    hashes = [md5(str((len(succs[v]), len(preds[v]), int(labels[v]))).encode()).hexdigest() for v in range(n)]
    for _ in range(n):
        hashes = [
            md5(
                ("".join(sorted([hashes[u] for u in preds[v]])) + "|"
                 + "".join(sorted([hashes[w] for w in succs[v]])) + "|" + hashes[v]).encode()
            ).hexdigest()
            for v in range(n)
        ]
    return md5(str(sorted(hashes)).encode()).hexdigest()


def hash_spec(matrix: Sequence[Sequence[int]] | np.ndarray, ops: Sequence[str]) -> str:
    """Prune, validate and hash a cell; the id used everywhere (NB101-compatible).

    Raises:
        InvalidSpecError: (a ``ValueError``) with a message naming what is wrong.
    """
    return ArchSpec.from_spec(matrix, ops).arch_hash


def labels_to_ops(labels: Sequence[int]) -> list[str]:
    """NB101 integer labels (-1 input, 0..2 interior, -2 output) to op names."""
    try:
        return [LABEL_OPS[int(x)] for x in labels]
    except KeyError as exc:
        raise InvalidSpecError(f"unknown op label {exc.args[0]}; expected -1, 0, 1, 2 or -2") from None
