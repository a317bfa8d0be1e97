"""Where training runs: one interface, a local-process and a SLURM implementation.

The ``trained_architecture`` asset only sees :class:`TrainingLauncher`. Both implementations
run ``python -m nas_assets.train`` and stream its progress into the Dagster run through Dagster
Pipes (context and messages as files in the partition's run directory -- on the shared file
system for SLURM; only global rank 0 reports).
"""

import multiprocessing
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Union

from dagster import (
    AssetExecutionContext,
    ConfigurableResource,
    Failure,
    MetadataValue,
    PipesFileContextInjector,
    PipesFileMessageReader,
    open_pipes_session,
)
from pydantic import Field

from nas_assets.launch import slurm
from nas_assets.launch.local import run_local, tail
from nas_assets.launch.tickets import JobTicket, clear_ticket, load_ticket, save_ticket
from nas_assets.train.cpu_share import default_trainings_dir

#: End states worth a retry: the job, not the code, failed. The resubmitted job resumes from
#: the last checkpoint.
RETRYABLE_STATES = {"TIMEOUT", "PREEMPTED", "NODE_FAIL", "BOOT_FAIL"}
#: Resubmissions of one partition's job after such a failure (as the job's RetryPolicy does for a run
#: of one partition): a batched run retries each partition on its own.
MAX_JOB_RETRIES = 2


