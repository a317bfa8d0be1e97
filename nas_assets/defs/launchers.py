"""Where training runs: one interface, a local-process and a SLURM implementation.

The ``trained_architecture`` asset only sees :class:`TrainingLauncher`. Both implementations
run ``python -m nas_assets.train`` and stream its progress into the Dagster run through Dagster
Pipes (context and messages as files in the partition's run directory -- on the shared file
system for SLURM; only global rank 0 reports).
"""

import multiprocessing
import sys
import threading
from collections.abc import Iterator, Mapping
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Union

from dagster import (
    AssetExecutionContext,
    ConfigurableResource,
    Failure,
    MetadataValue,
    PipesFileContextInjector,
    open_pipes_session,
)
from pydantic import Field

from nas_assets.defs.pipes_reader import PollingFileMessageReader
from nas_assets.launch import slurm
from nas_assets.launch.batch import run_batch
from nas_assets.launch.local import run_local, tail
from nas_assets.launch.slurm_job import JobRequest, LaunchStopped, SubmitFailed, run_job
from nas_assets.train.cpu_share import default_trainings_dir

#: End states worth a retry: the job, not the code, failed. The resubmitted job resumes from
#: the last checkpoint.
RETRYABLE_STATES = {"TIMEOUT", "PREEMPTED", "NODE_FAIL", "BOOT_FAIL"}
#: Resubmissions of one partition's job after such a failure (as the job's RetryPolicy does for a run
#: of one partition): a batched run retries each partition on its own.
MAX_JOB_RETRIES = 2


@dataclass
class TrainingJob:
    """One training run requested by the asset.

    Attributes:
        arch_hash: the partition.
        run_key: the training configuration's id (part of paths and tickets).
        train_args: ``python -m nas_assets.train`` arguments, without the topology flags.
        run_dir: per-partition directory for the log, the ticket and the Pipes files.
        stage_source: directory to copy to node-local storage before training (SLURM), if any.
    """

    arch_hash: str
    run_key: str
    train_args: list[str]
    run_dir: Path
    stage_source: Optional[str] = None


@dataclass
class LaunchReport:
    """What happened, for the materialization's metadata."""

    launcher: str
    state: str
    elapsed_s: float
    log_path: str
    log_tail: str
    job_id: Optional[str] = None
    node: Optional[str] = None
    reattached: bool = False
    extra: dict = field(default_factory=dict)

    def metadata(self) -> dict:
        meta = {
            "launcher": self.launcher,
            "job_state": self.state,
            "elapsed_s": round(self.elapsed_s, 1),
            "log_path": MetadataValue.path(self.log_path),
            "log_tail": MetadataValue.md(f"```\n{self.log_tail}\n```"),
        }
        if "cpu_s" in self.extra:
            meta["train_cpu_s"] = round(self.extra["cpu_s"], 2)
        if self.extra.get("attempts", 1) > 1:
            meta["attempts"] = self.extra["attempts"]
        if self.job_id:
            meta["slurm_job_id"] = self.job_id
            meta["slurm_node"] = self.node or ""
            meta["reattached"] = self.reattached
        return meta


