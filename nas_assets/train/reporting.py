"""Progress messages of a training process: stdout always, Dagster Pipes when launched by Dagster.

``dagster-pipes`` is the small protocol package meant for external processes (no Dagster
runtime); it is imported only when the launcher set ``DAGSTER_PIPES_CONTEXT``, and only global
rank 0 reports, so DDP ranks do not repeat every line.
"""

from __future__ import annotations

import os
from contextlib import AbstractContextManager, nullcontext
from types import TracebackType
from typing import Any

_RANK_VARIABLES = ("SLURM_PROCID", "RANK", "LOCAL_RANK", "NODE_RANK")


def is_global_rank_zero() -> bool:
    """True unless the environment says this process is another DDP rank (SLURM or Lightning)."""
    return all(int(os.environ.get(name, "0") or 0) == 0 for name in _RANK_VARIABLES)


class Reporter:
    """Prints lines and, when connected, forwards them (and the result path) through Pipes."""

    def __init__(self) -> None:
        self._pipes: Any = None
        self._cm: AbstractContextManager = nullcontext()

    def __enter__(self) -> "Reporter":
        if "DAGSTER_PIPES_CONTEXT" in os.environ and is_global_rank_zero():
            from dagster_pipes import open_dagster_pipes

            self._cm = open_dagster_pipes()
            self._pipes = self._cm.__enter__()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None,
    ) -> None:
        self._cm.__exit__(exc_type, exc, tb)
        self._pipes = None

    def info(self, line: str) -> None:
        print(line, flush=True)
        if self._pipes is not None:
            self._pipes.log.info(line)

    def result(self, path: str, summary: dict) -> None:
        if self._pipes is not None:
            self._pipes.report_custom_message({"result_path": path, **summary})


#: the process-wide reporter (the progress callback and the CLI share it)
REPORTER = Reporter()
