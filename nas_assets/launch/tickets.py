"""A submitted job remembered on disk, so a restarted Dagster process re-attaches instead of resubmitting."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from nas_assets.core.files import atomic_write_json


@dataclass
class JobTicket:
    """What was submitted for one partition and run configuration.

    Attributes:
        arch_hash, run_key: the partition and the configuration it trains.
        job_id: the scheduler's id (not unique over time: ids restart with a wiped state, so
            re-attaching also checks ``job_name``).
        job_name: the name given at submission.
        log_path: the job's output file.
        submitted_at: UNIX time.
    """

    arch_hash: str
    run_key: str
    job_id: str
    job_name: str
    log_path: str
    submitted_at: float


def save_ticket(path: Path, ticket: JobTicket) -> None:
    atomic_write_json(path, asdict(ticket))


def load_ticket(path: Path) -> JobTicket | None:
    """The saved ticket, or None when absent or unreadable (then a fresh job is submitted)."""
    try:
        return JobTicket(**json.loads(path.read_text()))
    except (OSError, ValueError, TypeError):
        return None


def clear_ticket(path: Path) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        pass
