"""The trainer's side of CPU sharing: re-read the live trainings, set torch's threads, count steps."""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

import lightning as L
import torch

from nas_assets.train.cpu_share import FreeCpus, live_trainings, thread_share


class ThreadShare(L.Callback):
    """Keeps torch's intra-op threads at this training's share of its allotted CPUs.

    At each epoch start, and every ``every_s`` seconds within an epoch, the live trainings in
    ``trainings_dir`` are counted (without a directory: one) and the CPUs other processes left
    free since the last count are measured (:class:`~nas_assets.train.cpu_share.FreeCpus`);
    torch gets ``max(1, allotted // live)`` threads, fewer when fewer CPUs were free (rounded,
    at least one). A training alone on an idle machine uses all of its CPUs, one of two uses
    half, and one beside a busy process does not run more threads than it gets CPUs. One
    instance serves every Trainer of a configuration; :attr:`steps_by_threads` (training steps
    per thread count) goes in the result.

    With ``fixed`` (``NAS_ASSETS_CPU_SHARING=fixed``) the threads stay at ``allotted`` whatever
    the load: a CPU training is then bit-reproducible, since the thread count changes the order
    of floating-point reductions; beside other work it runs slower instead.

    Args:
        allotted: the CPUs this process was given (``allotted_cpus().threads``).
        trainings_dir: the tickets' directory (see :mod:`nas_assets.train.cpu_share`), or None.
        every_s: seconds between counts within an epoch.
        fixed: keep ``allotted`` threads (no sharing).
    """

    def __init__(self, allotted: int, trainings_dir: Path | None = None, every_s: float = 5.0,
                 fixed: bool = False) -> None:
        self.allotted = allotted
        self.fixed = fixed
        self.trainings_dir = trainings_dir
        self.every_s = every_s
        self.steps_by_threads: Counter[int] = Counter()
        self._checked_at = float("-inf")
        self._free = FreeCpus()
        self._free_cap = allotted

    def update(self) -> int:
        """Count the live trainings now and apply this one's share; returns the threads."""
        if self.fixed:
            if torch.get_num_threads() != self.allotted:
                torch.set_num_threads(self.allotted)
            self._checked_at = time.monotonic()
            return self.allotted
        live = live_trainings(self.trainings_dir) if self.trainings_dir is not None else 1
        free = self._free.measure()
        if free is not None:  # else too short a window since the last count: keep its cap
            self._free_cap = max(1, round(free))
        threads = min(thread_share(self.allotted, live), self._free_cap)
        if threads != torch.get_num_threads():
            torch.set_num_threads(threads)
        self._checked_at = time.monotonic()
        return threads

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.update()

    def on_train_batch_start(self, trainer: L.Trainer, pl_module: L.LightningModule, batch,
                             batch_idx: int) -> None:
        if time.monotonic() - self._checked_at >= self.every_s:
            self.update()

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs, batch,
                           batch_idx: int) -> None:
        self.steps_by_threads[torch.get_num_threads()] += 1

    @property
    def mode(self) -> str:
        """``fixed`` or ``adaptive`` (``NAS_ASSETS_CPU_SHARING``), for the result file."""
        return "fixed" if self.fixed else "adaptive"

    def record(self) -> dict[str, int]:
        """``{"threads": steps}`` for the result file (JSON keys are strings)."""
        return {str(threads): steps for threads, steps in sorted(self.steps_by_threads.items())}
