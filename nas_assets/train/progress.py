"""Progress lines for logs (SLURM output files do not render progress bars)."""

from __future__ import annotations

import time

import lightning as L

from nas_assets.train.module import NB101Module
from nas_assets.train.reporting import REPORTER


class ProgressLogger(L.Callback):
    """Every ``every_s`` seconds and at each epoch end: epoch, step, img/s over all processes, ETA.

    Printed by global rank 0 only.
    """

    def __init__(self, every_s: float = 30.0) -> None:
        self.every_s = every_s
        self._last = 0.0
        self._run_start = 0.0
        self._epoch_start = 0.0
        self._steps_done = 0

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._run_start = self._last = time.perf_counter()
        self._steps_done = 0

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._epoch_start = time.perf_counter()

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs, batch,
                           batch_idx: int) -> None:
        self._steps_done += 1
        now = time.perf_counter()
        if now - self._last >= self.every_s:
            self._last = now
            self._print(trainer, batch_idx + 1, batch[1].shape[0], now)

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._print(trainer, trainer.num_training_batches, None, time.perf_counter())

    def _print(self, trainer: L.Trainer, step: int | float, batch: int | None, now: float) -> None:
        if not trainer.is_global_zero:
            return
        steps_per_epoch = max(1, int(trainer.num_training_batches))
        elapsed = now - self._run_start
        rate = self._steps_done / elapsed if elapsed > 0 else 0.0
        batch = batch or _batch_size(trainer.lightning_module)
        if trainer.max_epochs is None:  # no epoch limit (max_steps only): no ETA
            eta = float("nan")
        else:
            remaining = (trainer.max_epochs - trainer.current_epoch) * steps_per_epoch - step
            eta = remaining / rate if rate > 0 else float("nan")
        REPORTER.info(
            f"epoch {trainer.current_epoch + 1}/{trainer.max_epochs} step {step}/{steps_per_epoch} "
            f"{rate * batch * trainer.world_size:,.0f} img/s  ETA {eta / 60:.1f} min"
        )


def _batch_size(module: L.LightningModule) -> int:
    """The per-process batch size of the module being trained."""
    if not isinstance(module, NB101Module):
        raise TypeError(f"ProgressLogger: expected an NB101Module, got {type(module).__name__}")
    return module.config.batch_size
