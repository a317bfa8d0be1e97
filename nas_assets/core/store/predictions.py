"""Whole-space predictions: read the stored space, predict every cell, write the rows -- skipped
when the stored rows were made by the same version.

The sequence the surrogate's and the CIFAR-10 reference's predictions share; what is predicted
and which table receives it are the caller's (``predict`` and ``write``). The space is read and
the rows written through separate connections, so no connection is held while predicting.
"""

from __future__ import annotations

import time
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Callable, Generic, Protocol, TypeVar

import duckdb
import numpy as np

from nas_assets.core.store.readers import read_padded_space

T = TypeVar("T")
#: Padded (matrices, labels, n_vertices) of the stored cells (``read_padded_space``).
PaddedArrays = tuple[np.ndarray, np.ndarray, np.ndarray]


class Connect(Protocol):
    """Opens the store: ``store.connect`` bound to a path, or a resource's ``connect``."""

    def __call__(self, read_only: bool = ...) -> AbstractContextManager[duckdb.DuckDBPyConnection]: ...


@dataclass
class SpacePredictions(Generic[T]):
    """What :func:`refresh_space_predictions` computed and wrote.

    Attributes:
        value: ``predict``'s result (what ``write`` stored).
        n_architectures: cells of the stored space.
        timings: seconds spent in ``read_s`` (the space), ``predict_s`` and ``write_s``.
    """

    value: T
    n_architectures: int
    timings: dict[str, float] = field(default_factory=dict)


def refresh_space_predictions(
    connect: Connect,
    version: str,
    stored_version: str | None,
    predict: Callable[[np.ndarray, PaddedArrays], T],
    write: Callable[[duckdb.DuckDBPyConnection, T], None],
) -> SpacePredictions[T] | None:
    """Predict every stored cell and write the result, unless the stored rows are ``version``'s.

    Args:
        connect: opens the store (``connect(read_only=True)`` to read, ``connect()`` to write).
        version: what the predictions would be made from (a model index or source fingerprint).
        stored_version: the version the stored rows were made from; None when none are stored.
        predict: ``(hashes, padded arrays) -> value``, every cell in ``arch_index`` order.
        write: stores ``value`` (and ``version`` with it) in one transaction of the connection.

    Returns:
        None when ``stored_version == version`` (nothing read, predicted or written); else what
        was predicted and written, with timings.
    """
    if stored_version == version:
        return None
    timings = {}
    t0 = time.perf_counter()
    with connect(read_only=True) as conn:
        hashes, arrays = read_padded_space(conn)
    timings["read_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    value = predict(hashes, arrays)
    timings["predict_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    with connect() as conn:
        write(conn, value)
    timings["write_s"] = time.perf_counter() - t0
    return SpacePredictions(value, len(hashes), timings)
