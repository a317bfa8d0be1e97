"""Train one architecture end to end: Trainer set-up, checkpoints and resume, the result record.

Data come in as in-memory arrays (:class:`ArrayData`), so So2Sat caches, the digits test and
anything else go through the same path. Under DDP every process runs this; only global rank 0
writes files (checkpoints through Lightning, the result JSON atomically).

A ``snapshot`` configuration is one Trainer.fit; an ``nb101`` one is a Trainer.fit per budget,
shortest first, each in ``<checkpoint_dir>/budget-NNN/`` (its ``last.ckpt``, then its
``record.json`` once finished), so a killed job skips the finished budgets and continues the
unfinished one from its ``last.ckpt``.
"""

from __future__ import annotations

import json
import os
import platform
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterator, cast

import lightning as L
import numpy as np
import torch

from nas_assets.core.cells.cost import NetworkShape, network_cost_batch
from nas_assets.core.cells.space import ArchSpec
from nas_assets.core.files import atomic_write_json
from nas_assets.train.config import TrainConfig
from nas_assets.train.module import NB101Module
from nas_assets.train.network import NB101Network, count_trainable
from nas_assets.train.progress import ProgressLogger
from nas_assets.train.reporting import is_global_rank_zero
from nas_assets.train.thread_share import ThreadShare

if TYPE_CHECKING:
    from lightning.fabric.plugins.precision.precision import _PRECISION_INPUT

#: 2: a ``test`` split in every budget record and ``config.protocol`` (see core.results).
RESULT_SCHEMA_VERSION = 2
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
            names = [line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                     if line.startswith("model name")]
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
    }


def result_path(out_dir: Path, spec: ArchSpec) -> Path:
    return Path(out_dir) / f"{spec.arch_hash}.json"


@dataclass
class RunOutcome:
    """What one training run (one Trainer.fit) measured.

    Attributes:
        budgets: its per-budget records (train/val/test metrics), ascending.
        train_seconds, eval_seconds: time spent training and evaluating.
        samples_seen: training samples this process saw.
        resumed_from: the ``last.ckpt`` it continued from, if any.
    """

    budgets: list[dict]
    train_seconds: float = 0.0
    eval_seconds: float = 0.0
    samples_seen: int = 0
    resumed_from: str | None = None


@dataclass
class PlannedRun:
    """One training run of a configuration and what earlier processes left of it.

    Attributes:
        config: the run's own configuration (one budget per run under ``nb101``).
        ckpt_dir: where its ``last.ckpt`` goes.
        record_path: where its outcome is saved once finished (``nb101``; None for a snapshot
            run, whose budget records travel inside its checkpoints).
        finished: its outcome, when an earlier process finished it.
        resume_from: the ``last.ckpt`` to continue from, when an earlier process started it.
    """

    config: TrainConfig
    ckpt_dir: Path
    record_path: Path | None = None
    finished: RunOutcome | None = None
    resume_from: Path | None = None


