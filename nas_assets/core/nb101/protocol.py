"""NAS-Bench-101's training protocol, as numbers: the network skeleton and the epoch budgets.

Every default that says "as NB101" reads these (the cost model's network shape, the training
configuration, the Dagster resources and configs, the command lines, the reference reader and the
report's persistence budgets).
"""

from __future__ import annotations

#: Epochs at which NB101 trained (and measured) every cell, each as its own annealed run.
NB101_BUDGETS: tuple[int, ...] = (4, 12, 36, 108)

#: Width of the stem convolution and of the first stack.
NB101_STEM_CHANNELS = 128
#: Stacks of cells, with a 2x2 max-pool and channel doubling between them.
NB101_NUM_STACKS = 3
#: Cells in each stack.
NB101_CELLS_PER_STACK = 3
