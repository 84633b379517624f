"""What stops a run: operator halts, stop conditions, failures; and the flags the run
loop waits on.

Observations arrive from the sampler's thread, seconds of load from the Locust
reader's; the guard records each with the monitor and emits its events. Ordering
matters:

- a stop condition sets the abort flag *before* any event is emitted, so the run
  loop starts reverting without waiting for the store;
- a second operator halt cuts the recovery measurement short;
- a failure outside the run loop (Locust died) is recorded once, cuts the recovery
  measurement and aborts;
- a store that cannot record the run, or a fault its agent dropped before its time,
  aborts at once and cuts the recovery measurement: the run ends exit 4 whatever the
  SLIs said, since it either was not recorded or did not test what it says.

``request_abort`` is safe to call from a signal handler or another thread: it only
sets flags.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from chaos.controller.events import EventKind
from chaos.controller.executor import AppliedFault
from chaos.controller.ledger import describe, dropped_reason, fault_data
from chaos.controller.monitor import SteadyStateMonitor, Tripped
from chaos.controller.records import sample_data
from chaos.controller.verdict import AbortKind
from chaos.errors import ChaosError
from chaos.spec.steady import SliSpec
from chaos.steady import slis
from chaos.steady.hypothesis import Observation, Phase

Emit = Callable[..., None]


class RunGuard:
    def __init__(
        self, *, monitor: SteadyStateMonitor, sli_specs: Sequence[SliSpec], emit: Emit
    ) -> None:
        self.abort = threading.Event()  # the run loop wakes on it and reverts
        self.cut_recovery = threading.Event()  # a second halt, or an error: stop measuring
        self.abort_kind: AbortKind | None = None
        self.abort_reason = ""
        self.abort_at: float | None = None  # wall time of the first abort request
        self.error: ChaosError | None = None
        self.store_failure: str | None = None  # why the run could not be recorded
        self.dropped: list[str] = []  # faults an agent dropped before their duration ended
        self._monitor, self._emit = monitor, emit
        self._slis_by_name = {sli.name: sli for sli in sli_specs}
        self._lock = threading.Lock()

    def request_abort(self, reason: str, kind: AbortKind = AbortKind.OPERATOR) -> bool:
        """Abort the run; True if this is the first abort (its reason is the run's)."""
        with self._lock:
            first = self.abort_kind is None
            if first:
                self.abort_kind, self.abort_reason = kind, reason
                self.abort_at = time.time()
            elif kind is AbortKind.OPERATOR:
                self.cut_recovery.set()
        self.abort.set()
        return first

    def store_failed(self, reason: str) -> None:
        """The store cannot record the run (or read its halts): revert at once, exit 4.
        Called under the event bus's lock, from any thread: flags only, no event."""
        with self._lock:
            if self.store_failure is None:
                self.store_failure = reason
        self.cut_recovery.set()
        self.abort.set()

    def lease_lost(self, applied: AppliedFault, why: str | None) -> None:
        """An agent no longer holds ``applied`` (it reverted it: lease expired, agent
        restarted), or its lease ran out unrenewed (``why``). A reversible fault not held
        for its duration means the experiment did not test what it says: revert the rest
        at once, exit 4. From the lease keeper's thread."""
        reason = dropped_reason(applied, held_s=time.time() - applied.applied_at, why=why)
        data = fault_data(applied.planned)
        if reason is None:  # irreversible: it did all it does when applied
            message = f"{describe(applied.planned)}: the agent no longer holds it"
            self._emit(EventKind.LEASE_LOST, message, data=data)
            return
        with self._lock:
            self.dropped.append(reason)
        self.cut_recovery.set()
        self.abort.set()
        self._emit(EventKind.LEASE_LOST, reason, data=data)

    def raised(self, error: ChaosError) -> None:
        """The run loop raised: the run ends in this error."""
        self.error = error
        data = {"error": type(error).__name__, **error.context()}
        self._emit(EventKind.ERROR, str(error), data=data)

    def fail(self, error: ChaosError) -> None:
        """A failure outside the run loop (Locust died): record it and stop the run."""
        with self._lock:
            if self.error is not None:
                return
            self.error = error
        self.cut_recovery.set()
        self.abort.set()
        self._emit(EventKind.ERROR, str(error), data={"error": type(error).__name__})

    # ------------------------------------------ from the sampler's and Locust reader's threads

    def on_observation(self, observation: Observation) -> None:
        sample = observation.sample
        recorded = self._monitor.record(observation)
        if recorded.tripped is not None:
            self.trip(recorded.tripped)
        self._emit(
            EventKind.SAMPLE,
            sample.error or "ok",
            phase=observation.phase,
            data=sample_data(observation),
        )
        self.emit_points(recorded.points)

    def emit_points(self, points: list[slis.SliPoint]) -> None:
        for point in points:
            self._emit(
                EventKind.SLI_POINT,
                f"{point.sli} = {point.value:g}",
                phase=point.phase,
                data=self._monitor.point_event(point),
            )

    def trip(self, tripped: Tripped) -> None:
        """A stop condition tripped: abort first (the run loop reverts at once), then tell."""
        if self.abort.is_set():
            return
        reason, data = stop_condition_event(tripped, self._slis_by_name)
        if not self.request_abort(reason, AbortKind.STOP_CONDITION):
            return  # another thread's condition (or a halt) got there first
        self._emit(EventKind.STOP_CONDITION, reason, phase=Phase.INJECT, data=data)


def stop_condition_event(
    tripped: Tripped, slis_by_name: Mapping[str, SliSpec]
) -> tuple[str, dict[str, Any]]:
    """The reason a tripped stop condition gives, and its event's data."""
    point, sample = tripped.point, tripped.sample
    if point is not None:
        sli = slis_by_name[point.sli]
        seen = slis.format_value(point.value, slis.source_of(sli))
        at, value = point.at, point.value
    else:
        assert sample is not None
        seen, at, value = sample.error or "failed", sample.started_at, None
    condition = tripped.condition
    data = {
        "probe": condition.probe,
        "sli": condition.sli,
        "for_s": condition.for_,
        "value": value,
        "at": at,
    }
    return f"stop condition tripped: {tripped.description} ({seen})", data