def plan_runs(config: TrainConfig, ckpt_dir: Path, resume: bool) -> list[PlannedRun]:
    """The runs of ``config`` (see :meth:`TrainConfig.runs`), shortest first, with their state.

    Decided once, before any training, so every DDP rank walks the same sequence of fits.
    """
    if config.protocol == "snapshot":
        planned = [PlannedRun(config, ckpt_dir)]
    else:
        planned = []
        for run_config in config.runs():
            run_dir = ckpt_dir / f"budget-{run_config.epochs:03d}"
            planned.append(PlannedRun(run_config, run_dir, record_path=run_dir / "record.json"))
    if resume:
        for run in planned:
            if run.record_path is not None and run.record_path.exists():
                run.finished = RunOutcome(**json.loads(run.record_path.read_text()))
            elif (run.ckpt_dir / "last.ckpt").exists():
                run.resume_from = run.ckpt_dir / "last.ckpt"
    return planned


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
    thread_share: ThreadShare | None = None,
) -> dict | None:
    """Train ``spec`` on ``data`` and write ``<out_dir>/<hash>.json`` (global rank 0).

    Every run starts from ``seed_everything(config.seed)``: the same initial weights and, per
    epoch, the same data order and augmentation, whichever protocol and budget.

    Args:
        spec: the architecture.
        data: in-memory dataset.
        config: the run configuration (``config.protocol`` says how budgets are trained).
        out_dir: where the result file goes.
        accelerator, devices, num_nodes: Lightning's; ``devices`` > 1 or ``num_nodes`` > 1 means DDP.
        checkpoint_dir: default ``<out_dir>/checkpoints/<hash>``. ``snapshot``: ``last.ckpt``
            every epoch and ``budget-NNN.ckpt`` at budgets (if ``keep_budget_checkpoints``).
            ``nb101``: ``budget-NNN/last.ckpt`` every epoch of that budget's run, and
            ``budget-NNN/record.json`` when it is finished; without ``keep_budget_checkpoints``
            only the last budget's checkpoint is kept.
        resume: reuse finished budget runs and continue from ``last.ckpt`` when they exist.
        progress_every_s: seconds between progress lines.
        run_info: extra fields stored under ``run`` in the record (e.g. the launcher's ids).
        thread_share: keeps torch's threads at this training's share of the machine (default:
            torch's current threads, never re-counted). Its allotment is recorded as
            ``environment.cpu_threads``, its training steps per thread count as
            ``environment.cpu_threads_steps``.

    Returns:
        The record on global rank 0, None on other ranks.
    """
    out_dir = Path(out_dir)
    ckpt_dir = Path(checkpoint_dir) if checkpoint_dir else out_dir / "checkpoints" / spec.arch_hash
    wall_start = time.time()
    on_gpu = accelerator in ("gpu", "cuda") or (accelerator == "auto" and torch.cuda.is_available())
    precision = config.precision if config.precision != "auto" else ("bf16-mixed" if on_gpu else "32-true")
    # TrainConfig.precision is a free string: Lightning's Trainer validates it
    lightning_precision = cast("_PRECISION_INPUT", precision)
    channels_last = on_gpu if config.channels_last is None else config.channels_last
    distributed = num_nodes > 1 or (isinstance(devices, int) and devices > 1)
    share = thread_share if thread_share is not None else ThreadShare(torch.get_num_threads())

    def new_trainer(epochs: int) -> L.Trainer:
        return L.Trainer(
            accelerator=accelerator,
            devices=devices,
            num_nodes=num_nodes,
            strategy="ddp" if distributed else "auto",
            precision=lightning_precision,
            max_epochs=epochs,
            logger=False,
            enable_checkpointing=False,
            enable_progress_bar=False,
            enable_model_summary=False,
            use_distributed_sampler=False,
            num_sanity_val_steps=0,
            limit_val_batches=0,
            deterministic="warn",
            callbacks=[ProgressLogger(every_s=progress_every_s), share],
        )

    shape = NetworkShape(
        in_channels=data.num_channels, num_classes=data.num_classes, stem_channels=config.stem_channels,
        num_stacks=config.num_stacks, cells_per_stack=config.cells_per_stack, input_size=data.image_size,
    )

    def new_network() -> NB101Network:
        network = NB101Network(spec, shape)
        if not channels_last:
            return network
        # torch's stubs omit Module.to's memory_format keyword (accepted at runtime)
        return network.to(memory_format=torch.channels_last)  # type: ignore[call-overload]

    planned = plan_runs(config, ckpt_dir, resume)
    if is_global_rank_zero():
        for run in planned:
            if run.finished is not None:
                print(f"reusing {spec.arch_hash} budget {run.config.epochs}: "
                      f"finished earlier ({run.record_path})", flush=True)
    outcomes: list[RunOutcome] = []
    trainer: L.Trainer | None = None
    train_loader = eval_sets = None
    params: int | None = None
    for k, run in enumerate(planned):
        if run.finished is not None:
            outcomes.append(run.finished)
            continue
        # the same seeded start for every run: weights below, data order from (seed, epoch)
        L.seed_everything(config.seed, workers=True, verbose=False)
        trainer = new_trainer(run.config.epochs)
        if train_loader is None:  # one copy of the data serves every run
            train_loader, eval_sets = _feeds(data, config, trainer)
        # Trainer.callbacks is set by Lightning's callback connector, undeclared on Trainer
        trainer.callbacks.append(EpochSeeder(train_loader))  # type: ignore[attr-defined]
        network = new_network()
        params = count_trainable(network)
        model: torch.nn.Module = network
        if config.compile:
            # torch.compile wraps a module in an OptimizedModule (its stubs say only Callable)
            model = cast(torch.nn.Module, torch.compile(network))
        # a multi-run plan's runs each end at one budget: their last.ckpt is that budget's checkpoint
        keep_copies = keep_budget_checkpoints and run.record_path is None
        module = NB101Module(
            model, run.config, data.num_classes, steps_per_epoch=len(train_loader),
            world_size=trainer.world_size, eval_sets=eval_sets, checkpoint=_checkpointer(trainer,
                                                                                         run.ckpt_dir,
                                                                                         keep_copies),
        )
        ckpt_path = str(run.resume_from) if run.resume_from else None
        if ckpt_path and trainer.is_global_zero:
            print(f"resuming {spec.arch_hash} from {ckpt_path}", flush=True)
        trainer.fit(module, train_dataloaders=train_loader, ckpt_path=ckpt_path)
        outcome = RunOutcome(sorted(module.budget_records, key=lambda r: r["epoch"]), module.train_seconds,
                             module.eval_seconds, module.samples_seen, ckpt_path)
        outcomes.append(outcome)
        if run.record_path is not None and trainer.is_global_zero:
            atomic_write_json(run.record_path, outcome.__dict__)
            if not keep_budget_checkpoints and k < len(planned) - 1:
                (run.ckpt_dir / "last.ckpt").unlink(missing_ok=True)

    if trainer is None:  # every run finished in an earlier process: only the record is left to write
        trainer = new_trainer(config.epochs)
    if not trainer.is_global_zero:
        return None
    if params is None:
        params = count_trainable(new_network())
    record = _result_record(spec, data, config, shape, trainer, outcomes, params, run_info)
    # the CPUs this process was given, and how many threads its steps used (fewer beside other trainings)
    record["environment"].update(cpu_threads=share.allotted, cpu_threads_steps=share.record(),
                                 cpu_sharing=share.mode)
    record["reused_budgets"] = [run.config.epochs for run in planned if run.finished is not None]
    record["timings"]["wall_seconds_this_process"] = time.time() - wall_start
    atomic_write_json(result_path(out_dir, spec), record)
    return record