class TrainingLauncher(ConfigurableResource):
    """Runs one training job and returns when it ended; raises ``dagster.Failure`` if it failed."""

    python: str = Field(default=sys.executable, description="Python interpreter that runs nas_assets.train.")
    log_tail_lines: int = Field(default=40, description="Lines of the job log shown on failure and in "
                                                        "metadata.")
    batch_concurrency: int = Field(
        default=1, description="Jobs a run covering several partitions (a batched backfill) keeps in flight "
                               "at once. Local: 1, so the training pool's limit (runs at once) stays the "
                               "number of trainers."
    )

    def topology(self) -> tuple[str, int, int]:
        """(accelerator, devices per node, nodes) handed to the Trainer."""
        raise NotImplementedError

    def launch(self, context: AssetExecutionContext, job: TrainingJob,
               stop: Optional[threading.Event] = None) -> LaunchReport:
        """Run ``job`` to its end; with ``stop``, stop (cancel) it and raise :class:`LaunchStopped`
        once set."""
        raise NotImplementedError

    def launch_many(
        self, context: AssetExecutionContext, jobs: list[TrainingJob]
    ) -> Iterator[tuple[TrainingJob, Union[LaunchReport, Failure]]]:
        """Run ``jobs`` with up to ``batch_concurrency`` in flight; yield each with its report or its
        ``Failure`` as it ends, so one failed partition neither stops nor fails the others.

        A job that failed for the cluster's reasons is resubmitted on its own (``MAX_JOB_RETRIES``).
        When the caller is interrupted (the run is terminated), every job still running is stopped
        before this returns.
        """
        def retry_reason(exc: Exception) -> Optional[str]:
            if isinstance(exc, Failure) and exc.allow_retries:
                return (exc.description or "failed").splitlines()[0]
            return None

        def on_retry(job: TrainingJob, reason: str, attempt: int) -> None:
            context.log.warning(f"{job.arch_hash}: {reason}; "
                                f"resubmitting (attempt {attempt + 1} of {MAX_JOB_RETRIES + 1})")

        # closing: an interruption here (the run terminated) reaches the batch, which stops its jobs
        with closing(run_batch(jobs, lambda job, stop: self.launch(context, job, stop),
                               concurrency=self.batch_concurrency, name=lambda job: job.arch_hash,
                               retry_reason=retry_reason, max_retries=MAX_JOB_RETRIES,
                               on_retry=on_retry)) as ends:
            for ended in ends:
                if ended.result is not None:
                    ended.result.extra["attempts"] = ended.attempts
                    yield ended.job, ended.result
                elif isinstance(ended.error, Failure):
                    yield ended.job, ended.error
                else:  # a bug or a broken file system for one job must not end the batch
                    yield ended.job, Failure(description=f"{ended.job.arch_hash}: launching failed: "
                                                         f"{type(ended.error).__name__}: {ended.error}",
                                             allow_retries=False)

    def command(self, job: TrainingJob) -> list[str]:
        accelerator, devices, nodes = self.topology()
        return [self.python, "-m", "nas_assets.train", *job.train_args,
                "--accelerator", accelerator, "--devices", str(devices), "--num-nodes", str(nodes)]

    @staticmethod
    def pipes_files(job: TrainingJob) -> tuple[PipesFileContextInjector, PollingFileMessageReader]:
        job.run_dir.mkdir(parents=True, exist_ok=True)
        return (PipesFileContextInjector(str(job.run_dir / "pipes_context.json")),
                PollingFileMessageReader(str(job.run_dir / "pipes_messages.jsonl")))


class LocalLauncher(TrainingLauncher):
    """A subprocess on this machine (CPU or local GPUs; DDP through Lightning when devices > 1)."""

    accelerator: str = Field(default="cpu", description="'cpu', 'gpu' or 'auto'.")
    devices: int = Field(default=1, description="Processes (GPUs) on this machine; > 1 runs DDP.")
    trainings_dir: Optional[str] = Field(
        default=None, description="Where the trainings running on this machine register, to divide its CPUs "
                                  "among them (None: one directory per user in the temporary directory).")

    def topology(self) -> tuple[str, int, int]:
        return self.accelerator, self.devices, 1

    def shared_trainings_dir(self) -> Path:
        """The tickets' directory handed to every training this launcher starts."""
        return Path(self.trainings_dir) if self.trainings_dir else default_trainings_dir()

    def launch(self, context: AssetExecutionContext, job: TrainingJob,
               stop: Optional[threading.Event] = None) -> LaunchReport:
        log_path = job.run_dir / "train.log"
        injector, reader = self.pipes_files(job)

        def check_stop() -> None:
            if stop is not None and stop.is_set():
                raise LaunchStopped(f"{job.arch_hash}: stopped, the run was interrupted")

        with open_pipes_session(context=context, context_injector=injector, message_reader=reader) as session:
            # a step subprocess (multiprocess executor) stops its trainer when the run's process is killed
            outcome = run_local(self.command(job), session.get_bootstrap_env_vars(), log_path,
                                on_poll=check_stop,
                                watch_parent=multiprocessing.parent_process() is not None,
                                trainings_dir=self.shared_trainings_dir())
        log_tail = tail(log_path, self.log_tail_lines)
        if outcome.returncode != 0:
            raise Failure(
                description=f"training process for {job.arch_hash} exited with code {outcome.returncode}\n"
                            f"--- last lines of {log_path} ---\n{log_tail}",
                metadata={"exit_code": outcome.returncode, "log_path": MetadataValue.path(str(log_path))},
                allow_retries=False,
            )
        return LaunchReport("local", "COMPLETED", outcome.elapsed_s, str(log_path), log_tail,
                            extra={"cpu_s": outcome.cpu_s})


