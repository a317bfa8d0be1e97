"""The Pipes message reader that polls its file twice a second (nas_assets.defs.pipes_reader)."""

from __future__ import annotations

import json
import threading
import time

import pytest

from nas_assets.defs.pipes_reader import PollingFileMessageReader


class Recorder:
    """Stands in for Dagster's PipesMessageHandler: keeps what the reader hands over."""

    def __init__(self) -> None:
        self.messages: list[dict] = []
        self.errors: list[object] = []

    def handle_message(self, message: dict) -> None:
        self.messages.append(message)

    def report_pipes_framework_exception(self, origin: str, exc_info: object) -> None:
        self.errors.append((origin, exc_info))


def test_every_line_arrives_in_order_even_when_written_in_pieces_and_close_is_prompt(tmp_path):
    path = tmp_path / "pipes_messages.jsonl"
    reader = PollingFileMessageReader(str(path), interval_s=0.3)
    handler = Recorder()
    lines = [json.dumps({"method": "log", "params": {"i": i}}) + "\n" for i in range(5)]
    with reader.read_messages(handler) as params:  # type: ignore[arg-type]
        assert params["path"] == str(path)

        def write() -> None:
            with open(path, "a", encoding="utf-8") as out:
                out.write(lines[0])
                out.flush()
                time.sleep(0.4)
                # a line the writer has only half written when the reader looks
                out.write(lines[1][:10])
                out.flush()
                time.sleep(0.4)
                out.write(lines[1][10:] + "".join(lines[2:]))

        writer = threading.Thread(target=write)
        writer.start()
        writer.join()
        closing = time.monotonic()
    # the session's end wakes the reader at once: it does not sleep out its interval
    assert time.monotonic() - closing < 0.25
    assert handler.errors == []
    assert [m["params"]["i"] for m in handler.messages] == [0, 1, 2, 3, 4]
    assert not path.exists()  # Dagster's clean-up still runs


# the reader thread re-raises after reporting, as Dagster's own does
@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_a_broken_line_is_reported_to_dagster(tmp_path):
    path = tmp_path / "pipes_messages.jsonl"
    reader = PollingFileMessageReader(str(path), interval_s=0.05)
    handler = Recorder()
    with reader.read_messages(handler):  # type: ignore[arg-type]
        path.write_text("not json\n")
        time.sleep(0.3)
    assert handler.errors and "PollingFileMessageReader reader thread" in handler.errors[0][0]
