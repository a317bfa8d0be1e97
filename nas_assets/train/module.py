"""The LightningModule: steps, optimisers, exact metrics at every budget epoch, resumable state.

One module is one training run (``config.epochs`` epochs, one cosine schedule over them); the
``nb101`` protocol builds one per budget (see :meth:`TrainConfig.runs`).

Metrics are computed from confusion matrices summed over all processes, so under DDP they
describe the whole split, not rank 0's shard. Budget records travel inside checkpoints, so a
resumed run ends with each budget recorded exactly once.
"""

from __future__ import annotations

import math
import time
from typing import Callable, Iterable

import lightning as L
import torch
import torch.nn.functional as F

from nas_assets.core.classification import summarize
from nas_assets.train.config import TrainConfig
from nas_assets.train.reporting import REPORTER

#: ``(x, y)`` batches of one split for this process (already sharded, no padding).
EvalBatches = Callable[[], Iterable[tuple[torch.Tensor, torch.Tensor]]]


class NB101Module(L.LightningModule):
    """Trains one NB101 network and records metrics at each budget epoch.

    Args:
        network: the model (an NB101Network, or its torch.compile wrapper).
        config: the run configuration.
        num_classes: number of classes (confusion matrix size).
        steps_per_epoch: optimiser steps per epoch for this process (for the per-step schedule).
        world_size: number of processes (for linear LR scaling).
        eval_sets: split name -> callable yielding this process's evaluation batches; ``val``
            and ``test`` are evaluated at every budget.
        checkpoint: optional callable(epoch, is_budget) that saves a checkpoint; called after
            the budget's metrics are recorded so the checkpoint contains them.
    """

    def __init__(
        self,
        network: torch.nn.Module,
        config: TrainConfig,
        num_classes: int,
        steps_per_epoch: int,
        world_size: int = 1,
        eval_sets: dict[str, EvalBatches] | None = None,
        checkpoint: Callable[[int, bool], None] | None = None,
    ) -> None:
        super().__init__()
        self.network = network
        self.config = config
        self.num_classes = num_classes
        self.steps_per_epoch = steps_per_epoch
        self.world_size = world_size
        self.eval_sets = eval_sets or {}
        self.checkpoint = checkpoint
        self.budget_records: list[dict] = []
        self.train_seconds = 0.0
        self.eval_seconds = 0.0
        self.samples_seen = 0
        self._epoch_start = 0.0
        self._train_confusion: torch.Tensor | None = None
        self._train_loss_t: torch.Tensor | None = None
        self._train_count = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.network(x)

    # ---- optimisation -------------------------------------------------------------------
    def configure_optimizers(self):
        recipe = self.config.optimiser()
        lr = recipe.lr * self.world_size
        params = self.network.parameters()
        if recipe.name == "sgd":
            opt = torch.optim.SGD(params, lr=lr, momentum=recipe.momentum, weight_decay=recipe.weight_decay)
        else:  # TF RMSProp semantics: decay 0.9, momentum 0.9, eps 1.0
            opt = torch.optim.RMSprop(
                params, lr=lr, alpha=0.9, momentum=recipe.momentum, eps=recipe.eps,
                weight_decay=recipe.weight_decay
            )
        total = max(1, self.steps_per_epoch * self.config.epochs)
        schedule = torch.optim.lr_scheduler.LambdaLR(
            opt, lambda step: 0.5 * (1 + math.cos(math.pi * min(step, total) / total)))
        return {"optimizer": opt, "lr_scheduler": {"scheduler": schedule, "interval": "step"}}

    # ---- training -----------------------------------------------------------------------
    def on_train_epoch_start(self) -> None:
        self._train_confusion = torch.zeros(self.num_classes * self.num_classes, dtype=torch.int64,
                                            device=self.device)
        self._train_count = 0
        self._train_loss_t = torch.zeros((), dtype=torch.float64, device=self.device)
        self._epoch_start = time.perf_counter()

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        x, y = batch
        if self.config.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        logits = self(x)
        loss = F.cross_entropy(logits, y)
        with torch.no_grad():
            pred = logits.argmax(dim=1)
            confusion, loss_sum = self._train_accumulators()
            confusion += torch.bincount(y * self.num_classes + pred, minlength=self.num_classes**2)
            loss_sum += loss.detach().double() * y.numel()
            self._train_count += y.numel()
        self.samples_seen += y.numel()
        return loss

    def on_train_epoch_end(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize()
        self.train_seconds += time.perf_counter() - self._epoch_start
        epoch = self.current_epoch + 1
        is_budget = epoch in self.config.budgets
        if is_budget and not any(r["epoch"] == epoch for r in self.budget_records):
            started = time.perf_counter()
            confusion, loss_sum = self._train_accumulators()
            train = self._reduce(confusion, loss_sum, self._train_count)
            record = {"epoch": epoch, "train_seconds": self.train_seconds, "train": train}
            for split in ("val", "test"):  # test too: NB101 and the footprint authors use it per budget
                if split in self.eval_sets:
                    record[split] = self.evaluate(split)
            self.eval_seconds += time.perf_counter() - started
            record["eval_seconds"] = time.perf_counter() - started
            self.budget_records.append(record)
            self._log_budget(record)
        if self.checkpoint is not None:
            self.checkpoint(epoch, is_budget)

    # ---- evaluation ---------------------------------------------------------------------
    @torch.no_grad()
    def evaluate(self, split: str) -> dict:
        """Metrics of ``split`` over all processes (a collective call under DDP)."""
        was_training = self.network.training
        self.network.eval()
        confusion = torch.zeros(self.num_classes * self.num_classes, dtype=torch.int64, device=self.device)
        loss_sum = torch.zeros((), dtype=torch.float64, device=self.device)
        count = 0
        forward_context = (self.trainer.precision_plugin.forward_context() if self._trainer
                           else torch.autocast("cpu", enabled=False))
        with forward_context:
            for x, y in self.eval_sets[split]():
                x, y = x.to(self.device, non_blocking=True), y.to(self.device, non_blocking=True)
                if self.config.channels_last:
                    x = x.contiguous(memory_format=torch.channels_last)
                logits = self(x).float()
                loss_sum += F.cross_entropy(logits, y, reduction="sum").double()
                confusion += torch.bincount(y * self.num_classes + logits.argmax(1),
                                            minlength=self.num_classes**2)
                count += y.numel()
        self.network.train(was_training)
        return self._reduce(confusion, loss_sum, count)

    def _train_accumulators(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The epoch's confusion counts and summed loss (set by ``on_train_epoch_start``)."""
        if self._train_confusion is None or self._train_loss_t is None:
            raise RuntimeError("NB101Module: training accumulators used before on_train_epoch_start")
        return self._train_confusion, self._train_loss_t

    def _reduce(self, confusion: torch.Tensor, loss_sum: torch.Tensor, count: int) -> dict:
        packed = torch.cat([confusion.double(), loss_sum.reshape(1).double(),
                            torch.tensor([count], dtype=torch.float64, device=confusion.device)])
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            torch.distributed.all_reduce(packed)
        k2 = self.num_classes**2
        conf = packed[:k2].round().long().reshape(self.num_classes, self.num_classes).cpu().numpy()
        return {**summarize(conf, float(packed[k2]), int(packed[k2 + 1].item())), "confusion": conf.tolist()}

    def _log_budget(self, record: dict) -> None:
        if self.trainer.is_global_zero:
            val = record.get("val", {})
            REPORTER.info(
                f"[budget {record['epoch']:>3}] train acc {record['train']['overall_accuracy']:.4f}  "
                f"val acc {val.get('overall_accuracy', float('nan')):.4f}  "
                f"val macro {val.get('macro_accuracy', float('nan')):.4f}  "
                f"val kappa {val.get('kappa', float('nan')):.4f}  "
                f"train {record['train_seconds']:.1f} s"
            )

    # ---- resumable state ----------------------------------------------------------------
    def on_save_checkpoint(self, checkpoint: dict) -> None:
        checkpoint["nas_assets"] = {
            "budget_records": self.budget_records,
            "train_seconds": self.train_seconds,
            "eval_seconds": self.eval_seconds,
            "samples_seen": self.samples_seen,
        }

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        state = checkpoint.get("nas_assets", {})
        self.budget_records = list(state.get("budget_records", []))
        self.train_seconds = float(state.get("train_seconds", 0.0))
        self.eval_seconds = float(state.get("eval_seconds", 0.0))
        self.samples_seen = int(state.get("samples_seen", 0))

