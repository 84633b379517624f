"""Game days in the run store: one row per game day, one per step of its plan.

Every step is written when the game day starts (as ``not-run``) and updated as it
goes, so a game day that ends early still shows what it did not get to, and one
whose process died is marked ``interrupted`` the next time game days are read.
Each experiment step points at its run (``runs.id``): the run itself, its events
and verdict, are stored by the run's own recorder like any other run.

Callers pass the :class:`~chaos.store.repository.RunStore` and get frozen records
back; the repository imports this module only so ``create_all`` makes its tables.
"""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from sqlmodel import Field, Session, SQLModel, col, select

from chaos.host import procfs

if TYPE_CHECKING:
    from chaos.store.repository import RunStore


class GameDayStatus(StrEnum):
    RUNNING = "running"
    PASSED = "passed"  # every experiment passed
    FAILED = "failed"  # an experiment failed (exit 1)
    ABORTED = "aborted"  # a stop condition aborted an experiment (exit 3)
    HALTED = "halted"  # an operator halted it: Ctrl-C, SIGTERM, ``chaos halt``, "stop" (exit 3)
    ERROR = "error"  # an experiment could not run (exit 4)
    INTERRUPTED = "interrupted"  # the process running it died


class StepStatus(StrEnum):
    NOT_RUN = "not-run"
    RUNNING = "running"
    WAITING = "waiting"  # a hold, waiting for the operator
    PASSED = "passed"
    FAILED = "failed"
    ABORTED = "aborted"
    ERROR = "error"
    RELEASED = "released"  # a hold the operator (or --yes) let through
    STOPPED = "stopped"  # a hold where the operator ended the game day


class GameDayRow(SQLModel, table=True):
    __tablename__ = "gamedays"

    id: str = Field(primary_key=True, max_length=32)
    name: str = Field(index=True)
    source: str = ""
    description: str = ""
    owners_json: str = "[]"
    notes: str = ""
    lab: str = ""
    status: str = Field(index=True)
    exit_code: int | None = None
    reason: str = ""
    started_at: float = Field(index=True)
    ended_at: float | None = None
    host: str = ""
    pid: int = 0
    pid_start_time: int | None = None


class GameDayStepRow(SQLModel, table=True):
    __tablename__ = "gameday_steps"

    id: int | None = Field(default=None, primary_key=True)
    gameday_id: str = Field(index=True, foreign_key="gamedays.id")
    position: int  # 0-based, in plan order
    kind: str  # "experiment" or "hold"
    label: str = ""  # the experiment's name, or the hold's
    source: str = ""  # the experiment file
    notes: str = ""  # the step's notes, or the hold's text
    continue_on_failure: bool = False
    run_id: str | None = Field(default=None, index=True)
    status: str = StepStatus.NOT_RUN.value
    exit_code: int | None = None
    reason: str = ""
    started_at: float | None = None
    ended_at: float | None = None
    hold_wait_s: float | None = None  # how long a hold waited for the operator


@dataclass(frozen=True)
class StepPlan:
    """A step as planned, written before the game day starts."""

    kind: str
    label: str
    source: str = ""
    notes: str = ""
    continue_on_failure: bool = False


@dataclass(frozen=True)
class GameDayStepRecord:
    position: int
    kind: str
    label: str
    source: str
    notes: str
    continue_on_failure: bool
    run_id: str | None
    status: StepStatus
    exit_code: int | None
    reason: str
    started_at: float | None
    ended_at: float | None
    hold_wait_s: float | None


@dataclass(frozen=True)
class GameDayRecord:
    id: str
    name: str
    source: str
    description: str
    owners: tuple[str, ...]
    notes: str
    lab: str
    status: GameDayStatus
    exit_code: int | None
    reason: str
    started_at: float
    ended_at: float | None
    host: str
    steps: tuple[GameDayStepRecord, ...]


