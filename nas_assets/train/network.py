"""The NAS-Bench-101 network as a torch ``nn.Module`` (NAS-Bench-101's search space).

Stem conv3x3-BN-ReLU -> ``num_stacks`` stacks of ``cells_per_stack`` cells (2x2 max-pool and
channel doubling between stacks) -> global average pool -> linear. Vertex widths come from
``nas_assets.core.cells.cost.vertex_channels`` so the parameter count equals the analytic one.
"""

from __future__ import annotations

import torch
from torch import nn

from nas_assets.core.cells.cost import NetworkShape, vertex_channels
from nas_assets.core.cells.space import CONV1X1, CONV3X3, MAXPOOL3X3, ArchSpec

#: PyTorch convention (1 - TF's 0.997 would be 0.003): NB101's slow running statistics only
#: settle after tens of thousands of steps, far more than a short or demo run takes.
BN_MOMENTUM = 0.1
BN_EPS = 1e-5


class ConvBnRelu(nn.Sequential):
    """conv (no bias, 'same' padding) -> batch norm -> ReLU."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int) -> None:
        super().__init__(
            nn.Conv2d(in_channels, out_channels, kernel_size, padding=kernel_size // 2, bias=False),
            nn.BatchNorm2d(out_channels, eps=BN_EPS, momentum=BN_MOMENTUM),
            nn.ReLU(inplace=False),
        )


def _vertex_op(op: str, channels: int) -> nn.Module:
    if op == CONV3X3:
        return ConvBnRelu(channels, channels, 3)
    if op == CONV1X1:
        return ConvBnRelu(channels, channels, 1)
    if op == MAXPOOL3X3:
        return nn.MaxPool2d(kernel_size=3, stride=1, padding=1)
    raise ValueError(f"unknown interior op {op!r}")


class Cell(nn.Module):
    """One NB101 cell: the DAG of ``spec`` from ``in_channels`` to ``out_channels``."""

    def __init__(self, spec: ArchSpec, in_channels: int, out_channels: int) -> None:
        super().__init__()
        matrix = spec.matrix.astype(bool)
        n = spec.n_vertices
        self.n = n
        self.channels = vertex_channels(spec.matrix, in_channels, out_channels)
        self.preds = [[s for s in range(1, t) if matrix[s, t]] for t in range(n)]
        self.from_input = [bool(matrix[0, t]) for t in range(n)]
        self.to_output = [s for s in range(1, n - 1) if matrix[s, n - 1]]
        self.ops = nn.ModuleList([_vertex_op(op, self.channels[t]) for t, op in enumerate(spec.ops[1:-1], 1)])
        # 1x1 projections of the cell input into every vertex it feeds (output included)
        self.proj = nn.ModuleDict(
            {str(t): ConvBnRelu(in_channels, self.channels[t], 1) for t in range(1, n) if self.from_input[t]}
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        tensors: list[torch.Tensor] = [x]
        for t in range(1, self.n - 1):
            width = self.channels[t]
            terms = [tensors[s][:, :width] for s in self.preds[t]]  # truncate wider inputs
            if self.from_input[t]:
                terms.append(self.proj[str(t)](x))
            total = terms[0]
            for term in terms[1:]:
                total = total + term
            tensors.append(self.ops[t - 1](total))
        last = self.n - 1
        if not self.to_output:  # the whole cell is input -> output
            return self.proj[str(last)](x)
        out = (torch.cat([tensors[s] for s in self.to_output], dim=1) if len(self.to_output) > 1
               else tensors[self.to_output[0]])
        if self.from_input[last]:
            out = out + self.proj[str(last)](x)
        return out


class NB101Network(nn.Module):
    """The NB101 network for one architecture and a :class:`NetworkShape`."""

    def __init__(self, spec: ArchSpec, shape: NetworkShape) -> None:
        super().__init__()
        self.spec = spec
        self.shape = shape
        layers: list[nn.Module] = [ConvBnRelu(shape.in_channels, shape.stem_channels, 3)]
        previous_out, previous_size = shape.stem_channels, shape.input_size
        for cin, cout, size in shape.cell_plan():
            if size != previous_size:  # first cell of a later stack: 2x2 max-pool first
                layers.append(nn.MaxPool2d(kernel_size=2, stride=2, ceil_mode=True))
            layers.append(Cell(spec, cin, cout))
            previous_out, previous_size = cout, size
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Linear(previous_out, shape.num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = self.features(x)
        return self.classifier(features.mean(dim=(2, 3)))


def count_trainable(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters() if p.requires_grad)
