"""Progress lines for a local run, read from its MLMD store: each component's start and end, in pipeline order."""

from __future__ import annotations

import threading
import time
from typing import Callable, Dict, List, Sequence

from ml_metadata import errors as mlmd_errors
from ml_metadata.proto import metadata_store_pb2

_DONE = ("COMPLETE", "CACHED", "FAILED", "CANCELED")


def progress_lines(
    order: Sequence[str], reported: Dict[str, str], executions: Dict[str, metadata_store_pb2.Execution]
) -> List[str]:
    """Lines for what changed since ``reported`` (component id -> the state last reported, updated here).

    A component is reported once when MLMD shows it running and once when it is done, with its
    position in the pipeline and, when done, its own duration from MLMD's timestamps.
    """
    lines = []
    for position, name in enumerate(order, 1):
        execution = executions.get(name)
        if execution is None:
            continue
        state = metadata_store_pb2.Execution.State.Name(execution.last_known_state)
        if state == reported.get(name) or (state not in _DONE and name in reported):
            continue
        reported[name] = state
        where = f"({position}/{len(order)}) {name}"
        if state in _DONE:
            seconds = (execution.last_update_time_since_epoch - execution.create_time_since_epoch) / 1000
            lines.append(f"{where} {state.lower()} after {seconds:.1f}s")
        else:
            lines.append(f"{where} {state.lower()}")
    return lines


class ProgressWatcher(threading.Thread):
    """Polls a run's MLMD store while the runner works, and reports each component's start and end.

    ``executions_since(ms)`` returns each component's latest execution created since then (by id).
    """

    def __init__(
        self,
        executions_since: Callable[[int], Dict[str, metadata_store_pb2.Execution]],
        order: Sequence[str],
        report: Callable[[str], None],
        interval: float = 1.0,
    ):
        super().__init__(name="pipeline-progress", daemon=True)
        self.executions_since, self.order, self.report, self.interval = executions_since, order, report, interval
        self.since_ms = int(time.time() * 1000)
        self.started = time.monotonic()
        self.reported: Dict[str, str] = {}
        self.finished = threading.Event()

    def poll(self) -> None:
        try:
            executions = self.executions_since(self.since_ms)
        except mlmd_errors.StatusError:  # the store busy with a write: the next poll sees it
            return
        for line in progress_lines(self.order, self.reported, executions):
            self.report(f"[{time.monotonic() - self.started:7.1f}s] {line}")

    def run(self) -> None:
        while not self.finished.wait(self.interval):
            self.poll()

    def stop(self) -> None:
        self.finished.set()
        self.join()
        self.poll()  # what ended since the last poll
