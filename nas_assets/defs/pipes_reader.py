"""A Pipes message reader that tails its file a few times a second instead of a hundred.

Dagster's ``PipesFileMessageReader`` tails the messages file in a thread that sleeps 10 ms between
reads (``dagster._utils.tail_file``, not configurable in 1.13). A batched SLURM run keeps one such
session per partition in flight -- 25 per run, four runs at the pool's limit: 10,000 wake-ups a
second that held a fifth of a core per run process on a 2-core machine (docs/orchestration.md).
A training reports a handful of messages in minutes, so polling every ``interval_s`` costs nothing
in latency. Everything else (file creation, the thread, clean-up) is Dagster's.
"""

from __future__ import annotations

import json
import sys
from threading import Event
from typing import TYPE_CHECKING

from dagster import PipesFileMessageReader

if TYPE_CHECKING:
    from dagster._core.pipes.context import PipesMessageHandler

#: Seconds between reads of a messages file that has nothing new.
POLL_INTERVAL_S = 0.5


class PollingFileMessageReader(PipesFileMessageReader):
    """``PipesFileMessageReader`` reading new lines every ``interval_s`` seconds (default
    :data:`POLL_INTERVAL_S`); once the session closes, whatever is left is read before it stops."""

    def __init__(self, path: str, interval_s: float = POLL_INTERVAL_S) -> None:
        super().__init__(path)
        self._interval_s = interval_s

    def _reader_thread(self, handler: PipesMessageHandler, is_resource_complete: Event) -> None:
        try:
            with open(self._path, encoding="utf-8") as messages:
                pending = ""
                while True:
                    pending += messages.readline()
                    if pending.endswith("\n"):
                        handler.handle_message(json.loads(pending))
                        pending = ""
                    elif is_resource_complete.is_set():
                        break
                    else:
                        # wakes at once when the session closes, to read what is left
                        is_resource_complete.wait(self._interval_s)
        except BaseException:
            handler.report_pipes_framework_exception(f"{type(self).__name__} reader thread", sys.exc_info())
            raise
