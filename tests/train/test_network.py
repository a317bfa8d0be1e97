"""The torch network: parameter counts (reference + analytic), FLOPs, shapes."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from nas_assets.core.cells.cost import (
    CIFAR10_SHAPE,
    SO2SAT_SHAPE,
    NetworkShape,
    count_flops,
    count_parameters,
)
from nas_assets.core.cells.space import CONV1X1, CONV3X3, MAXPOOL3X3, ArchSpec, labels_to_ops
from nas_assets.train.network import NB101Network, count_trainable


def _spec(row) -> ArchSpec:
    return ArchSpec.from_spec(row["matrix"], labels_to_ops(row["labels"]))


def test_parameter_counts_match_nb101_reference_for_all_1000(reference):
    for row in reference["rows"]:
        spec = _spec(row)
        with torch.device("meta"):  # shapes only: 1,000 networks in seconds
            net = NB101Network(spec, CIFAR10_SHAPE)
        assert count_trainable(net) == row["params"] == count_parameters(spec, CIFAR10_SHAPE), row["key"]


def test_so2sat_counts_match_analytic(space):
    rng = np.random.default_rng(0)
    for i in rng.choice(len(space), 200, replace=False):
        spec = ArchSpec.from_spec(space.matrix(i), space.ops(i))
        with torch.device("meta"):
            net = NB101Network(spec, SO2SAT_SHAPE)
        assert count_trainable(net) == count_parameters(spec, SO2SAT_SHAPE)


@pytest.mark.parametrize("n", range(6))
def test_flops_match_torch_flop_counter(reference, n):
    spec = _spec(reference["rows"][n * 97])
    shape = NetworkShape(in_channels=18, num_classes=17, stem_channels=16)
    net = NB101Network(spec, shape).eval()
    with FlopCounterMode(display=False) as counter:
        net(torch.randn(1, 18, 32, 32))
    assert counter.get_total_flops() == count_flops(spec, shape)


def test_forward_shapes_and_special_cells():
    shape = NetworkShape(in_channels=18, num_classes=17, stem_channels=8, input_size=32)
    cells = [
        ([[0, 1], [0, 0]], ["input", "output"]),  # input -> output only
        (np.diag(np.ones(6, int), 1), ["input"] + [CONV3X3] * 5 + ["output"]),  # the 5-chain
        ([[0, 1, 1, 1, 0], [0, 0, 0, 0, 1], [0, 0, 0, 0, 1], [0, 0, 0, 0, 1], [0, 0, 0, 0, 0]],
         ["input", CONV1X1, MAXPOOL3X3, CONV3X3, "output"]),
    ]
    for matrix, ops in cells:
        net = NB101Network(ArchSpec.from_spec(matrix, ops), shape)
        out = net(torch.randn(4, 18, 32, 32))
        assert out.shape == (4, 17) and torch.isfinite(out).all()
        out.sum().backward()
        assert all(p.grad is not None for p in net.parameters())


def test_odd_input_size_downsamples_with_ceil():
    shape = NetworkShape(in_channels=1, num_classes=3, stem_channels=4, input_size=9)
    net = NB101Network(ArchSpec.from_spec([[0, 1], [0, 0]], ["input", "output"]), shape)
    assert net(torch.randn(2, 1, 9, 9)).shape == (2, 3)
    with FlopCounterMode(display=False) as counter:
        net(torch.randn(1, 1, 9, 9))
    assert counter.get_total_flops() == count_flops(ArchSpec.from_spec([[0, 1], [0, 0]], ["input", "output"]),
                                                    shape)
