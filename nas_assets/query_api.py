"""The benchmark as a queryable object, in the spirit of NAS-Bench-101's ``api.query`` (no Dagster).

    from nas_assets import Benchmark
    bench = Benchmark.open("data/nas_assets.duckdb")
    bench.query(matrix, ops)                      # trained values where measured, else the surrogate
                                                  # (mean and calibrated std)
    bench.top(k=10)

Everything is loaded into memory at ``open`` (a few seconds for the 423,624-cell space), so a
query costs one NB101 hash (~40-90 us) and a few dictionary lookups.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
import pandas as pd

from nas_assets.core import store as db
from nas_assets.core.cells.space import hash_spec
from nas_assets.core.so2sat import VALIDATION_METRICS

METRICS = VALIDATION_METRICS
TOP_SOURCES = ("any", "trained", "surrogate")
#: What :meth:`Benchmark.top` says when a source has no value yet, and what to materialize.
_NOTHING_YET = {
    "surrogate": "no surrogate predictions of {metric} at budget {budget} yet; materialize surrogate_model "
                 "(with {metric}@{budget} among its targets) and surrogate_predictions",
    "trained": "no trained architecture has {metric} at budget {budget} yet; materialize "
               "trained_architecture partitions",
    "any": "no trained values and no surrogate predictions of {metric} at budget {budget} yet; materialize "
           "trained_architecture partitions, or surrogate_model and surrogate_predictions",
}


class Benchmark:
    """Trained metrics and surrogate predictions for every architecture of the space."""

    def __init__(self, arch: pd.DataFrame, trained: pd.DataFrame, predicted: pd.DataFrame, path: str = "",
                 config_key: str | None = None, configurations: dict[str, int] | None = None) -> None:
        #: the training configuration trained values come from (None: nothing trained)
        self.config_key = config_key
        #: every configuration of the store and its count of trained architectures
        self.configurations = dict(configurations or {})
        self.path = path
        self._hashes = arch["arch_hash"].to_numpy()
        self._index = {h: i for i, h in enumerate(self._hashes.tolist())}
        self._params = arch["params"].to_numpy()
        self._flops = arch["flops"].to_numpy()
        # trained: (hash, epoch) -> {metric: (mean, std, repeats)}
        self._trained: dict[str, dict[int, dict[str, tuple[float, float, int]]]] = {}
        for row in trained.itertuples(index=False):
            per_budget = self._trained.setdefault(row.arch_hash, {}).setdefault(int(row.epoch), {})
            per_budget[row.metric] = (float(row.mean), float(row.std), int(row.repeats))
        # predicted: (metric, budget) -> (mean array, std array) aligned with the space
        self._predicted: dict[tuple[str, int], tuple[np.ndarray, np.ndarray]] = {}
        if len(predicted):
            pos = predicted["arch_hash"].map(self._index).to_numpy()
            for (metric, budget), group in predicted.assign(pos=pos).groupby(["metric", "budget"]):
                mean = np.full(len(self._hashes), np.nan)
                std = np.full(len(self._hashes), np.nan)
                mean[group["pos"].to_numpy()] = group["mean"].to_numpy()
                std[group["pos"].to_numpy()] = group["std"].to_numpy()
                self._predicted[(metric, int(budget))] = (mean, std)
        budgets = {b for per in self._trained.values() for b in per} | {b for _, b in self._predicted}
        self.budgets = sorted(budgets)

    @classmethod
    def open(cls, db_path: str | Path, config_key: str | None = None) -> "Benchmark":
        """Load a nas_assets DuckDB store (read-only).

        Args:
            db_path: the store.
            config_key: the training configuration whose trained values answer queries
                (``training_runs.config_key``, or a run key of one of its runs); None = the one
                with the most trained architectures. Its seeds are the repeats of a value; other
                configurations are never mixed in (open the store once per configuration).

        Raises:
            LookupError: ``config_key`` names no configuration of the store.
        """
        from nas_assets.core.store.configurations import resolve_config
        from nas_assets.core.store.space import space_costs
        from nas_assets.core.store.training import surrogate_predictions, trained_means

        with db.connect(db_path, read_only=True) as conn:
            arch = space_costs(conn)
            try:
                chosen, counts = resolve_config(conn, config_key)
            except LookupError as exc:
                raise LookupError(f"{db_path}: {exc}") from None
            trained = trained_means(conn, chosen, METRICS)
            predicted = surrogate_predictions(conn)
        return cls(arch, trained, predicted, str(db_path), chosen, counts)

    def __len__(self) -> int:
        return len(self._hashes)

    def __iter__(self) -> Iterator[str]:
        return iter(self._hashes.tolist())

    def __contains__(self, arch_hash: str) -> bool:
        return arch_hash in self._index

    def _default_budget(self, budget: int | None) -> int:
        if budget is not None:
            return int(budget)
        if not self.budgets:
            raise LookupError(f"{self.path}: no trained results or surrogate predictions yet")
        return self.budgets[-1]

    def query_hash(self, arch_hash: str, budget: int | None = None,
                   metric: str = "val_macro_accuracy") -> dict:
        """Like :meth:`query`, for an architecture hash."""
        if metric not in METRICS:
            raise ValueError(f"metric {metric!r}: expected one of {METRICS}")
        i = self._index.get(arch_hash)
        if i is None:
            raise KeyError(f"{arch_hash}: not an architecture of the space")
        budget = self._default_budget(budget)
        out = {"arch_hash": arch_hash, "trainable_parameters": int(self._params[i]),
               "flops": int(self._flops[i]),
               "metric": metric, "budget": budget}
        trained = self._trained.get(arch_hash, {})
        if budget in trained and metric in trained[budget]:
            mean, std, repeats = trained[budget][metric]
            out.update(source="trained", value=mean, std=std, repeats=repeats, config_key=self.config_key,
                       per_budget={b: v[metric][0] for b, v in sorted(trained.items()) if metric in v})
            return out
        pred = self._predicted.get((metric, budget))
        if pred is None:
            raise LookupError(f"no trained value and no surrogate prediction for {metric} at budget {budget}")
        out.update(source="surrogate", value=float(pred[0][i]), std=float(pred[1][i]), repeats=0,
                   per_budget={b: float(self._predicted[(m, b)][0][i])
                               for m, b in sorted(self._predicted) if m == metric})
        return out

    def query(self, matrix: Sequence[Sequence[int]] | np.ndarray, ops: Sequence[str],
              budget: int | None = None, metric: str = "val_macro_accuracy") -> dict:
        """Metric of a cell at a budget: measured (``source='trained'``, mean over repeats) when
        the architecture was trained, else the surrogate's mean and std (``source='surrogate'``).

        For a trained cell ``std`` is the spread over training repeats; for a predicted one it
        is the surrogate's calibrated predictive std (value ± 2 std covered ~95 % of held-out
        errors; ``surrogate_model`` reports the measured coverage per target), not the raw
        disagreement of its ensemble members.

        Raises:
            InvalidSpecError: the cell is not valid (the space's clear errors).
        """
        return self.query_hash(hash_spec(matrix, ops), budget, metric)

    def query_many(self, specs: Sequence[tuple], budget: int | None = None,
                   metric: str = "val_macro_accuracy") -> pd.DataFrame:
        """:meth:`query` for many ``(matrix, ops)`` pairs, one row each."""
        rows = [self.query(m, o, budget, metric) for m, o in specs]
        return pd.DataFrame(rows).drop(columns=["per_budget"], errors="ignore")

    def top(self, k: int = 10, budget: int | None = None, metric: str = "val_macro_accuracy",
            source: str = "any") -> pd.DataFrame:
        """The ``k`` best architectures: trained values where measured, predictions elsewhere.

        Raises:
            ValueError: ``k`` below 1, an unknown metric or source.
            LookupError: nothing trained or predicted for ``metric`` at ``budget`` (says what to materialize).
        """
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
            raise ValueError(f"k = {k!r}: expected a whole number >= 1")
        if metric not in METRICS:
            raise ValueError(f"metric {metric!r}: expected one of {METRICS}")
        if source not in TOP_SOURCES:
            raise ValueError(f"source {source!r}: expected one of {TOP_SOURCES}")
        budget = self._default_budget(budget)
        values = np.full(len(self._hashes), -np.inf)
        kind = np.array(["surrogate"] * len(self._hashes), dtype=object)
        if source in ("any", "surrogate") and (metric, budget) in self._predicted:
            values = np.nan_to_num(self._predicted[(metric, budget)][0].copy(), nan=-np.inf)
        if source == "trained":
            values[:] = -np.inf
        if source in ("any", "trained"):
            for h, per in self._trained.items():
                if budget in per and metric in per[budget]:
                    values[self._index[h]] = per[budget][metric][0]
                    kind[self._index[h]] = "trained"
        order = np.argsort(-values)[:k]
        order = order[np.isfinite(values[order])]
        if order.size == 0:
            raise LookupError(f"{self.path or 'benchmark'}: "
                              f"{_NOTHING_YET[source].format(metric=metric, budget=budget)}")
        return pd.DataFrame({"arch_hash": self._hashes[order], "value": values[order], "source": kind[order],
                             "config_key": [self.config_key if k == "trained" else None for k in kind[order]],
                             "params": self._params[order], "budget": budget, "metric": metric})