def _feeds(data: ArrayData, config: TrainConfig, trainer: L.Trainer):
    """This process's training loader and evaluation batches (rank, world and device from ``trainer``)."""
    from nas_assets.train.data import BatchLoader

    rank, world, device = trainer.global_rank, trainer.world_size, trainer.strategy.root_device
    x_train, y_train = data.splits["train"]
    train_loader = BatchLoader(
        x_train, y_train, config.batch_size, shuffle=True, augment=config.augment, device=device,
        seed=config.seed, rank=rank, world_size=world, drop_last=False, dequantize=data.to_float,
    )
    eval_sets = {
        split: _eval_batches(*data.splits[split], config.eval_batch_size, rank, world, device, data.to_float)
        for split in ("val", "test")
        if split in data.splits
    }
    return train_loader, eval_sets


def _checkpointer(trainer: L.Trainer, ckpt_dir: Path, keep_budget_copies: bool
                  ) -> Callable[[int, bool], None]:
    """The module's end-of-epoch hook: ``last.ckpt`` (and a ``budget-NNN.ckpt`` copy at budgets)."""

    def save_checkpoint(epoch: int, is_budget: bool) -> None:
        # collective under DDP: every rank calls, rank 0 writes; temp + rename keeps last.ckpt whole
        ckpt_dir.mkdir(parents=True, exist_ok=True)
        tmp = ckpt_dir / f".last.{os.getpid()}.tmp"
        trainer.save_checkpoint(tmp, weights_only=False)
        if trainer.is_global_zero:
            if is_budget and keep_budget_copies:
                import shutil

                shutil.copyfile(tmp, ckpt_dir / f"budget-{epoch:03d}.ckpt")
            os.replace(tmp, ckpt_dir / "last.ckpt")
        trainer.strategy.barrier("checkpoint")

    return save_checkpoint


def _result_record(spec: ArchSpec, data: ArrayData, config: TrainConfig, shape: NetworkShape,
                   trainer: L.Trainer, outcomes: list[RunOutcome], params: int,
                   run_info: dict | None) -> dict:
    """The result file's content (see core.results for its reader and validator)."""
    budgets = sorted((b for outcome in outcomes for b in outcome.budgets), key=lambda r: r["epoch"])
    last = budgets[-1] if budgets else {}
    train_seconds = sum(o.train_seconds for o in outcomes)
    images = sum(o.samples_seen for o in outcomes) * trainer.world_size
    return {
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
        "flops": int(network_cost_batch(*spec.padded(), shape)[1][0]),
        "network": shape.__dict__,
        "config": config.to_dict(),
        "data": {"name": data.name, "num_classes": data.num_classes, "num_channels": data.num_channels,
                 "sizes": {k: int(v[1].shape[0]) for k, v in data.splits.items()}, **(data.info or {})},
        "environment": environment(trainer),
        "run": run_info or {},
        "budgets": budgets,
        # the last budget's test split, where schema 1 readers look for it
        "test": {"epoch": last["epoch"], **last["test"]} if "test" in last else None,
        "timings": {
            "train_seconds": train_seconds,
            "eval_seconds": sum(o.eval_seconds for o in outcomes),
            "train_images_per_second": images / train_seconds if train_seconds else None,
        },
        "resumed_from": next((o.resumed_from for o in outcomes if o.resumed_from), None),
    }
