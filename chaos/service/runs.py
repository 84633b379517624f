"""Runs submitted to the controller service: validated, then run in a thread each by the
same engine as ``chaos run`` (through :mod:`chaos.runner.launch`).

The service keeps what a scrape needs about its own runs: faults active right now
(applied minus reverted, from each run's events) and how long aborts took (from the
abort request to the end of the revert phase). On shutdown every active run is
halted and the service waits for its reverts before it exits.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from chaos.controller.events import Event, EventKind
from chaos.errors import ChaosError, SpecError, SpecIssue
from chaos.faults import CATALOG
from chaos.runner.launch import PreparedRun, RunSettings, prepare_run, refuse_command_probes
from chaos.spec.loader import load_text
from chaos.spec.models import Experiment
from chaos.steady.hypothesis import Phase
from chaos.store.repository import RunStore

log = logging.getLogger(__name__)

ABORT_BUCKETS_S = (0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0)


@dataclass
class AbortLatency:
    """A Prometheus histogram of seconds from an abort request to every fault reverted."""

    counts: list[int] = field(default_factory=lambda: [0] * len(ABORT_BUCKETS_S))
    total: int = 0
    sum_s: float = 0.0

    def observe(self, seconds: float) -> None:
        self.total += 1
        self.sum_s += seconds
        for index, bound in enumerate(ABORT_BUCKETS_S):
            if seconds <= bound:
                self.counts[index] += 1


@dataclass
class _Active:
    prepared: PreparedRun
    thread: threading.Thread
    faults: int = 0
    abort_at: float | None = None
    started: threading.Event = field(default_factory=threading.Event)


def load_submitted(text: str, *, source: str) -> Experiment:
    """An experiment sent over the API: it must not read the controller's environment
    (``${VAR}`` would hand the caller any secret the service holds)."""
    try:
        # no variables at all: a submitted ${NAME} is a located error naming NAME
        return load_text(text, file=source, catalog=CATALOG, variables=None)
    except ChaosError:
        raise
    except Exception:  # a loader bug: the caller gets a refusal, the log the details
        log.exception("the loader failed on a submitted experiment (%s)", source)
        why = "the experiment could not be read (the controller's log has the details)"
        raise SpecError([SpecIssue(source, 1, 1, "", why)]) from None


class RunManager:
    def __init__(
        self,
        store: RunStore,
        settings: RunSettings,
        *,
        subscribers: Callable[[], Iterable[Callable[[Event], None]]] = lambda: (),
    ) -> None:
        self._store, self._settings, self._subscribers = store, settings, subscribers
        self._lock = threading.Lock()
        self._active: dict[str, _Active] = {}
        self.abort_latency = AbortLatency()

    def submit(self, text: str, *, source: str) -> str:
        """Validate (SpecError, exit 2 semantics, before anything starts) and start a run."""
        experiment = load_submitted(text, source=source)
        if not self._settings.command_probes:
            refuse_command_probes(experiment)
        prepared = prepare_run(
            experiment,
            source=source,
            store=self._store,
            settings=self._settings,
            subscribers=[*self._subscribers()],
        )
        prepared.bus.subscribe(self._watch)
        thread = threading.Thread(
            target=self._run, args=(prepared,), name=f"run-{prepared.run_id}", daemon=True
        )
        entry = _Active(prepared, thread)
        with self._lock:
            self._active[prepared.run_id] = entry
        thread.start()
        # the run's row is written by the store's subscriber before ours sees run.started:
        # once this returns, GET /v1/runs/<id> finds it
        entry.started.wait(timeout=10)
        log.info("run %s of %s started (%s)", prepared.run_id, experiment.metadata.name, source)
        return prepared.run_id

    def active_runs(self) -> list[str]:
        with self._lock:
            return list(self._active)

    def active_faults(self) -> int:
        with self._lock:
            return sum(max(0, active.faults) for active in self._active.values())

    def shutdown(self, timeout_s: float = 120.0) -> None:
        """Halt every active run and wait (bounded) for its reverts and verdict."""
        with self._lock:
            active = list(self._active.values())
        for entry in active:
            entry.prepared.engine.stop_now("controller service stopping")
        deadline = time.monotonic() + timeout_s
        for entry in active:
            entry.thread.join(max(0.0, deadline - time.monotonic()))

    def _run(self, prepared: PreparedRun) -> None:
        try:
            result = prepared.run()
            log.info("run %s ended: %s (exit %d)", prepared.run_id, result.status, result.exit_code)
        except Exception:  # the engine records its own errors; this is a bug, keep serving
            log.exception("run %s crashed", prepared.run_id)
        finally:
            with self._lock:
                self._active.pop(prepared.run_id, None)

    def _watch(self, event: Event) -> None:
        with self._lock:
            active = self._active.get(event.run_id)
            if active is None:
                return
            if event.kind is EventKind.RUN_STARTED:
                active.started.set()
            elif event.kind is EventKind.FAULT_APPLIED:
                active.faults += 1
            elif event.kind is EventKind.FAULT_REVERTED:
                active.faults -= 1
            elif event.kind is EventKind.ABORT_REQUESTED and active.abort_at is None:
                active.abort_at = float(event.data.get("requested_at", event.at))
            elif (
                event.kind is EventKind.PHASE_ENDED
                and event.phase is Phase.REVERT
                and active.abort_at is not None
            ):
                self.abort_latency.observe(max(0.0, event.at - active.abort_at))
                active.abort_at = None
