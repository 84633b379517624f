"""What one firing does, and how every outcome is recorded.

In order: the schedule still exists and is not paused; this controller still leads; the
slot is outside every blackout window; the file is read and validated again (a file
that no longer validates fails this firing with its located errors, the schedule stays);
the targets are claimed (refused or queued while they overlap a run in progress); then
the run goes through ``prepare_run(...).run()``, the same path as ``chaos run``, and its
id and verdict are recorded with the firing.

Firings that never reached this point are recorded too: before each firing's first row,
the trigger's fire times since the schedule's previous recorded firing are counted, and
any the scheduler never got to (controller down, no leader, coalesced by APScheduler
after a pause in service) are recorded as one "missed" row with their count.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from chaos.controller.events import Event
from chaos.errors import ChaosError, SpecError
from chaos.faults import CATALOG
from chaos.runner.launch import PreparedRun, RunSettings, prepare_run
from chaos.schedule.blackout import Blackout, blackout_at, parse_blackout
from chaos.schedule.guard import RunGuard
from chaos.schedule.overlap import reaches
from chaos.schedule.triggers import build_trigger, fire_times_between
from chaos.spec.files import read_user_file
from chaos.spec.loader import decode, load_text
from chaos.spec.models import Experiment
from chaos.store.repository import RunStore
from chaos.store.schedules import (
    FiringOutcome,
    SchedulePolicy,
    ScheduleRecord,
    ScheduleStore,
)

log = logging.getLogger(__name__)

GAP_LIMIT = 1000  # fire times counted per gap; a longer gap is recorded as "at least"


@dataclass
class FiringContext:
    """What every firing of one scheduler shares."""

    store: RunStore
    schedules: ScheduleStore
    settings: RunSettings
    guard: RunGuard
    leads: Callable[[], bool]
    identity: str
    queue_wait_s: float
    stopping: threading.Event
    subscribers: Iterable[Callable[[Event], None]] = ()
    in_flight: dict[str, PreparedRun] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)


class Firing:
    def __init__(self, context: FiringContext, name: str, scheduled: datetime) -> None:
        self.ctx, self.name, self.scheduled = context, name, scheduled
        self.firing_id: int | None = None
        self.queued: str | None = None  # how long it waited behind which run (policy queue)

    # ------------------------------------------------------------ recording

    def record(
        self,
        outcome: FiringOutcome,
        detail: str = "",
        *,
        run_id: str | None = None,
        file_hash: str | None = None,
    ) -> None:
        """Record this firing's (first or next) outcome; the first also accounts the gap."""
        if self.firing_id is not None:
            self.ctx.schedules.update(
                self.firing_id, outcome=outcome, detail=detail, run_id=run_id, file_hash=file_hash
            )
            return
        with self.ctx.lock:
            definition = self.ctx.schedules.get(self.name)
            if definition is not None:
                self._record_gap(definition)
            self.firing_id = self.ctx.schedules.record(
                self.name,
                scheduled_at=self.scheduled.timestamp(),
                outcome=outcome,
                detail=detail,
                run_id=run_id,
                file_hash=file_hash,
                controller=self.ctx.identity,
            )

    def _record_gap(self, definition: ScheduleRecord) -> None:
        previous = self.ctx.schedules.last_scheduled_at(self.name)
        since = max(previous or 0.0, definition.active_since)
        trigger = build_trigger(
            definition.trigger, timezone=definition.timezone, start=definition.active_since
        )
        start = datetime.fromtimestamp(since, tz=UTC)
        times = fire_times_between(trigger, start, self.scheduled, limit=GAP_LIMIT)
        if not times:
            return
        many = "at least " if len(times) == GAP_LIMIT else ""
        self.ctx.schedules.record(
            self.name,
            scheduled_at=times[0].timestamp(),
            outcome=FiringOutcome.MISSED,
            detail=f"{many}{len(times)} firing(s) from {_iso(times[0])} to {_iso(times[-1])} "
            "never ran: no controller was leading (stopped, starting, or between leaders)",
            count=len(times),
            controller=self.ctx.identity,
        )

    # ------------------------------------------------------------ deciding

    def fire(self) -> None:
        definition = self._due()
        if definition is None:
            return
        blackouts = tuple(
            parse_blackout(b, timezone=definition.timezone) for b in definition.blackouts
        )
        reason = blackout_at(blackouts, self.scheduled)
        if reason is not None:
            self.record(FiringOutcome.SKIPPED, reason)
            return
        loaded = self._load(definition)
        if loaded is None:
            return
        experiment, file_hash = loaded
        run_id = uuid.uuid4().hex[:12]
        if not self._claim(definition, experiment, run_id, file_hash):
            return
        try:
            if self.queued and not self._still_due(blackouts):
                return
            changed = "" if file_hash == definition.file_hash else "the file changed since added"
            note = " · ".join(part for part in (self.queued, changed) if part)
            self.record(FiringOutcome.RUNNING, note, run_id=run_id, file_hash=file_hash)
            self._run(experiment, definition, run_id, note)
        finally:
            self.ctx.guard.release(run_id)

    def _still_due(self, blackouts: tuple[Blackout, ...]) -> bool:
        """After a queued wait: not inside a blackout now, and still leading."""
        reason = blackout_at(blackouts, datetime.now(UTC))
        if reason is not None:
            self.record(FiringOutcome.SKIPPED, f"{reason} (opened while queued)")
            return False
        if not self.ctx.leads():
            self.record(FiringOutcome.MISSED, "this controller stopped leading while queued")
            return False
        return True

    def _due(self) -> ScheduleRecord | None:
        """The schedule, if this firing should go ahead at all (else recorded why not)."""
        definition = self.ctx.schedules.get(self.name)
        if definition is None:
            log.info("schedule %s was removed before its firing at %s", self.name, self.scheduled)
        elif definition.paused:
            self.record(FiringOutcome.SKIPPED, "the schedule is paused")
        elif self.ctx.stopping.is_set():
            self.record(FiringOutcome.MISSED, "the controller was stopping")
        elif not self.ctx.leads():
            self.record(FiringOutcome.MISSED, "this controller stopped leading before it fired")
        else:
            return definition
        return None

    def _load(self, definition: ScheduleRecord) -> tuple[Experiment, str] | None:
        try:
            raw = read_user_file(definition.file)
            text = decode(raw, file=definition.file)
            experiment = load_text(text, file=definition.file, catalog=CATALOG, variables={})
        except SpecError as exc:
            self.record(FiringOutcome.FAILED, "\n".join(str(issue) for issue in exc.issues))
            return None
        return experiment, hashlib.sha256(raw).hexdigest()

    def _claim(
        self, definition: ScheduleRecord, experiment: Experiment, run_id: str, file_hash: str
    ) -> bool:
        reach = reaches(experiment.spec.targets.values(), lab=self.ctx.settings.scope.lab_id)
        name = experiment.metadata.name
        conflict = self.ctx.guard.claim(run_id, experiment=name, reach=reach)
        if conflict is None:
            return True
        if definition.policy is SchedulePolicy.SKIP:
            self.record(FiringOutcome.REFUSED, conflict.describe(), file_hash=file_hash)
            return False
        wait, began = self.ctx.queue_wait_s, time.monotonic()
        self.record(
            FiringOutcome.QUEUED,
            f"waiting up to {wait:g}s: {conflict.describe()}",
            file_hash=file_hash,
        )
        blocker = conflict.run_id
        conflict = self.ctx.guard.claim(
            run_id, experiment=name, reach=reach, wait_s=wait, stop=self.ctx.stopping
        )
        if conflict is not None:
            stopping = self.ctx.stopping.is_set()
            why = "the controller is stopping" if stopping else f"still overlapping after {wait:g}s"
            self.record(FiringOutcome.REFUSED, f"{why}: {conflict.describe()}")
            return False
        self.queued = f"waited {time.monotonic() - began:.1f}s for run {blocker}"
        return True

    def _run(
        self, experiment: Experiment, definition: ScheduleRecord, run_id: str, note: str
    ) -> None:
        ctx = self.ctx
        try:
            prepared = prepare_run(
                experiment,
                source=definition.file,
                store=ctx.store,
                settings=ctx.settings,
                subscribers=ctx.subscribers,
                run_id=run_id,
            )
        except ChaosError as exc:
            self.record(FiringOutcome.FAILED, f"could not start the run: {exc}", run_id=run_id)
            return
        ctx.in_flight[run_id] = prepared
        try:
            if ctx.stopping.is_set():  # stop() began while this run was being prepared
                prepared.engine.stop_now("the controller is stopping")
            result = prepared.run()
        except Exception as exc:  # the engine records its own errors; this is a bug: say so
            log.exception("scheduled run %s of %s raised", run_id, self.name)
            self.record(FiringOutcome.FAILED, f"the run raised: {exc!r}", run_id=run_id)
            return
        finally:
            ctx.in_flight.pop(run_id, None)
        reasons = "; ".join(result.reasons)
        detail = " · ".join(part for part in (result.status.value, reasons, note) if part)
        if self.firing_id is not None:
            ctx.schedules.update(
                self.firing_id,
                outcome=FiringOutcome.RAN,
                detail=detail,
                exit_code=int(result.exit_code),
            )


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
