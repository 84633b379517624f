"""Schedules in the run store: their definitions, every firing and what became of it.

The ``schedules`` table is the source of truth for what is scheduled: the CLI and the
service's API write it, and the leading scheduler mirrors it into APScheduler's own job
table (``schedule_jobs``, created by APScheduler), which keeps each schedule's next fire
time across restarts. ``schedule_firings`` records every firing, whatever became of it:
the run it started (the run's own status is read from ``runs``, so a run interrupted by a
crash shows as such), a blackout that skipped it, a run it would have overlapped, a file
that no longer validates, or a firing nobody could run on time (``count`` says how many
firings one "missed" row stands for). Firings outlive their schedule's removal: history.

Also here, because it is SQL: the running runs the overlap check compares against (the
PostgreSQL advisory lock that elects the one scheduler allowed to fire is in
:mod:`chaos.store.locks`).
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

from pydantic import ValidationError
from sqlmodel import Field, SQLModel, col, func, select

from chaos.controller.events import RunStatus
from chaos.errors import NotFoundError, UsageError
from chaos.spec.models import TargetSpec
from chaos.store.tables import RunRow

if TYPE_CHECKING:  # repository imports this module (so create_all makes its tables)
    from chaos.store.repository import RunStore

JOB_TABLE = "schedule_jobs"  # APScheduler's SQLAlchemyJobStore table, in the same database


class SchedulePolicy(StrEnum):
    """What a firing does when its targets overlap a run in progress."""

    SKIP = "skip"  # record "refused: overlaps run X" and wait for the next firing
    QUEUE = "queue"  # wait (bounded) for the overlapping run to end, then run


class FiringOutcome(StrEnum):
    QUEUED = "queued"  # waiting for an overlapping run to end (policy queue)
    RUNNING = "running"  # its run is under way (or was, when its controller died)
    RAN = "ran"  # its run ended: run_status and exit_code say how
    SKIPPED = "skipped"  # inside a blackout window, or the schedule was paused meanwhile
    REFUSED = "refused"  # its targets overlap a run in progress
    MISSED = "missed"  # nobody could run it on time (no leading controller, too late)
    FAILED = "failed"  # the file no longer validates, or the run could not start


class ScheduleRow(SQLModel, table=True):
    __tablename__ = "schedules"

    name: str = Field(primary_key=True, max_length=64)
    trigger: str  # "cron <5 or 6 fields>" or "every <duration>"
    timezone: str = "UTC"
    file: str  # absolute path, re-read and re-validated at every firing
    file_hash: str  # sha256 of the text when the schedule was added
    experiment: str = ""
    blackouts_json: str = "[]"  # the windows as the user wrote them
    policy: str = SchedulePolicy.SKIP.value
    paused: bool = False
    created_at: float
    updated_at: float  # the scheduler re-creates the job when this changes
    active_since: float  # added or resumed: firings before this were never due


class FiringRow(SQLModel, table=True):
    __tablename__ = "schedule_firings"

    id: int | None = Field(default=None, primary_key=True)
    schedule: str = Field(index=True, max_length=64)
    scheduled_at: float = Field(index=True)
    recorded_at: float
    outcome: str = Field(index=True)
    detail: str = ""
    count: int = 1
    run_id: str | None = Field(default=None, max_length=32)
    exit_code: int | None = None
    file_hash: str | None = None
    controller: str = ""  # which scheduler (host:pid:instance) decided it


@dataclass(frozen=True)
class ScheduleRecord:
    name: str
    trigger: str
    timezone: str
    file: str
    file_hash: str
    experiment: str
    blackouts: tuple[str, ...]
    policy: SchedulePolicy
    paused: bool
    created_at: float
    updated_at: float
    active_since: float


@dataclass(frozen=True)
class FiringRecord:
    id: int
    schedule: str
    scheduled_at: float
    recorded_at: float
    outcome: FiringOutcome
    detail: str
    count: int
    run_id: str | None
    run_status: RunStatus | None  # from the runs table: the run's own word
    exit_code: int | None
    file_hash: str | None
    controller: str


@dataclass(frozen=True)
class RunningRun:
    """A run the store says is in progress, with what it targets (None: unreadable)."""

    id: str
    experiment: str
    lab: str
    targets: tuple[TargetSpec, ...] | None


class ScheduleStore:
    """Schedules and firings, in the run store's database."""

    def __init__(self, store: RunStore) -> None:
        self.runs = store

    # ------------------------------------------------------------ definitions

    def add(self, record: ScheduleRecord) -> ScheduleRecord:
        with self.runs.session() as session:
            if session.get(ScheduleRow, record.name) is not None:
                raise UsageError(
                    f"schedule {record.name!r} exists (chaos schedule remove {record.name} first)"
                )
            session.add(_row(record))
            session.commit()
        return record

    def get(self, name: str) -> ScheduleRecord | None:
        with self.runs.session() as session:
            row = session.get(ScheduleRow, name)
            return _record(row) if row is not None else None

    def require(self, name: str) -> ScheduleRecord:
        found = self.get(name)
        if found is None:
            raise NotFoundError(f"no schedule {name!r} (chaos schedule list shows them)")
        return found

    def all(self) -> list[ScheduleRecord]:
        with self.runs.session() as session:
            rows = session.exec(select(ScheduleRow).order_by(col(ScheduleRow.name)))
            return [_record(row) for row in rows]

    def set_paused(self, name: str, *, paused: bool) -> ScheduleRecord:
        """Pause or resume; resuming starts the schedule afresh (no catch-up, nothing missed)."""
        now = time.time()
        with self.runs.session() as session:
            row = session.get(ScheduleRow, name)
            if row is None:
                raise NotFoundError(f"no schedule {name!r} (chaos schedule list shows them)")
            if row.paused != paused:
                row.paused, row.updated_at = paused, now
                if not paused:
                    row.active_since = now
                session.add(row)
                session.commit()
                session.refresh(row)
            return _record(row)

    def remove(self, name: str) -> ScheduleRecord:
        with self.runs.session() as session:
            row = session.get(ScheduleRow, name)
            if row is None:
                raise NotFoundError(f"no schedule {name!r} (chaos schedule list shows them)")
            record = _record(row)
            session.delete(row)
            session.commit()
            return record

    # ------------------------------------------------------------ firings

    def record(
        self,
        schedule: str,
        *,
        scheduled_at: float,
        outcome: FiringOutcome,
        detail: str = "",
        count: int = 1,
        run_id: str | None = None,
        file_hash: str | None = None,
        controller: str = "",
    ) -> int:
        row = FiringRow(
            schedule=schedule,
            scheduled_at=scheduled_at,
            recorded_at=time.time(),
            outcome=outcome.value,
            detail=detail,
            count=count,
            run_id=run_id,
            file_hash=file_hash,
            controller=controller,
        )
        with self.runs.session() as session:
            session.add(row)
            session.commit()
            return int(row.id or 0)

    def update(
        self,
        firing_id: int,
        *,
        outcome: FiringOutcome,
        detail: str | None = None,
        run_id: str | None = None,
        exit_code: int | None = None,
        file_hash: str | None = None,
    ) -> None:
        with self.runs.session() as session:
            row = session.get(FiringRow, firing_id)
            if row is None:
                return
            row.outcome, row.recorded_at = outcome.value, time.time()
            if detail is not None:
                row.detail = detail
            if run_id is not None:
                row.run_id = run_id
            if exit_code is not None:
                row.exit_code = exit_code
            if file_hash is not None:
                row.file_hash = file_hash
            session.add(row)
            session.commit()

    def firings(self, schedule: str | None = None, *, limit: int = 20) -> list[FiringRecord]:
        """Newest first (by scheduled time), with each run's status from ``runs``."""
        query = select(FiringRow, RunRow.status).outerjoin(
            RunRow, col(RunRow.id) == col(FiringRow.run_id)
        )
        if schedule is not None:
            query = query.where(FiringRow.schedule == schedule)
        query = query.order_by(col(FiringRow.scheduled_at).desc(), col(FiringRow.id).desc())
        with self.runs.session() as session:
            return [_firing(row, status) for row, status in session.exec(query.limit(limit))]

    def last_firings(self) -> dict[str, FiringRecord]:
        """Each schedule's latest recorded firing."""
        with self.runs.session() as session:
            latest = select(func.max(FiringRow.id)).group_by(col(FiringRow.schedule))
            ids = [int(i) for i in session.exec(latest) if i is not None]
        return {firing.schedule: firing for firing in self._by_ids(ids)}

    def last_scheduled_at(self, schedule: str) -> float | None:
        with self.runs.session() as session:
            query = select(func.max(FiringRow.scheduled_at)).where(FiringRow.schedule == schedule)
            value = session.exec(query).one()
            return float(value) if value is not None else None

    def _by_ids(self, ids: Iterable[int]) -> list[FiringRecord]:
        wanted = list(ids)
        if not wanted:
            return []
        query = (
            select(FiringRow, RunRow.status)
            .outerjoin(RunRow, col(RunRow.id) == col(FiringRow.run_id))
            .where(col(FiringRow.id).in_(wanted))
        )
        with self.runs.session() as session:
            return [_firing(row, status) for row, status in session.exec(query)]

    # ------------------------------------------------------------ what is running

    def running_runs(self) -> list[RunningRun]:
        with self.runs.session() as session:
            rows = session.exec(select(RunRow).where(RunRow.status == RunStatus.RUNNING.value))
            return [RunningRun(r.id, r.experiment, r.lab, _targets(r.spec_json)) for r in rows]


