"""Train one architecture end to end: Trainer set-up, checkpoints and resume, the result record.

Data come in as in-memory arrays (:class:`ArrayData`), so So2Sat caches, the digits test and
anything else go through the same path. Under DDP every process runs this; only global rank 0
writes files (checkpoints through Lightning, the result JSON atomically).
"""

from __future__ import annotations

import json
import os
import platform
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import lightning as L
import numpy as np
import torch

from nas_assets.core.cost import NetworkShape, network_cost_batch
from nas_assets.core.space import ArchSpec
from nas_assets.train.config import TrainConfig
from nas_assets.train.module import NB101Module
from nas_assets.train.network import NB101Network, count_trainable
from nas_assets.train.progress import ProgressLogger

RESULT_SCHEMA_VERSION = 1
ToFloat = Callable[[torch.Tensor], torch.Tensor]


@dataclass
class ArrayData:
    """A classification dataset in memory, channels-first.

    Attributes:
        splits: ``train``, ``val`` and optionally ``test`` -> (x (N, C, H, W), y (N,) int64).
        num_classes: classes.
        to_float: turns a batch of stored ``x`` (any compact dtype) into normalised float32.
        name: shown in the record (e.g. the cache manifest id).
        info: free-form description stored in the record (source, normalisation...).
    """

    splits: dict[str, tuple[np.ndarray, np.ndarray]]
    num_classes: int
    to_float: ToFloat | None = None
    name: str = "arrays"
    info: dict | None = None

    @property
    def num_channels(self) -> int:
        return int(self.splits["train"][0].shape[1])

    @property
    def image_size(self) -> int:
        return int(self.splits["train"][0].shape[-1])


def _eval_batches(x: np.ndarray, y: np.ndarray, batch: int, rank: int, world: int, device: torch.device,
                  to_float: ToFloat | None) -> Callable[[], Iterator[tuple[torch.Tensor, torch.Tensor]]]:
    """This process's share (every ``world``-th sample) in order: no padding, so sums are exact."""
    xs = torch.from_numpy(np.ascontiguousarray(x[rank::world]))
    ys = torch.from_numpy(np.ascontiguousarray(y[rank::world])).long()

    def batches() -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        for start in range(0, ys.numel(), batch):
            xb = xs[start : start + batch].to(device, non_blocking=True)
            xb = to_float(xb) if to_float is not None else xb.float()
            yield xb, ys[start : start + batch].to(device, non_blocking=True)

    return batches


class EpochSeeder(L.Callback):
    """Tells the loader which epoch starts, so a resumed run replays the same data order."""

    def __init__(self, loader) -> None:
        self.loader = loader

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.loader.set_epoch(trainer.current_epoch)


