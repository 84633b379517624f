"""Run events: the run loop emits, the store, the terminal and reports subscribe.

A subscriber that fails never stops the run (reverts must always happen): the
bus logs the failure, keeps it in ``errors`` and goes on.
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


class EventBus:
    def __init__(self, *, redact: Callable[[str], str] | None = None) -> None:
        # redact: the experiment's (Experiment.redact) -- values interpolated from
        # ${CHAOS_VAR_*} never reach a subscriber (store, terminal, webhooks, reports)
        self._redact = redact
        self._subscribers: list[Subscriber] = []
        self._lock = threading.Lock()
        self.errors: list[str] = []

    def subscribe(self, subscriber: Subscriber) -> None:
        self._subscribers.append(subscriber)

    def emit(
        self,
        kind: EventKind,
        *,
        run_id: str,
        phase: Phase | None,
        message: str = "",
        data: Mapping[str, Any] | None = None,
    ) -> Event:
        data = data or {}
        if self._redact is not None:
            message, data = self._redact(message), _redacted(data, self._redact)
        event = Event(kind, run_id, time.time(), phase, message, data)
        with self._lock:  # one event at a time, in order, whatever thread emits it
            for subscriber in self._subscribers:
                try:
                    subscriber(event)
                except Exception as exc:  # a broken subscriber must not stop a revert
                    log.exception("event subscriber %r failed on %s", subscriber, kind)
                    self.errors.append(f"{getattr(subscriber, '__name__', subscriber)}: {exc}")
        return event


def _redacted(value: Any, redact: Callable[[str], str]) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, Mapping):
        return {key: _redacted(item, redact) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_redacted(item, redact) for item in value]
    return value