def _targets(spec_json: str) -> tuple[TargetSpec, ...] | None:
    try:
        targets = json.loads(spec_json).get("spec", {}).get("targets", {})
        return tuple(TargetSpec.model_validate(target) for target in targets.values())
    except (ValueError, AttributeError, ValidationError):
        return None  # unreadable: the overlap check treats it as overlapping everything


def _row(record: ScheduleRecord) -> ScheduleRow:
    fields = dataclasses.asdict(record)
    blackouts, policy = fields.pop("blackouts"), fields.pop("policy")
    return ScheduleRow(**fields, blackouts_json=json.dumps(list(blackouts)), policy=policy.value)


def _record(row: ScheduleRow) -> ScheduleRecord:
    fields = row.model_dump(exclude={"blackouts_json", "policy"})
    blackouts = tuple(json.loads(row.blackouts_json))
    return ScheduleRecord(**fields, blackouts=blackouts, policy=SchedulePolicy(row.policy))


def _firing(row: FiringRow, run_status: str | None) -> FiringRecord:
    fields = row.model_dump(exclude={"id", "outcome"})
    status = RunStatus(run_status) if run_status else None
    return FiringRecord(
        **fields, id=int(row.id or 0), outcome=FiringOutcome(row.outcome), run_status=status
    )