def environment(trainer: L.Trainer) -> dict:
    """Where and with what the run happened."""
    device = "cpu"
    if torch.cuda.is_available() and trainer.strategy.root_device.type == "cuda":
        device = torch.cuda.get_device_name(trainer.strategy.root_device)
    else:
        try:
            names = [l.split(":", 1)[1].strip() for l in Path("/proc/cpuinfo").read_text().splitlines() if l.startswith("model name")]
            device = f"cpu: {names[0]}" if names else device
        except OSError:
            pass
    import lightning

    return {
        "hostname": socket.gethostname(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "lightning": lightning.__version__,
        "numpy": np.__version__,
        "device": device,
        "accelerator": trainer.strategy.root_device.type,
        "world_size": trainer.world_size,
        "num_nodes": trainer.num_nodes,
        "devices_per_node": trainer.num_devices,
        "precision": str(trainer.precision),
        "slurm_job_id": os.environ.get("SLURM_JOB_ID"),
        "cpu_threads": torch.get_num_threads(),
    }


def write_json_atomic(path: Path, payload: dict) -> None:
    """temp file + fsync + rename: readers see the old file or the whole new one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w") as handle:
        json.dump(payload, handle, indent=1)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def result_path(out_dir: Path, spec: ArchSpec) -> Path:
    return Path(out_dir) / f"{spec.arch_hash}.json"


def train_architecture(
    spec: ArchSpec,
    data: ArrayData,
    config: TrainConfig,
    out_dir: str | Path,
    *,
    accelerator: str = "auto",
    devices: int | str = 1,
    num_nodes: int = 1,
    checkpoint_dir: str | Path | None = None,
    keep_budget_checkpoints: bool = True,
    resume: bool = True,
    progress_every_s: float = 30.0,
    run_info: dict | None = None,
) -> dict | None:
    """Train ``spec`` on ``data`` and write ``<out_dir>/<hash>.json`` (global rank 0).

    Args:
        spec: the architecture.
        data: in-memory dataset.
        config: the run configuration.
        out_dir: where the result file goes.
        accelerator, devices, num_nodes: Lightning's; ``devices`` > 1 or ``num_nodes`` > 1 means DDP.
        checkpoint_dir: default ``<out_dir>/checkpoints/<hash>``; ``last.ckpt`` every epoch and
            ``budget-NNN.ckpt`` at budgets (if ``keep_budget_checkpoints``).
        resume: continue from ``last.ckpt`` when it exists.
        progress_every_s: seconds between progress lines.
        run_info: extra fields stored under ``run`` in the record (e.g. the launcher's ids).

    Returns:
        The record on global rank 0, None on other ranks.
    """
    out_dir = Path(out_dir)
    ckpt_dir = Path(checkpoint_dir) if checkpoint_dir else out_dir / "checkpoints" / spec.arch_hash
    wall_start = time.time()
    L.seed_everything(config.seed, workers=True, verbose=False)
    on_gpu = accelerator in ("gpu", "cuda") or (accelerator == "auto" and torch.cuda.is_available())
    precision = config.precision if config.precision != "auto" else ("bf16-mixed" if on_gpu else "32-true")
    channels_last = on_gpu if config.channels_last is None else config.channels_last
    distributed = num_nodes > 1 or (isinstance(devices, int) and devices > 1)
    trainer = L.Trainer(
        accelerator=accelerator,
        devices=devices,
        num_nodes=num_nodes,
        strategy="ddp" if distributed else "auto",
        precision=precision,
        max_epochs=config.epochs,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        use_distributed_sampler=False,
        num_sanity_val_steps=0,
        limit_val_batches=0,
        deterministic="warn",
        callbacks=[ProgressLogger(every_s=progress_every_s)],
    )
    rank, world = trainer.global_rank, trainer.world_size
    device = trainer.strategy.root_device

    from nas_assets.train.data import BatchLoader

    x_train, y_train = data.splits["train"]
    train_loader = BatchLoader(
        x_train, y_train, config.batch_size, shuffle=True, augment=config.augment, device=device,
        seed=config.seed, rank=rank, world_size=world, drop_last=False, dequantize=data.to_float,
    )
    trainer.callbacks.append(EpochSeeder(train_loader))
    eval_sets = {
        split: _eval_batches(*data.splits[split], config.eval_batch_size, rank, world, device, data.to_float)
        for split in ("val", "test")
        if split in data.splits
    }
    shape = NetworkShape(
        in_channels=data.num_channels, num_classes=data.num_classes, stem_channels=config.stem_channels,
        num_stacks=config.num_stacks, cells_per_stack=config.cells_per_stack, input_size=data.image_size,
    )
    network = NB101Network(spec, shape)
    if channels_last:
        network = network.to(memory_format=torch.channels_last)
    params = count_trainable(network)
    flops = int(network_cost_batch(*spec.padded(), shape)[1][0])
    if config.compile:
        network = torch.compile(network)

    def save_checkpoint(epoch: int, is_budget: bool) -> None:
        # collective under DDP: every rank calls, rank 0 writes; temp + rename keeps last.ckpt whole
        ckpt_dir.mkdir(parents=True, exist_ok=True)
        tmp = ckpt_dir / f".last.{os.getpid()}.tmp"
        trainer.save_checkpoint(tmp, weights_only=False)
        if trainer.is_global_zero:
            if is_budget and keep_budget_checkpoints:
                import shutil

                shutil.copyfile(tmp, ckpt_dir / f"budget-{epoch:03d}.ckpt")
            os.replace(tmp, ckpt_dir / "last.ckpt")
        trainer.strategy.barrier("checkpoint")

    module = NB101Module(
        network, config, data.num_classes, steps_per_epoch=len(train_loader), world_size=world,
        eval_sets=eval_sets, checkpoint=save_checkpoint,
    )
    last = ckpt_dir / "last.ckpt"
    ckpt_path = str(last) if resume and last.exists() else None
    if ckpt_path and trainer.is_global_zero:
        print(f"resuming {spec.arch_hash} from {last}", flush=True)
    trainer.fit(module, train_dataloaders=train_loader, ckpt_path=ckpt_path)

    if not trainer.is_global_zero:
        return None
    budgets = sorted(module.budget_records, key=lambda r: r["epoch"])
    record = {
        "schema_version": RESULT_SCHEMA_VERSION,
        "status": "complete",
        "arch": {
            "arch_hash": spec.arch_hash,
            "matrix": spec.matrix_string(),
            "ops": spec.ops_string(),
            "n_vertices": spec.n_vertices,
            "n_edges": spec.n_edges,
        },
        "trainable_parameters": params,
        "flops": flops,
        "network": shape.__dict__,
        "config": config.to_dict(),
        "data": {"name": data.name, "num_classes": data.num_classes, "num_channels": data.num_channels,
                 "sizes": {k: int(v[1].shape[0]) for k, v in data.splits.items()}, **(data.info or {})},
        "environment": environment(trainer),
        "run": run_info or {},
        "budgets": budgets,
        "test": module.test_record,
        "timings": {
            "train_seconds": module.train_seconds,
            "eval_seconds": module.eval_seconds,
            "wall_seconds_this_process": time.time() - wall_start,
            "train_images_per_second": module.samples_seen * world / module.train_seconds if module.train_seconds else None,
        },
        "resumed_from": ckpt_path,
    }
    write_json_atomic(result_path(out_dir, spec), record)
    return record
