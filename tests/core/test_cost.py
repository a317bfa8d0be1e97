"""Analytic parameter and FLOP counts (reference-file agreement is in test_space)."""

from __future__ import annotations

import numpy as np

from nas_assets.core.cells.cost import (
    CIFAR10_SHAPE,
    SO2SAT_SHAPE,
    NetworkShape,
    count_flops,
    count_parameters,
    network_cost_batch,
    vertex_channels,
)
from nas_assets.core.cells.space import CONV1X1, CONV3X3, MAXPOOL3X3, ArchSpec


def test_vertex_channels_split_and_propagate():
    # three interior vertices feed the output: 128 = 43 + 43 + 42
    m = np.zeros((5, 5), int)
    m[0, 1] = m[0, 2] = m[0, 3] = 1
    m[1, 4] = m[2, 4] = m[3, 4] = 1
    assert vertex_channels(m, 64, 128) == [64, 43, 43, 42, 128]
    # vertex 1 feeds only vertex 2 (which feeds the output): it takes vertex 2's width
    chain = np.diag(np.ones(3, int), k=1)
    assert vertex_channels(chain, 64, 128) == [64, 128, 128, 128]


def test_input_to_output_cell_by_hand():
    spec = ArchSpec.from_spec([[0, 1], [0, 0]], ["input", "output"])
    # stem 3*128*9 + BN; per cell a 1x1 projection cin*cout + BN; classifier 512*10 + 10
    cells = [(128, 128)] * 3 + [(128, 256), (256, 256), (256, 256), (256, 512), (512, 512), (512, 512)]
    params = 3 * 128 * 9 + 256 + sum(ci * co + 2 * co for ci, co in cells) + 5130
    assert count_parameters(spec) == params == 882_570
    sizes = [32] * 3 + [16] * 3 + [8] * 3
    flops = 2 * 3 * 128 * 9 * 32 * 32 + sum(2 * ci * co * s * s
                                            for (ci, co), s in zip(cells, sizes)) + 2 * 5120
    assert count_flops(spec) == flops == 275_523_584


def test_conv_and_pool_costs_by_hand():
    # input -> conv3x3 -> maxpool -> output; one cell of 16 channels on 8x8 input, 2 classes
    shape = NetworkShape(in_channels=2, num_classes=2, stem_channels=16, num_stacks=1, cells_per_stack=1,
                         input_size=8)
    spec = ArchSpec.from_spec(np.diag(np.ones(3, int), k=1), ["input", CONV3X3, MAXPOOL3X3, "output"])
    stem = 2 * 16 * 9
    proj = 16 * 16  # input -> conv vertex projection
    conv = 16 * 16 * 9
    params = stem + 32 + proj + 32 + conv + 32 + 16 * 2 + 2
    assert count_parameters(spec, shape) == params
    assert count_flops(spec, shape) == 2 * (stem + proj + conv) * 64 + 2 * 16 * 2


def test_batch_equals_single_and_shapes_differ(space):
    rng = np.random.default_rng(0)
    idx = rng.choice(len(space), 100, replace=False)
    p, f = network_cost_batch(space.matrices[idx], space.labels[idx], space.n_vertices[idx], SO2SAT_SHAPE)
    for k, i in enumerate(idx):
        spec = ArchSpec.from_spec(space.matrix(i), space.ops(i))
        assert p[k] == count_parameters(spec, SO2SAT_SHAPE)
        assert f[k] == count_flops(spec, SO2SAT_SHAPE)
    p10, _ = network_cost_batch(space.matrices[idx], space.labels[idx], space.n_vertices[idx], CIFAR10_SHAPE)
    # 15 more input channels * 128 * 9 in the stem, 7 more classes * (512 + 1) in the classifier
    assert np.all(p - p10 == 15 * 128 * 9 + 7 * 513)


def test_whole_space_range_matches_nb101(space):
    p, _ = network_cost_batch(space.matrices, space.labels, space.n_vertices, CIFAR10_SHAPE)
    # NAS-Bench-101's published extremes of trainable parameters
    assert p.min() == 227_274 and p.max() == 49_979_274


def test_op_labels_for_ops():
    spec = ArchSpec.from_spec([[0, 1, 0], [0, 0, 1], [0, 0, 0]], ["input", CONV1X1, "output"])
    assert spec.labels == [-1, 1, -2]
