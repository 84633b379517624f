"""The run store: SQLite by default, any SQLAlchemy URL (PostgreSQL) by configuration.

Callers get plain frozen records back (``chaos.store.records``), never SQLModel
objects, so SQLModel stays inside this package. Events are written by
``recorder()`` (``chaos.store.recorder``). Opening the store marks runs whose
process died as ``interrupted``.
"""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event as sa_event
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session, SQLModel, col, create_engine, func, select

from chaos.controller.events import Event, EventKind, RunStatus
from chaos.errors import NotFoundError, StateConflict, StoreError, UsageError
from chaos.host import procfs

# Table modules beyond chaos.store.tables, imported so create_all makes their tables:
from chaos.store import gamedays as _gamedays  # noqa: F401
from chaos.store import schedules as _schedules  # noqa: F401
from chaos.store.recorder import add_event_rows
from chaos.store.records import (
    EventRecord,
    LoadWindowRecord,
    RunDetail,
    RunRecord,
    SampleRecord,
    SliPointRecord,
    event_record,
    load_record,
    run_record,
    sample_record,
    sli_point_record,
)
from chaos.store.tables import (
    EventRow,
    HaltRow,
    LoadWindowRow,
    RunRow,
    SampleRow,
    SliPointRow,
)

__all__ = [  # the records are re-exported: callers import everything from here
    "EventRecord",
    "LoadWindowRecord",
    "RunDetail",
    "RunRecord",
    "RunStore",
    "SampleRecord",
    "SliPointRecord",
    "sqlite_url",
]


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


class RunStore:
    def __init__(self, url: str, *, create: bool = True) -> None:
        """Open (``create``: make if missing) the store at ``url``. A command that only
        reads passes ``create=False``: a SQLite file that is not there is then an error
        (NotFoundError), not a new empty store that would answer "no runs"."""
        self.url = url
        self._lock = threading.Lock()
        if not create:
            _refuse_missing_sqlite(url)
        try:
            if url.startswith("sqlite:///"):
                Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
            self._engine = create_engine(
                url, connect_args=_connect_args(url), pool_pre_ping=not url.startswith("sqlite")
            )
            if url.startswith("sqlite"):
                sa_event.listen(self._engine, "connect", _sqlite_pragmas)
            SQLModel.metadata.create_all(self._engine)
            self.mark_interrupted()
        except (SQLAlchemyError, OSError, ImportError) as exc:
            # ImportError: the URL names a database whose driver is not installed
            raise StoreError(f"cannot open run store {_redact(url)}: {_detail(exc)}") from exc

    # ------------------------------------------------------------ writing

    def recorder(self) -> Callable[[Event], None]:
        """An event-bus recorder of runs, events, samples, load and SLI points.

        A write that fails raises StoreError, and the run is then no longer recorded:
        later events are refused at once (a store that hangs or fails must not slow the
        reverts that follow), except the verdict, tried once more so the stored run
        says why it ended, if the store has come back.
        """
        failure: list[str] = []  # this recorder's first failure, once there is one

        def record(event: Event) -> None:
            if failure and event.kind is not EventKind.VERDICT:
                raise StoreError(f"not recorded after an earlier failure: {failure[0]}")
            try:
                with self._lock, Session(self._engine) as session:
                    add_event_rows(session, event)
                    session.commit()
            except (SQLAlchemyError, OSError) as exc:
                message = f"cannot write {event.kind.value} to the run store: {_detail(exc)}"
                failure.append(message)
                raise StoreError(message) from exc

        record.__name__ = "store"
        return record

    def mark_interrupted(self) -> int:
        """Runs still 'running' whose process (on this host) is gone become 'interrupted'."""
        host = socket.gethostname()
        changed = 0
        with self._lock, self._session() as session:
            running = session.exec(select(RunRow).where(RunRow.status == RunStatus.RUNNING.value))
            for row in running:
                if row.host != host or procfs.recorded_alive(row.pid, row.pid_start_time):
                    continue
                row.status = RunStatus.INTERRUPTED.value
                row.reasons_json = json.dumps(["the process running this run died"])
                session.add(row)
                changed += 1
            session.commit()
        return changed

    # ------------------------------------------------------------ reading

    def list_runs(self, *, limit: int = 20) -> list[RunRecord]:
        with self._session() as session:
            query = select(RunRow).order_by(col(RunRow.started_at).desc()).limit(limit)
            return [run_record(row) for row in session.exec(query)]

    def latest_run(
        self, experiment: str, *, status: RunStatus, before: float | None = None
    ) -> RunRecord | None:
        """The newest run of ``experiment`` that ended in ``status`` (and started before
        ``before``, when given): what ``--compare-to latest-pass`` compares with."""
        with self._session() as session:
            query = select(RunRow).where(
                RunRow.experiment == experiment, RunRow.status == status.value
            )
            if before is not None:
                query = query.where(col(RunRow.started_at) < before)
            row = session.exec(query.order_by(col(RunRow.started_at).desc()).limit(1)).first()
            return run_record(row) if row is not None else None

    @contextmanager
    def _session(self) -> Iterator[Session]:
        """A session whose database errors (a corrupt page, a lost server) become one
        StoreError line instead of a driver traceback."""
        try:
            with Session(self._engine) as session:
                yield session
        except SQLAlchemyError as exc:
            where = _redact(self.url)
            raise StoreError(f"cannot use the run store {where}: {_detail(exc)}") from exc

    @property
    def engine(self) -> Any:
        """The SQLAlchemy engine (the scheduler keeps its job store in the same database)."""
        return self._engine

    def session(self) -> AbstractContextManager[Session]:
        """``with store.session() as session:``; database errors arrive as StoreError."""
        return self._session()

    # ------------------------------------------------------------ halts

    def request_halt(self, run_id: str, *, reason: str) -> RunRecord:
        """Ask the process running ``run_id`` (or a unique prefix) to halt it.

        UsageError (exit 2) for an unknown or ambiguous id and for a run that already
        ended: there is nothing to halt, and saying so beats a silent success.
        """
        with self._lock, self._session() as session:
            prefix = col(RunRow.id).startswith(run_id, autoescape=True)
            rows = session.exec(select(RunRow).where(prefix)).all() if run_id else []
            if not rows:
                raise NotFoundError(f"no run {run_id!r} in the run store")
            if len(rows) > 1:
                raise UsageError(f"run id prefix {run_id!r} is ambiguous ({len(rows)} runs)")
            row = rows[0]
            if row.status != RunStatus.RUNNING.value:
                raise StateConflict(f"run {row.id} already ended ({row.status}): nothing to halt")
            session.add(HaltRow(run_id=row.id, requested_at=time.time(), reason=reason))
            session.commit()
            return run_record(row)

    def halts_after(self, run_id: str, after_id: int) -> list[tuple[int, str]]:
        """(id, reason) of the halt requests for ``run_id`` newer than ``after_id``."""
        with self._session() as session:
            query = (
                select(HaltRow)
                .where(HaltRow.run_id == run_id, col(HaltRow.id) > after_id)
                .order_by(col(HaltRow.id))
            )
            return [(int(row.id or 0), row.reason) for row in session.exec(query)]

    def count_by_status(self) -> dict[str, int]:
        """How many stored runs end (or are) in each status."""
        with self._session() as session:
            query = select(RunRow.status, func.count()).group_by(RunRow.status)
            return {str(status): int(count) for status, count in session.exec(query)}

    def get_run(self, run_id: str) -> RunDetail | None:
        """A run by id or by a unique prefix of it."""
        with self._session() as session:
            prefix = col(RunRow.id).startswith(run_id, autoescape=True)  # '_' and '%' literal
            rows = session.exec(select(RunRow).where(prefix)).all() if run_id else []
            if len(rows) != 1:
                return None
            row = rows[0]
            events = session.exec(
                select(EventRow).where(EventRow.run_id == row.id).order_by(col(EventRow.id))
            ).all()
            samples = session.exec(
                select(SampleRow).where(SampleRow.run_id == row.id).order_by(col(SampleRow.id))
            ).all()
            load = session.exec(
                select(LoadWindowRow)
                .where(LoadWindowRow.run_id == row.id)
                .order_by(col(LoadWindowRow.id))
            ).all()
            points = session.exec(
                select(SliPointRow)
                .where(SliPointRow.run_id == row.id)
                .order_by(col(SliPointRow.id))
            ).all()
            return RunDetail(
                run=run_record(row),
                events=tuple(event_record(e) for e in events),
                samples=tuple(sample_record(s) for s in samples),
                load=tuple(load_record(w) for w in load),
                sli_points=tuple(sli_point_record(p) for p in points),
            )

    def close(self) -> None:
        self._engine.dispose()


