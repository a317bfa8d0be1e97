"""The design of experiment (uniform sample, random walks, local search): which architectures get trained, and
how each was reached.

Three seeded stages over the enumerated space and its Hamming-1 (FLA) neighbour index:

a. ``initial``: ``n_initial`` architectures drawn uniformly without replacement;
b. ``walk``: ``n_walks`` random walks of ``walk_length`` steps, each starting at a uniformly
   chosen initial architecture that has a neighbour, stepping to a uniformly chosen neighbour;
c. ``local_search``: the report's third stage -- repeatedly pick a uniformly chosen sampled
   architecture and visit one of its neighbours not yet in the design (the report describes
   it as exploration around accumulated points; it needs no fitness, so the whole design is
   known before any training).

The result is one row per visit (a walk may revisit), in visiting order, with provenance
(stage, walk id, step, parent) so walks can be replayed for the ruggedness metric. The set of
distinct hashes is what gets trained. Same config and space => identical design.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from nas_assets.core.cells.encoding import NeighbourIndex

STAGES = ("initial", "walk", "local_search")
DESIGN_COLUMNS = ["visit", "arch_index", "arch_hash", "stage", "walk_id", "step", "parent_hash", "is_new"]


@dataclass(frozen=True)
class DesignConfig:
    """Sizes and seed of the design.

    Attributes:
        n_initial: stage (a) uniform sample size.
        n_walks: stage (b) number of random walks.
        walk_length: steps per walk (the start is step 0, an initial architecture).
        n_local_search: stage (c) number of new neighbours to add.
        seed: RNG seed (the report used 42).
    """

    n_initial: int
    n_walks: int
    walk_length: int
    n_local_search: int
    seed: int = 42

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():
            if name != "seed" and (not isinstance(value, int) or value < 0):
                raise ValueError(f"DesignConfig.{name} must be a non-negative integer, got {value!r}")
        if self.n_walks and not self.n_initial:
            raise ValueError("DesignConfig: random walks start from initial architectures; "
                             "n_initial must be > 0")


#: The report's design: 600 uniform + 10 walks x 30 steps (~907 visits, seed 42) + 100 new
#: neighbours for the local-search stage the report left as future work: ~1,000 architectures.
PAPER = DesignConfig(n_initial=600, n_walks=10, walk_length=30, n_local_search=100, seed=42)
#: A design small enough to train on a laptop CPU in minutes.
DEMO = DesignConfig(n_initial=6, n_walks=2, walk_length=3, n_local_search=2, seed=42)
PRESETS: dict[str, DesignConfig] = {"paper": PAPER, "demo": DEMO}


def sample_design(hashes: np.ndarray, neighbours: NeighbourIndex, config: DesignConfig,
                  candidates: np.ndarray | None = None) -> pd.DataFrame:
    """Run the three stages and return the visits with provenance.

    Args:
        hashes: (N,) architecture hashes of the space, row i = architecture index i.
        neighbours: Hamming-1 neighbour index over the same rows.
        config: sizes and seed.
        candidates: architecture indices the initial sample is drawn from (uniformly, without
            replacement), e.g. the cells NB101 measured on CIFAR-10; None = the whole space.
            Walks and local search still move over the whole space.

    Returns:
        DataFrame with columns ``DESIGN_COLUMNS``; ``walk_id`` and ``parent_hash`` are null
        where they do not apply; ``is_new`` marks the first visit of each architecture.

    Raises:
        ValueError: the space is too small for the requested design.
    """
    n = len(hashes)
    if len(neighbours) != n:
        raise ValueError(f"neighbour index has {len(neighbours)} rows but the space has {n}")
    pool_size = n if candidates is None else len(candidates)
    if config.n_initial > pool_size:
        raise ValueError(f"n_initial={config.n_initial} exceeds the "
                         f"{'space size' if candidates is None else 'candidate cells'} {pool_size}")
    rng = np.random.default_rng(config.seed)
    degrees = neighbours.degrees
    visits: list[tuple[int, str, int, int, int]] = []  # index, stage, walk, step, parent

    if candidates is None:
        initial = rng.choice(n, size=config.n_initial, replace=False)
    else:
        initial = np.sort(np.asarray(candidates, dtype=np.int64))[rng.choice(pool_size, size=config.n_initial,
                                                                               replace=False)]
    visits.extend((int(i), "initial", -1, 0, -1) for i in initial)

    starts = initial[degrees[initial] > 0]
    if config.n_walks and starts.size == 0:
        raise ValueError("no initial architecture has a Hamming-1 neighbour; cannot start a walk")
    for walk in range(config.n_walks):
        current = int(starts[rng.integers(starts.size)])
        visits.append((current, "walk", walk, 0, -1))
        for step in range(1, config.walk_length + 1):
            options = neighbours.neighbours(current)
            nxt = int(options[rng.integers(options.size)])
            visits.append((nxt, "walk", walk, step, current))
            current = nxt

    in_design = np.zeros(n, dtype=bool)
    in_design[[v[0] for v in visits]] = True
    pool = list(dict.fromkeys(v[0] for v in visits))
    added, attempts = 0, 0
    while added < config.n_local_search:
        attempts += 1
        if attempts > 100 * (config.n_local_search + len(pool)):
            raise ValueError(
                f"local search found only {added} of {config.n_local_search} new neighbours "
                "around the sampled architectures"
            )
        parent = pool[int(rng.integers(len(pool)))]
        fresh = neighbours.neighbours(parent)
        fresh = fresh[~in_design[fresh]]
        if fresh.size == 0:
            continue
        child = int(fresh[rng.integers(fresh.size)])
        visits.append((child, "local_search", -1, added + 1, parent))
        in_design[child] = True
        pool.append(child)
        added += 1

    idx = np.array([v[0] for v in visits], dtype=np.int64)
    parents = np.array([v[4] for v in visits], dtype=np.int64)
    walks = np.array([v[2] for v in visits], dtype=np.int64)
    first_seen = np.zeros(len(visits), dtype=bool)
    _, first = np.unique(idx, return_index=True)
    first_seen[first] = True
    return pd.DataFrame(
        {
            "visit": np.arange(len(visits), dtype=np.int64),
            "arch_index": idx,
            "arch_hash": hashes[idx].astype(str),
            "stage": [v[1] for v in visits],
            "walk_id": pd.array([int(w) if w >= 0 else None for w in walks], dtype="Int64"),
            "step": np.array([v[3] for v in visits], dtype=np.int64),
            "parent_hash": pd.Series(hashes[np.maximum(parents, 0)].astype(object),
                                     dtype=object).where(parents >= 0, None),
            "is_new": first_seen,
        },
        columns=DESIGN_COLUMNS,
    )


def walk_trajectories(design: pd.DataFrame) -> list[np.ndarray]:
    """Architecture indices of each random walk in step order (for the ruggedness metric)."""
    walks = design[design["stage"] == "walk"].sort_values(["walk_id", "step"])
    return [g["arch_index"].to_numpy() for _, g in walks.groupby("walk_id", sort=True)]
