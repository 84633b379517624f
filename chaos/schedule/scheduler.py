"""The scheduler the controller service runs: APScheduler, with its job store in the runs
database, firing only while this controller leads.

- **The schedule table is the source of truth**; APScheduler's job table mirrors it.
  The CLI (``chaos schedule add|pause|resume|remove``) and the service's API write
  ``schedules`` only; every poll (1 s) the leader re-syncs its jobs from it (a changed
  ``updated_at`` re-creates the job, a paused or removed schedule loses it). APScheduler 3
  does not watch its store, and a CLI writing jobs through a second APScheduler instance
  would race the leader, which rewrites a job's whole row after every firing.
- **The job table keeps each schedule's next fire time** across restarts and failovers:
  a new leader finds the times that passed while nobody led. ``coalesce=True`` runs one
  firing for them, not a burst of chaos runs; the ones folded away are recorded as
  missed (``chaos.schedule.firing``), and the remaining one runs if it is at most
  ``misfire_grace_s`` (60 s) late, else it is recorded as missed too.
- ``max_instances=2``: one firing of a schedule running and one queued behind it; a third
  is recorded as refused.
- Leadership (``chaos.schedule.leader``) is checked every poll and before each firing;
  a follower keeps APScheduler paused.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

from apscheduler.events import EVENT_JOB_MAX_INSTANCES, EVENT_JOB_MISSED
from apscheduler.jobstores.base import JobLookupError
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler

from chaos.controller.events import Event
from chaos.runner.launch import RunSettings
from chaos.schedule.executor import FiringExecutor, scheduled_firing
from chaos.schedule.firing import Firing, FiringContext
from chaos.schedule.guard import RunGuard
from chaos.schedule.leader import Leadership, leadership_for
from chaos.schedule.triggers import build_trigger
from chaos.store.repository import RunStore
from chaos.store.schedules import JOB_TABLE, FiringOutcome, ScheduleStore

log = logging.getLogger(__name__)

POLL_S = 1.0
MISFIRE_GRACE_S = 60
QUEUE_WAIT_S = 600.0
WORKERS = 8


class _SharedEngineJobStore(SQLAlchemyJobStore):
    """APScheduler's SQLAlchemy job store on the run store's engine, which it must not
    dispose of when the scheduler stops: the engine belongs to the run store."""

    def shutdown(self) -> None:
        pass


class Scheduler:
    def __init__(
        self,
        store: RunStore,
        settings: RunSettings,
        *,
        subscribers: Iterable[Callable[[Event], None]] = (),
        misfire_grace_s: int = MISFIRE_GRACE_S,
        queue_wait_s: float = QUEUE_WAIT_S,
        workers: int = WORKERS,
        poll_s: float = POLL_S,
        identity: str | None = None,
        leadership: Leadership | None = None,
    ) -> None:
        self.store = store
        self.schedules = ScheduleStore(store)
        self.identity = identity or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self._grace_s = misfire_grace_s
        self._workers = workers
        self._poll_s = poll_s
        self._leadership = leadership or leadership_for(store)
        self._leading = False
        self._transition = threading.Lock()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._aps: BackgroundScheduler | None = None
        self._ctx = FiringContext(
            store=store,
            schedules=self.schedules,
            settings=settings,
            guard=RunGuard(self.schedules),
            leads=self._confirm,
            identity=self.identity,
            queue_wait_s=queue_wait_s,
            stopping=self._stopping,
            subscribers=tuple(subscribers),
        )

    @property
    def is_leader(self) -> bool:
        return self._leading

    def in_flight(self) -> list[str]:
        """Ids of the scheduled runs this controller is running now."""
        return list(self._ctx.in_flight)

    # ------------------------------------------------------------ lifecycle

    def start(self) -> None:
        aps = BackgroundScheduler(
            jobstores={
                "default": _SharedEngineJobStore(engine=self.store.engine, tablename=JOB_TABLE)
            },
            executors={"default": FiringExecutor(self._fire, workers=self._workers)},
            job_defaults={
                "coalesce": True,
                "misfire_grace_time": self._grace_s,
                "max_instances": 2,
            },
            timezone=UTC,
        )
        aps.add_listener(self._on_event, EVENT_JOB_MISSED | EVENT_JOB_MAX_INSTANCES)
        aps.start(paused=True)
        self._aps = aps
        self._tick()  # lead at once when nobody else does
        self._thread = threading.Thread(target=self._loop, name="schedule-control", daemon=True)
        self._thread.start()

    def stop(self, *, timeout_s: float = 60.0) -> None:
        """Stop firing, halt the scheduled runs in flight (each reverts its faults, exit 3),
        wait up to ``timeout_s`` for them to end, and give up leadership."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=self._poll_s + 10)
        if self._aps is not None:
            with contextlib.suppress(Exception):
                self._aps.pause()
        for prepared in list(self._ctx.in_flight.values()):
            prepared.engine.stop_now("the controller is stopping")
        deadline = time.monotonic() + timeout_s
        while self._ctx.in_flight and time.monotonic() < deadline:
            time.sleep(0.1)
        if self._aps is not None:
            self._aps.shutdown(wait=False)
        with self._transition:
            self._leading = False
            self._leadership.release()

    # ------------------------------------------------------------ leadership and sync

    def _loop(self) -> None:
        while not self._stopping.wait(self._poll_s):
            self._tick()

    def _tick(self) -> None:
        try:
            leads = self._leadership.try_lead()
        except Exception as exc:  # the database is away: follow until it answers
            log.warning("leadership check failed: %r", exc)
            leads = False
        with self._transition:
            if self._stopping.is_set():
                return
            if not leads:
                if self._leading and self._aps is not None:
                    log.warning("%s no longer leads: not firing", self.identity)
                    self._aps.pause()
                self._leading = False
                return
        try:
            self.sync()
        except Exception as exc:
            log.warning("cannot sync schedules: %r", exc)
            return
        with self._transition:
            if not self._leading and not self._stopping.is_set() and self._aps is not None:
                log.warning("%s now leads: firing schedules", self.identity)
                self._leading = True
                self._aps.resume()

    def _confirm(self) -> bool:
        leads = self._leadership.confirm()
        if not leads:
            with self._transition:
                if self._leading and self._aps is not None:
                    log.warning("%s lost leadership before a firing", self.identity)
                    self._aps.pause()
                self._leading = False
        return leads

    def sync(self) -> None:
        """Make APScheduler's jobs match the schedule table (the leader calls this every poll)."""
        assert self._aps is not None, "start() the scheduler first"
        definitions = {d.name: d for d in self.schedules.all()}
        jobs = {job.id: job for job in self._aps.get_jobs()}
        for name in jobs:
            if name not in definitions or definitions[name].paused:
                with contextlib.suppress(JobLookupError):
                    self._aps.remove_job(name)
        for name, definition in definitions.items():
            job = jobs.get(name)
            if definition.paused or (job and job.kwargs.get("version") == definition.updated_at):
                continue
            try:
                trigger = build_trigger(
                    definition.trigger, timezone=definition.timezone, start=definition.active_since
                )
            except Exception as exc:
                log.error(
                    "schedule %s has an unusable trigger %r: %s", name, definition.trigger, exc
                )
                continue
            self._aps.add_job(
                scheduled_firing,
                trigger=trigger,
                id=name,
                name=name,
                kwargs={"version": definition.updated_at},
                replace_existing=True,
            )

    # ------------------------------------------------------------ firings

    def _fire(self, name: str, scheduled: datetime) -> None:
        firing = Firing(self._ctx, name, scheduled)
        try:
            firing.fire()
        except Exception as exc:  # recorded, and the scheduler keeps firing the others
            log.exception("firing of schedule %s at %s failed", name, scheduled)
            with contextlib.suppress(Exception):
                firing.record(FiringOutcome.FAILED, f"internal error: {exc!r}")

    def _on_event(self, event: Any) -> None:
        if event.code == EVENT_JOB_MISSED:
            late = (datetime.now(UTC) - event.scheduled_run_time).total_seconds()
            outcome = FiringOutcome.MISSED
            detail = f"could not start on time: {late:.0f}s late, beyond the {self._grace_s}s grace"
            times = [event.scheduled_run_time]
        else:  # EVENT_JOB_MAX_INSTANCES
            outcome = FiringOutcome.REFUSED
            detail = "a firing of this schedule is still running and another is queued behind it"
            times = list(event.scheduled_run_times)
        for scheduled in times:
            with contextlib.suppress(Exception):
                Firing(self._ctx, event.job_id, scheduled).record(outcome, detail)