def _refuse_missing_sqlite(url: str) -> None:
    if not url.startswith("sqlite:///") or url == "sqlite:///:memory:":
        return
    path = Path(url.removeprefix("sqlite:///").split("?", 1)[0])
    if not path.is_file():
        raise NotFoundError(
            f"no run store at {path}: nothing has been recorded there "
            "(check --db, $CHAOS_DB and $CHAOS_HOME)"
        )


def _connect_args(url: str) -> dict[str, Any]:
    if url.startswith("sqlite"):
        return {"check_same_thread": False, "timeout": 30}
    if url.startswith("postgresql"):
        # a lost server must fail a write within seconds, not hang the run's event bus
        # (and with it the reverts) until TCP gives up
        return {"connect_timeout": 5, "tcp_user_timeout": 5000, "keepalives_idle": 5}
    return {}


def _detail(exc: BaseException) -> str:
    """The driver's own first line (``database or disk is full``), credentials redacted."""
    orig = getattr(exc, "orig", None)
    text = str(orig if orig is not None else exc) or repr(exc)
    return _redact(text.strip().splitlines()[0] if text.strip() else repr(exc))


def _sqlite_pragmas(connection: Any, _record: Any) -> None:
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")  # readers never block the run writing its events
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


_CREDENTIALS = re.compile(r"://[^/@\s]*@")
_PASSWORD_PARAM = re.compile(r"(password=)[^&\s]*", re.IGNORECASE)


def _redact(text: str) -> str:
    """Never print a database password: neither ``user:pass@`` nor ``?password=``."""
    return _PASSWORD_PARAM.sub(r"\1***", _CREDENTIALS.sub("://***@", text))
