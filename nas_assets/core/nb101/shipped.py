"""The NAS-Bench-101 CIFAR-10 reference shipped with the package: 20,001 cells, 4 budgets.

``core/nb101/data/nb101_cifar10_20k.npz`` (source and citation in ``core/nb101/data/README.md``) is a
lossless, compact copy of a uniform sample of NB101 (the 20,001 smallest md5 hashes): per cell
the hash, the pruned cell, the validation accuracy at 4/12/36/108 epochs, the 108-epoch
training time and the trainable parameters of NB101's CIFAR-10 network. It is read with
:mod:`importlib.resources`, so it works from a wheel as well as from a checkout, and it is the
default CIFAR-10 reference of the footprint stage.

Arrays of the file: ``arch_hash`` (N, 16) uint8 md5 digests; ``edge_bits`` (N, 3) uint8, the
21 upper-triangle bits of the zero-padded 7x7 matrix (row-major, ``np.packbits``); ``labels``
(N, 7) int8 NB101 labels with -3 padding at the end; ``budgets`` (4,) int16; ``val_accuracy``
(N, 4) float32; ``training_time_108`` (N,) float32 seconds; ``trainable_parameters`` (N,) int32.
"""

from __future__ import annotations

import hashlib
from importlib import resources
from importlib.resources.abc import Traversable

import numpy as np
import pandas as pd

from nas_assets.core.cells.space import MAX_VERTICES

#: The shipped file (a Traversable: open it with ``.open("rb")``, never assume a path).
SHIPPED_REFERENCE: Traversable = resources.files("nas_assets.core.nb101") / "data" / "nb101_cifar10_20k.npz"
#: How the shipped reference is named in the store, reports and error messages.
SHIPPED_NAME = "nb101_cifar10_20k (shipped)"

_UPPER = np.triu_indices(MAX_VERTICES, k=1)


def pack_cells(matrices: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(N, 7, 7) padded matrices and (N, 7) labels -> (N, 3) packed edge bits and int8 labels."""
    bits = np.asarray(matrices, dtype=np.uint8)[:, _UPPER[0], _UPPER[1]]
    return np.packbits(bits, axis=1), np.asarray(labels, dtype=np.int8)


def unpack_cells(edge_bits: np.ndarray) -> np.ndarray:
    """(N, 3) packed edge bits -> (N, 7, 7) uint8 padded matrices."""
    bits = np.unpackbits(np.asarray(edge_bits, dtype=np.uint8), axis=1, count=len(_UPPER[0]))
    matrices = np.zeros((bits.shape[0], MAX_VERTICES, MAX_VERTICES), dtype=np.uint8)
    matrices[:, _UPPER[0], _UPPER[1]] = bits
    return matrices


def shipped_fingerprint() -> str:
    """sha256 (16 hex) of the shipped file: changes exactly when the shipped data change."""
    with SHIPPED_REFERENCE.open("rb") as handle:
        return hashlib.sha256(handle.read()).hexdigest()[:16]


def load_shipped_raw() -> pd.DataFrame:
    """The shipped reference as a raw frame in the NB101 export convention (see ``nb101_data``).

    Columns: ``key``, ``adjacency`` (7x7 uint8 arrays), ``operations`` (7 int8 labels, -3
    padding), ``trainable_parameters``, ``final_training_time`` (108 epochs) and
    ``{b}_final_validation_accuracy`` for b in 4, 12, 36, 108.
    """
    with SHIPPED_REFERENCE.open("rb") as handle, np.load(handle) as npz:
        arrays = {name: npz[name] for name in npz.files}
    # hex of the whole buffer, then 32-character rows ("S16" would strip trailing zero bytes)
    keys = np.frombuffer(arrays["arch_hash"].tobytes().hex().encode("ascii"), dtype="S32").astype(str)
    frame = pd.DataFrame({"key": keys.astype(object)})
    frame["adjacency"] = list(unpack_cells(arrays["edge_bits"]))
    frame["operations"] = list(arrays["labels"])
    frame["trainable_parameters"] = arrays["trainable_parameters"].astype(np.int64)
    frame["final_training_time"] = arrays["training_time_108"].astype(np.float64)
    for k, b in enumerate(arrays["budgets"].tolist()):
        frame[f"{b}_final_validation_accuracy"] = arrays["val_accuracy"][:, k].astype(np.float64)
    return frame