def start_gameday(
    store: RunStore,
    *,
    gameday_id: str,
    name: str,
    source: str,
    description: str,
    owners: Sequence[str],
    notes: str,
    lab: str,
    steps: Sequence[StepPlan],
) -> None:
    me = procfs.identity(os.getpid())  # lets a later reader tell if this process died
    with store.session() as session:
        session.add(
            GameDayRow(
                id=gameday_id,
                name=name,
                source=source,
                description=description,
                owners_json=json.dumps(list(owners)),
                notes=notes,
                lab=lab,
                status=GameDayStatus.RUNNING.value,
                started_at=time.time(),
                host=socket.gethostname(),
                pid=os.getpid(),
                pid_start_time=me.start_time if me else None,
            )
        )
        session.flush()
        for position, step in enumerate(steps):
            session.add(GameDayStepRow(gameday_id=gameday_id, position=position, **vars(step)))
        session.commit()


def update_step(store: RunStore, gameday_id: str, position: int, **changes: Any) -> None:
    """Set fields of one step (``status`` may be a StepStatus)."""
    with store.session() as session:
        row = session.exec(
            select(GameDayStepRow).where(
                GameDayStepRow.gameday_id == gameday_id, GameDayStepRow.position == position
            )
        ).one()
        for key, value in changes.items():
            setattr(row, key, value.value if isinstance(value, StrEnum) else value)
        session.add(row)
        session.commit()


def finish_gameday(
    store: RunStore, gameday_id: str, *, status: GameDayStatus, exit_code: int, reason: str
) -> None:
    with store.session() as session:
        row = session.get(GameDayRow, gameday_id)
        if row is None:
            return
        row.status, row.exit_code, row.reason = status.value, exit_code, reason
        row.ended_at = time.time()
        session.add(row)
        session.commit()


def list_gamedays(store: RunStore, *, limit: int = 20) -> list[GameDayRecord]:
    with store.session() as session:
        _mark_interrupted(session)
        query = select(GameDayRow).order_by(col(GameDayRow.started_at).desc()).limit(limit)
        return [_record(session, row) for row in session.exec(query).all()]


def get_gameday(store: RunStore, gameday_id: str) -> GameDayRecord | None:
    """A game day by id or by a unique prefix of it."""
    with store.session() as session:
        _mark_interrupted(session)
        prefix = col(GameDayRow.id).startswith(gameday_id, autoescape=True)
        rows = session.exec(select(GameDayRow).where(prefix)).all() if gameday_id else []
        return _record(session, rows[0]) if len(rows) == 1 else None


def _mark_interrupted(session: Session) -> None:
    running = select(GameDayRow).where(GameDayRow.status == GameDayStatus.RUNNING.value)
    host = socket.gethostname()
    for row in session.exec(running).all():
        if row.host != host or procfs.recorded_alive(row.pid, row.pid_start_time):
            continue
        row.status = GameDayStatus.INTERRUPTED.value
        row.reason = "the process running this game day died"
        session.add(row)
    session.commit()


def _record(session: Session, row: GameDayRow) -> GameDayRecord:
    steps = session.exec(
        select(GameDayStepRow)
        .where(GameDayStepRow.gameday_id == row.id)
        .order_by(col(GameDayStepRow.position))
    ).all()
    return GameDayRecord(
        id=row.id,
        name=row.name,
        source=row.source,
        description=row.description,
        owners=tuple(json.loads(row.owners_json)),
        notes=row.notes,
        lab=row.lab,
        status=GameDayStatus(row.status),
        exit_code=row.exit_code,
        reason=row.reason,
        started_at=row.started_at,
        ended_at=row.ended_at,
        host=row.host,
        steps=tuple(_step_record(step) for step in steps),
    )


def _step_record(row: GameDayStepRow) -> GameDayStepRecord:
    return GameDayStepRecord(
        position=row.position,
        kind=row.kind,
        label=row.label,
        source=row.source,
        notes=row.notes,
        continue_on_failure=row.continue_on_failure,
        run_id=row.run_id,
        status=StepStatus(row.status),
        exit_code=row.exit_code,
        reason=row.reason,
        started_at=row.started_at,
        ended_at=row.ended_at,
        hold_wait_s=row.hold_wait_s,
    )