class SlurmLauncher(TrainingLauncher):
    """An ``sbatch`` job per partition, tracked with ``scontrol``; every site knob is configuration."""

    account: Optional[str] = Field(default=None, description="--account (None: the site default).")
    partition: Optional[str] = Field(default=None, description="--partition (None: the default partition).")
    qos: Optional[str] = Field(default=None, description="--qos.")
    time_limit: Optional[str] = Field(default="04:00:00", description="--time, e.g. 04:00:00.")
    nodes: int = Field(default=1, description="--nodes = the Trainer's num_nodes.")
    tasks_per_node: int = Field(default=1, description="--ntasks-per-node = the Trainer's devices (one rank "
                                                       "per GPU).")
    gpus_per_node: int = Field(default=0, description="--gres=gpu:N; 0 trains on CPUs. Must equal "
                                                      "tasks_per_node when > 0.")
    cpus_per_task: Optional[int] = Field(default=None, description="--cpus-per-task.")
    mem: Optional[str] = Field(default=None, description="--mem, e.g. 64G.")
    extra_sbatch_args: list[str] = Field(default=[], description="More #SBATCH arguments, verbatim.")
    setup_lines: list[str] = Field(default=[], description="Shell lines before training: module loads, "
                                                           "venv/conda activation.")
    container_prefix: str = Field(default="", description="Command prefix, e.g. 'apptainer exec --nv "
                                                          "nas.sif'.")
    stage_to: Optional[str] = Field(
        default=None, description="Node-local directory to copy the data cache to once per node (e.g. "
                                  "/tmp/nas_cache)."
    )
    poll_interval_s: float = Field(default=2.0, description="Seconds between scontrol polls.")
    batch_concurrency: int = Field(
        default=1000, description="Jobs a run covering several partitions submits at once (the scheduler "
                                  "queues them)."
    )

    def resources(self) -> slurm.JobResources:
        return slurm.JobResources(
            account=self.account, partition=self.partition, qos=self.qos, time_limit=self.time_limit,
            nodes=self.nodes, tasks_per_node=self.tasks_per_node, gpus_per_node=self.gpus_per_node,
            cpus_per_task=self.cpus_per_task, mem=self.mem, extra_sbatch_args=tuple(self.extra_sbatch_args),
            setup_lines=tuple(self.setup_lines), container_prefix=self.container_prefix,
        )

    def topology(self) -> tuple[str, int, int]:
        return ("gpu" if self.gpus_per_node else "cpu"), self.tasks_per_node, self.nodes

    def command_for(self, job: TrainingJob) -> list[str]:
        cmd = self.command(job)
        if self.stage_to and job.stage_source:
            cmd = [*cmd, "--cache-dir", self.stage_to]
        return cmd

    def launch(self, context: AssetExecutionContext, job: TrainingJob,
               stop: Optional[threading.Event] = None) -> LaunchReport:
        resources = self.resources()
        try:
            resources.check()
        except ValueError as exc:
            raise Failure(description=f"SLURM launcher configuration: {exc}", allow_retries=False) from None
        stage = (slurm.StageData(job.stage_source, self.stage_to)
                 if (self.stage_to and job.stage_source) else None)
        request = JobRequest(job.arch_hash, job.run_key, job.run_dir, self.command_for(job), resources, stage)

        @contextmanager
        def session() -> Iterator[Mapping[str, str]]:
            injector, reader = self.pipes_files(job)
            with open_pipes_session(context=context, context_injector=injector,
                                    message_reader=reader) as pipes:
                yield pipes.get_bootstrap_env_vars()

        try:
            outcome = run_job(request, session, context.log, self.poll_interval_s, stop)
        except SubmitFailed as exc:
            raise Failure(description=str(exc), allow_retries=False) from None
        final, state = outcome.final, outcome.state
        log_tail = tail(outcome.log_path, self.log_tail_lines)
        report = LaunchReport("slurm", state, outcome.elapsed_s, str(outcome.log_path), log_tail,
                              job_id=outcome.job_id, node=final.node if final else None,
                              reattached=outcome.reattached,
                              extra={"exit_code": final.exit_code if final else ""})
        if state != "COMPLETED":
            raise Failure(
                description=f"SLURM job {outcome.job_id} for {job.arch_hash} ended {state} "
                            f"(exit code {report.extra['exit_code'] or '?'})\n"
                            f"--- last lines of {outcome.log_path} ---\n{log_tail}",
                metadata=report.metadata(),
                allow_retries=state in RETRYABLE_STATES,
            )
        return report
