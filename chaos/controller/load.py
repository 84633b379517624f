"""The run's Locust load: started before the baseline, stopped after recovery.

Each second of load Locust reports is handed to the monitor, which returns the
SLI points it completes and any stop condition it trips. A trip is acted on
*before* anything is written (the abort wakes the run loop, which reverts every
fault at once); events for the store and the terminal follow. A Locust that
dies before the run is over fails the run (exit 4) and the run loop reverts.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from pathlib import Path

from chaos.controller.events import EventKind
from chaos.controller.monitor import SteadyStateMonitor, Tripped
from chaos.controller.records import window_data
from chaos.errors import LoadError
from chaos.load.process import LoadProcess
from chaos.load.stats import LoadWindow
from chaos.spec.models import Experiment
from chaos.steady.hypothesis import Phase
from chaos.steady.slis import SliPoint

Emit = Callable[..., None]


class RunLoad:
    def __init__(
        self,
        experiment: Experiment,
        *,
        monitor: SteadyStateMonitor,
        emit: Emit,
        emit_points: Callable[[list[SliPoint]], None],
        on_trip: Callable[[Tripped], None],
        on_failure: Callable[[LoadError], None],
        experiment_dir: Path,
        workdir: Path,
        raw_log_dir: Path | None = None,
    ) -> None:
        assert experiment.spec.load is not None
        self._spec = experiment.spec.load
        self._monitor, self._emit, self._emit_points = monitor, emit, emit_points
        self._on_trip, self._on_failure = on_trip, on_failure
        self._stopping = threading.Event()
        self._started = False
        self._process = LoadProcess(
            self._spec,
            experiment_dir=experiment_dir,
            workdir=workdir,
            on_window=self._on_window,
            on_failure=self._failed,
            raw_log_dir=raw_log_dir,
        )

    def start(self) -> None:
        """Start Locust and wait until every user runs; LoadError (exit 4) otherwise."""
        self._started = True  # from here on stop() has something to stop, even on failure
        ready = self._process.start()
        self._emit(
            EventKind.LOAD_STARTED,
            f"load: {ready.users} users on {self._spec.host}"
            + (f" across {ready.workers} workers" if ready.workers else ""),
            data={
                "users": ready.users,
                "workers": ready.workers,
                "host": self._spec.host,
                "pids": self._process.pids,
            },
        )

    def stop(self) -> None:
        if self._stopping.is_set():
            return
        self._stopping.set()
        if not self._started:
            return
        self._process.stop()
        self._emit(EventKind.LOAD_STOPPED, "load stopped", data={})

    # ------------------------------------------------------------ from the reader thread

    def _on_window(self, window: LoadWindow) -> None:
        try:
            record = self._monitor.record_load(window)
        except Exception as exc:  # unjudged load means unwatched stop conditions: stop the run
            self._on_failure(LoadError(f"could not judge second {window.second} of load: {exc!r}"))
            return
        if record.tripped is not None:
            self._on_trip(record.tripped)  # first: reverting must not wait for the store
        self._emit(
            EventKind.LOAD_WINDOW,
            _describe(record.window),
            phase=record.phase or Phase.PREFLIGHT,
            data=window_data(record.window),
        )
        self._emit_points(record.points)

    def _failed(self, reason: str) -> None:
        if not self._stopping.is_set():
            self._on_failure(LoadError(f"load generator failed: {reason}"))


def _describe(window: LoadWindow) -> str:
    ratio = window.failures / window.requests if window.requests else math.nan
    return f"requests={window.requests} errors={ratio:.1%}"
