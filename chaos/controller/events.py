"""Run events: the run loop emits, the store, the terminal and reports subscribe.

A subscriber that fails never stops the run (reverts must always happen): the
bus logs the failure, keeps it in ``errors`` and goes on.

A *recorder* (the run store) is different: a run it cannot record must not go on
as if it were, so its failure is handed to the bus's ``on_record_failure`` handler
(the run loop aborts and reverts) and the event still reaches every other
subscriber (a revert the store cannot take is still printed). Recorders get each
event first, so an event emitted with ``only_if_recorded`` (the verdict) reaches
nobody else when it could not be stored.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from chaos.steady.hypothesis import Phase

log = logging.getLogger(__name__)


class EventKind(StrEnum):
    RUN_STARTED = "run.started"
    PHASE_STARTED = "phase.started"
    PHASE_ENDED = "phase.ended"
    TARGETS_SELECTED = "targets.selected"
    FAULT_APPLIED = "fault.applied"
    FAULT_APPLY_FAILED = "fault.apply_failed"
    FAULT_REVERTED = "fault.reverted"
    FAULT_REVERT_FAILED = "fault.revert_failed"
    LEASE_LOST = "fault.lease_lost"  # the agent no longer holds the fault (it reverted it)
    SAMPLE = "probe.sample"
    LOAD_STARTED = "load.started"
    LOAD_WINDOW = "load.window"  # one second of load, merged across Locust processes
    LOAD_STOPPED = "load.stopped"
    SLI_POINT = "sli.point"
    STOP_CONDITION = "stop.tripped"
    ABORT_REQUESTED = "run.abort_requested"
    RECOVERY = "recovery.measured"
    VERDICT = "run.verdict"
    RUN_ENDED = "run.ended"
    ERROR = "run.error"


class RunStatus(StrEnum):
    RUNNING = "running"
    PASSED = "passed"
    FAILED = "failed"
    ABORTED = "aborted"
    ERROR = "error"
    INTERRUPTED = "interrupted"  # the process running it died; set when the store is next opened


@dataclass(frozen=True)
class Event:
    kind: EventKind
    run_id: str
    at: float
    phase: Phase | None
    message: str
    data: Mapping[str, Any] = field(default_factory=dict)


Subscriber = Callable[[Event], None]
# called under the bus's lock, from whichever thread emitted: it must only set flags
RecordFailure = Callable[[Event, str], None]


class EventBus:
    def __init__(self, *, redact: Callable[[str], str] | None = None) -> None:
        # redact: the experiment's (Experiment.redact) -- values interpolated from
        # ${CHAOS_VAR_*} never reach a subscriber (store, terminal, webhooks, reports)
        self._redact = redact
        self._recorders: list[Subscriber] = []
        self._subscribers: list[Subscriber] = []
        self._lock = threading.Lock()
        self._on_record_failure: RecordFailure | None = None
        self.errors: list[str] = []

    def subscribe(self, subscriber: Subscriber, *, recorder: bool = False) -> None:
        """Add a subscriber; ``recorder=True``: the run is not recorded if it fails."""
        (self._recorders if recorder else self._subscribers).append(subscriber)

    def on_record_failure(self, handler: RecordFailure) -> None:
        self._on_record_failure = handler

    def emit(
        self,
        kind: EventKind,
        *,
        run_id: str,
        phase: Phase | None,
        message: str = "",
        data: Mapping[str, Any] | None = None,
        only_if_recorded: bool = False,
    ) -> Event | None:
        """Deliver an event; None when ``only_if_recorded`` and a recorder failed on it
        (then no other subscriber saw it)."""
        data = data or {}
        if self._redact is not None:
            message, data = self._redact(message), _redacted(data, self._redact)
        event = Event(kind, run_id, time.time(), phase, message, data)
        with self._lock:  # one event at a time, in order, whatever thread emits it
            recorded = all([self._record(recorder, event) for recorder in self._recorders])
            if only_if_recorded and not recorded:
                return None
            for subscriber in self._subscribers:
                try:
                    subscriber(event)
                except Exception as exc:  # a broken subscriber must not stop a revert
                    log.exception("event subscriber %r failed on %s", subscriber, kind)
                    self.errors.append(f"{_name(subscriber)}: {exc}")
        return event

    def _record(self, recorder: Subscriber, event: Event) -> bool:
        try:
            recorder(event)
        except Exception as exc:  # never raised on: the run loop must get to its reverts
            reason = getattr(exc, "message", None) or repr(exc)
            if self._on_record_failure is None:
                log.error("recorder %s failed on %s: %s", _name(recorder), event.kind, reason)
                self.errors.append(f"{_name(recorder)}: {reason}")
            else:
                self._on_record_failure(event, reason)
            return False
        return True


def _name(subscriber: Subscriber) -> str:
    return str(getattr(subscriber, "__name__", subscriber))


def _redacted(value: Any, redact: Callable[[str], str]) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, Mapping):
        return {key: _redacted(item, redact) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_redacted(item, redact) for item in value]
    return value