class LaunchStopped(RuntimeError):
    """The batched run was interrupted: this job was stopped (cancelled) with it."""


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
        stop = threading.Event()
        workers = max(1, min(self.batch_concurrency, len(jobs)))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="launch") as pool:
            futures = {pool.submit(self._launch_retrying, context, job, stop): job for job in jobs}
            try:
                for future in as_completed(futures):
                    yield futures[future], future.result()
            except BaseException:
                stop.set()
                for future in futures:
                    future.cancel()
                raise

    def _launch_retrying(self, context: AssetExecutionContext, job: TrainingJob,
                         stop: threading.Event) -> Union[LaunchReport, Failure]:
        attempt = 0
        while True:
            attempt += 1
            if stop.is_set():
                raise LaunchStopped(f"{job.arch_hash}: not started, the run was interrupted")
            try:
                report = self.launch(context, job, stop)
                report.extra["attempts"] = attempt
                return report
            except Failure as failure:
                if failure.allow_retries and attempt <= MAX_JOB_RETRIES and not stop.is_set():
                    reason = (failure.description or "failed").splitlines()[0]
                    context.log.warning(f"{job.arch_hash}: {reason}; "
                                        f"resubmitting (attempt {attempt + 1} of {MAX_JOB_RETRIES + 1})")
                    continue
                return failure
            except LaunchStopped:
                raise
            except Exception as exc:  # a bug or a broken file system for one job must not end the batch
                return Failure(description=f"{job.arch_hash}: launching failed: {type(exc).__name__}: {exc}",
                               allow_retries=False)

    def command(self, job: TrainingJob) -> list[str]:
        accelerator, devices, nodes = self.topology()
        return [self.python, "-m", "nas_assets.train", *job.train_args,
                "--accelerator", accelerator, "--devices", str(devices), "--num-nodes", str(nodes)]

    @staticmethod
    def pipes_files(job: TrainingJob) -> tuple[PipesFileContextInjector, PipesFileMessageReader]:
        job.run_dir.mkdir(parents=True, exist_ok=True)
        return (PipesFileContextInjector(str(job.run_dir / "pipes_context.json")),
                PipesFileMessageReader(str(job.run_dir / "pipes_messages.jsonl")))


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
        job.run_dir.mkdir(parents=True, exist_ok=True)
        ticket_path = job.run_dir / "job.json"
        job_name = f"nas-{job.arch_hash[:12]}"
        ticket = load_ticket(ticket_path)
        info = self._reattachable(ticket, job, job_name)
        started = time.monotonic()
        job_id = None
        try:
            if info is not None:
                assert ticket is not None  # _reattachable returns None when there is no ticket
                context.log.info(f"re-attaching to SLURM job {ticket.job_id} ({info.state}) instead of "
                                 "resubmitting")
                job_id, log_path, reattached = ticket.job_id, Path(ticket.log_path), True
                self._wait(context, job_id, stop)
            else:
                log_path = job.run_dir / "slurm-%j.log"
                stage = (slurm.StageData(job.stage_source, self.stage_to)
                         if (self.stage_to and job.stage_source) else None)
                script = job.run_dir / "job.sbatch"
                script.write_text(slurm.render_script(job_name, self.command_for(job), log_path, resources,
                                                      stage))
                injector, reader = self.pipes_files(job)
                with open_pipes_session(context=context, context_injector=injector,
                                        message_reader=reader) as session:
                    try:
                        job_id = slurm.submit(script, env=session.get_bootstrap_env_vars())
                    except slurm.SlurmError as exc:
                        raise Failure(description=str(exc), allow_retries=False) from None
                    try:
                        log_path = Path(str(log_path).replace("%j", job_id))
                        save_ticket(ticket_path, JobTicket(job.arch_hash, job.run_key, job_id, job_name,
                                                           str(log_path), time.time()))
                        context.log.info(f"submitted SLURM job {job_id} ({job_name}); log {log_path}")
                        reattached = False
                        self._wait(context, job_id, stop)
                    except Failure:
                        raise
                    except BaseException:
                        # cancel while the Pipes files still exist: leaving the session deletes
                        # them, and a job starting in that gap would fail on the missing context
                        # file (ending FAILED) instead of being cancelled
                        self._cancel(context, job_id, ticket_path)
                        job_id = None
                        raise
        except Failure:
            raise
        except BaseException:
            # the run was terminated (or the step crashed) while re-attached: do not leave the job behind
            if job_id is not None:
                self._cancel(context, job_id, ticket_path)
            raise
        final = slurm.job_info(job_id)
        clear_ticket(ticket_path)
        log_tail = tail(log_path, self.log_tail_lines)
        state = final.state if final else "UNKNOWN"
        report = LaunchReport("slurm", state, time.monotonic() - started, str(log_path), log_tail,
                              job_id=job_id,
                              node=final.node if final else None, reattached=reattached,
                              extra={"exit_code": final.exit_code if final else ""})
        if state != "COMPLETED":
            raise Failure(
                description=f"SLURM job {job_id} for {job.arch_hash} ended {state} "
                            f"(exit code {report.extra['exit_code'] or '?'})\n--- last lines of {log_path} "
                            f"---\n{log_tail}",
                metadata=report.metadata(),
                allow_retries=state in RETRYABLE_STATES,
            )
        return report

    @staticmethod
    def _cancel(context: AssetExecutionContext, job_id: str, ticket_path: Path) -> None:
        slurm.cancel(job_id)
        clear_ticket(ticket_path)
        context.log.warning(f"cancelled SLURM job {job_id}")

    def _reattachable(self, ticket: Optional[JobTicket], job: TrainingJob,
                      job_name: str) -> Optional[slurm.JobInfo]:
        """The still-queued or running job of a previous step for this partition, if any."""
        if ticket is None or ticket.arch_hash != job.arch_hash or ticket.run_key != job.run_key:
            return None
        info = slurm.job_info(ticket.job_id)
        # job ids restart when a cluster's state is wiped: the name must match too
        if info is None or info.terminal or info.raw.get("JobName") != job_name:
            return None
        return info

    def _wait(self, context: AssetExecutionContext, job_id: str,
              stop: Optional[threading.Event] = None) -> None:
        """Poll until the job ends (the caller cancels it if this is interrupted or ``stop`` is set).

        In a batched run (``stop`` given) the jobs of all partitions share one ``squeue`` call per
        poll; ``scontrol`` confirms the end state of each."""
        last_state = None
        try:
            while True:
                if stop is not None and stop.is_set():
                    raise LaunchStopped(f"SLURM job {job_id}: the run was interrupted")
                queued = _QUEUE.state(job_id) if stop is not None else None
                if queued is not None and queued[0] not in slurm.TERMINAL_STATES:
                    state, node = queued
                    terminal = False
                else:
                    info = slurm.job_info(job_id)
                    state, node = (info.state, info.node) if info else ("UNKNOWN", "")
                    terminal = info is not None and info.terminal
                if state != last_state:
                    context.log.info(f"SLURM job {job_id}: {state}" + (f" on {node}" if node else ""))
                    last_state = state
                if terminal:
                    return
                if stop is not None:
                    stop.wait(self.poll_interval_s)
                else:
                    time.sleep(self.poll_interval_s)
        finally:
            _QUEUE.forget(job_id)


#: One ``squeue`` per poll for the jobs of every batched run in this process.
_QUEUE = slurm.SharedQueue()
