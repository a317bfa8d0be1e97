"""The design of experiment: determinism, provenance, stage sizes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from nas_assets.core.cells.sampling import (
    DEMO,
    PAPER,
    PRESETS,
    DesignConfig,
    sample_design,
    walk_trajectories,
)


@pytest.fixture(scope="module")
def paper_design(space, fla_index):
    return sample_design(space.hashes, fla_index, PAPER)


def test_same_seed_same_design_other_seed_other_design(space, fla_index, paper_design):
    again = sample_design(space.hashes, fla_index, PAPER)
    pd.testing.assert_frame_equal(paper_design, again)
    other = sample_design(space.hashes, fla_index, DesignConfig(**{**PAPER.__dict__, "seed": 43}))
    assert set(other["arch_hash"]) != set(paper_design["arch_hash"])


def test_paper_design_sizes(paper_design):
    stages = paper_design["stage"].value_counts()
    assert stages["initial"] == 600
    assert stages["walk"] == 10 * (30 + 1)  # start (step 0) + 30 steps
    assert stages["local_search"] == 100
    n_arch = paper_design["arch_hash"].nunique()
    assert 900 <= n_arch <= 1010  # ~1,000 distinct architectures, like the report's 907
    assert paper_design["is_new"].sum() == n_arch
    assert paper_design["visit"].tolist() == list(range(len(paper_design)))


def test_walk_provenance_is_consistent(space, fla_index, paper_design):
    initial = set(paper_design.loc[paper_design.stage == "initial", "arch_index"])
    walks = walk_trajectories(paper_design)
    assert len(walks) == 10
    for walk in walks:
        assert len(walk) == 31 and walk[0] in initial
        for a, b in zip(walk[:-1], walk[1:]):
            assert b in set(fla_index.neighbours(a).tolist())
    steps = paper_design[(paper_design.stage == "walk") & (paper_design.step > 0)]
    prev = paper_design.loc[steps.index - 1]
    assert (steps["parent_hash"].to_numpy() == prev["arch_hash"].to_numpy()).all()
    assert paper_design.loc[paper_design.stage == "initial", "parent_hash"].isna().all()


def test_local_search_adds_new_neighbours_of_sampled_points(space, fla_index, paper_design):
    ls = paper_design[paper_design.stage == "local_search"]
    assert ls["is_new"].all()
    index = {h: i for i, h in enumerate(space.hashes.tolist())}
    before = set()
    for row in paper_design.itertuples():
        if row.stage == "local_search":
            parent = index[row.parent_hash]
            assert parent in before
            assert row.arch_index in set(fla_index.neighbours(parent).tolist())
        before.add(row.arch_index)


def test_demo_preset_is_small(space, fla_index):
    design = sample_design(space.hashes, fla_index, DEMO)
    assert 8 <= design["arch_hash"].nunique() <= 20
    assert set(PRESETS) == {"demo", "paper"}


def test_bad_configs_are_rejected(space, fla_index):
    with pytest.raises(ValueError, match="n_walks must be a non-negative integer"):
        DesignConfig(n_initial=1, n_walks=-2, walk_length=1, n_local_search=0)
    with pytest.raises(ValueError, match="n_initial must be > 0"):
        DesignConfig(n_initial=0, n_walks=2, walk_length=1, n_local_search=0)
    with pytest.raises(ValueError, match="no initial architecture has a Hamming-1 neighbour"):
        sample_design(space.hashes[:10], _tiny_index(10), DesignConfig(5, 1, 1, 0))
    with pytest.raises(ValueError, match="exceeds the space size"):
        sample_design(space.hashes[:10], _tiny_index(10), DesignConfig(20, 0, 0, 0))


def _tiny_index(n):
    from nas_assets.core.cells.encoding import NeighbourIndex

    return NeighbourIndex(indptr=np.zeros(n + 1, dtype=np.int64), indices=np.zeros(0, np.int32), kind="fla")


def test_initial_sample_can_be_drawn_from_candidate_cells(space, fla_index, shipped_raw):
    """prefer_cifar10_measured: the initial cells are NB101-measured ones, walks roam the space."""
    measured = np.flatnonzero(np.isin(space.hashes, shipped_raw["key"].to_numpy(dtype=str)))
    assert measured.size == 20_001
    design = sample_design(space.hashes, fla_index, PAPER, candidates=measured)
    initial = design[design["stage"] == "initial"]
    assert len(initial) == PAPER.n_initial and initial["arch_index"].isin(measured).all()
    assert not design[design["stage"] == "walk"]["arch_index"].isin(measured).all()
    again = sample_design(space.hashes, fla_index, PAPER, candidates=measured[::-1])  # order-independent
    pd.testing.assert_frame_equal(design, again)
    with pytest.raises(ValueError, match="exceeds the candidate cells 3"):
        sample_design(space.hashes, fla_index, PAPER, candidates=measured[:3])
