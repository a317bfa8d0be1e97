"""The space's rows read back from a store that holds them, standing in for ``build_space_table``
(minutes of enumeration and neighbour indexing) in tests that materialize ``architecture_space``
more than once. What the asset then writes, and how, is its own code."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from nas_assets.core import store as db
from nas_assets.core.cells.cost import SO2SAT_SHAPE, NetworkShape, network_cost_batch
from nas_assets.core.cells.table import padded_arrays


def stored_space_table(path: str | Path) -> Callable:
    """``build_space_table`` for a store written with :data:`SO2SAT_SHAPE` (the ``space_store``
    fixture): its rows, with ``params``/``flops`` recomputed for any other shape."""

    def build(shape: NetworkShape, workers: int | None = None):
        with db.connect(path, read_only=True) as conn:
            frame = conn.execute("SELECT * FROM architectures ORDER BY arch_index").df()
            fla = db.read_neighbour_index(conn, "fla", len(frame))
        if shape != SO2SAT_SHAPE:
            frame["params"], frame["flops"] = network_cost_batch(*padded_arrays(frame["matrix"],
                                                                                frame["ops"]), shape)
        return None, fla, frame, {}

    return build
