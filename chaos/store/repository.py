"""The run store: SQLite by default, any SQLAlchemy URL (PostgreSQL) by configuration.

Callers get plain frozen records back, never SQLModel objects, so SQLModel stays
inside this package. Opening the store marks runs whose process died as
``interrupted``.
"""

from __future__ import annotations

import json
import os
import re
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import event as sa_event
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session, SQLModel, col, create_engine, select

from chaos.controller.events import Event, EventKind, RunStatus
from chaos.errors import StoreError
from chaos.host import procfs
from chaos.store.tables import EventRow, LoadWindowRow, RunRow, SampleRow, SliPointRow


@dataclass(frozen=True)
class RunRecord:
    id: str
    experiment: str
    source: str
    lab: str
    status: RunStatus
    exit_code: int | None
    reasons: tuple[str, ...]
    time_to_recover_s: float | None
    started_at: float
    ended_at: float | None
    host: str
    verdict: dict[str, Any] | None


@dataclass(frozen=True)
class EventRecord:
    at: float
    kind: str
    phase: str | None
    message: str
    data: dict[str, Any]


@dataclass(frozen=True)
class SampleRecord:
    tick: int
    phase: str
    probe: str
    started_at: float
    ok: bool
    latency_ms: float
    status: int | None
    error: str | None


@dataclass(frozen=True)
class LoadWindowRecord:
    second: int
    phase: str
    requests: int
    failures: int
    users: int | None
    metrics: dict[str, float | None]  # LoadMetric value → figure (None: no data)
    histogram: dict[str, int]
    errors: dict[str, int]


@dataclass(frozen=True)
class SliPointRecord:
    sli: str
    at: float
    phase: str
    value: float | None
    ok: bool
    detail: str | None


@dataclass(frozen=True)
class RunDetail:
    run: RunRecord
    events: tuple[EventRecord, ...]
    samples: tuple[SampleRecord, ...]
    load: tuple[LoadWindowRecord, ...] = ()
    sli_points: tuple[SliPointRecord, ...] = ()


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


class RunStore:
    def __init__(self, url: str) -> None:
        self.url = url
        self._lock = threading.Lock()
        try:
            if url.startswith("sqlite:///"):
                Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
            connect_args = (
                {"check_same_thread": False, "timeout": 30} if url.startswith("sqlite") else {}
            )
            self._engine = create_engine(url, connect_args=connect_args)
            if url.startswith("sqlite"):
                sa_event.listen(self._engine, "connect", _sqlite_pragmas)
            SQLModel.metadata.create_all(self._engine)
            self.mark_interrupted()
        except (SQLAlchemyError, OSError, ImportError) as exc:
            # ImportError: the URL names a database whose driver is not installed
            detail = _redact(str(exc).splitlines()[0] if str(exc) else repr(exc))
            raise StoreError(f"cannot open run store {_redact(url)}: {detail}") from exc

    # ------------------------------------------------------------ writing

    def recorder(self) -> Callable[[Event], None]:
        """An event-bus subscriber that records runs, events and samples."""
        handlers: dict[EventKind, Callable[[Session, Event], None]] = {
            EventKind.RUN_STARTED: self._on_started,
            EventKind.SAMPLE: self._on_sample,
            EventKind.LOAD_WINDOW: self._on_load_window,
            EventKind.SLI_POINT: self._on_sli_point,
            EventKind.VERDICT: self._on_verdict,
        }

        def record(event: Event) -> None:
            with self._lock, Session(self._engine) as session:
                handlers.get(event.kind, self._on_event)(session, event)
                session.commit()

        record.__name__ = "store"
        return record

    def _on_started(self, session: Session, event: Event) -> None:
        me = procfs.identity(os.getpid())
        data = event.data
        session.add(
            RunRow(
                id=event.run_id,
                experiment=str(data.get("experiment", "")),
                source=str(data.get("source", "")),
                lab=str(data.get("lab", "")),
                status=RunStatus.RUNNING.value,
                started_at=event.at,
                host=socket.gethostname(),
                pid=os.getpid(),
                pid_start_time=me.start_time if me else None,
                spec_json=json.dumps(data.get("spec", {})),
            )
        )
        session.flush()
        self._on_event(session, event, data={k: v for k, v in data.items() if k != "spec"})

    def _on_sample(self, session: Session, event: Event) -> None:
        data = event.data
        session.add(
            SampleRow(
                run_id=event.run_id,
                tick=int(data["tick"]),
                phase=event.phase.value if event.phase else "",
                probe=str(data["probe"]),
                started_at=float(data["started_at"]),
                ok=bool(data["ok"]),
                latency_ms=float(data["latency_ms"]),
                status=data.get("status"),
                error=data.get("error"),
            )
        )

    def _on_load_window(self, session: Session, event: Event) -> None:
        """One row per second: a late part of a second arrives merged and replaces it."""
        data = event.data
        metrics = data.get("metrics", {})
        earlier = session.exec(
            select(LoadWindowRow).where(
                LoadWindowRow.run_id == event.run_id, LoadWindowRow.second == int(data["second"])
            )
        ).first()
        if earlier is not None:
            session.delete(earlier)
        session.add(
            LoadWindowRow(
                run_id=event.run_id,
                second=int(data["second"]),
                phase=event.phase.value if event.phase else "",
                requests=int(data["requests"]),
                failures=int(data["failures"]),
                users=data.get("users"),
                throughput_rps=float(metrics.get("throughput_rps") or 0.0),
                **{name: metrics.get(name) for name in _LATENCY_COLUMNS},
                error_ratio=metrics.get("error_ratio"),
                histogram_json=json.dumps(data.get("histogram", {})),
                errors_json=json.dumps(data.get("errors", {})),
            )
        )

    def _on_sli_point(self, session: Session, event: Event) -> None:
        data = event.data
        session.add(
            SliPointRow(
                run_id=event.run_id,
                sli=str(data["sli"]),
                at=float(data["at"]),
                phase=event.phase.value if event.phase else "",
                value=data.get("value"),
                ok=bool(data["ok"]),
                detail=data.get("detail"),
            )
        )

    def _on_verdict(self, session: Session, event: Event) -> None:
        row = session.get(RunRow, event.run_id)
        if row is not None:
            row.status = str(event.data["status"])
            row.exit_code = int(event.data["exit_code"])
            row.reasons_json = json.dumps(event.data.get("reasons", []))
            row.time_to_recover_s = event.data.get("time_to_recover_s")
            row.ended_at = event.at
            row.verdict_json = json.dumps(dict(event.data))
            session.add(row)
        self._on_event(session, event)

    def _on_event(self, session: Session, event: Event, data: dict[str, Any] | None = None) -> None:
        session.add(
            EventRow(
                run_id=event.run_id,
                at=event.at,
                kind=event.kind.value,
                phase=event.phase.value if event.phase else None,
                message=event.message,
                data_json=json.dumps(dict(event.data) if data is None else data, default=str),
            )
        )

    def mark_interrupted(self) -> int:
        """Runs still 'running' whose process (on this host) is gone become 'interrupted'."""
        host = socket.gethostname()
        changed = 0
        with self._lock, Session(self._engine) as session:
            running = session.exec(select(RunRow).where(RunRow.status == RunStatus.RUNNING.value))
            for row in running:
                if row.host != host or _still_running(row):
                    continue
                row.status = RunStatus.INTERRUPTED.value
                row.reasons_json = json.dumps(["the process running this run died"])
                session.add(row)
                changed += 1
            session.commit()
        return changed

    # ------------------------------------------------------------ reading

    def list_runs(self, *, limit: int = 20) -> list[RunRecord]:
        with Session(self._engine) as session:
            query = select(RunRow).order_by(col(RunRow.started_at).desc()).limit(limit)
            return [_run_record(row) for row in session.exec(query)]

    def get_run(self, run_id: str) -> RunDetail | None:
        """A run by id or by a unique prefix of it."""
        with Session(self._engine) as session:
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
                load=tuple(_load_record(w) for w in load),
                sli_points=tuple(
                    SliPointRecord(p.sli, p.at, p.phase, p.value, p.ok, p.detail) for p in points
                ),
                run=_run_record(row),
                events=tuple(
                    EventRecord(e.at, e.kind, e.phase, e.message, json.loads(e.data_json))
                    for e in events
                ),
                samples=tuple(
                    SampleRecord(
                        s.tick,
                        s.phase,
                        s.probe,
                        s.started_at,
                        s.ok,
                        s.latency_ms,
                        s.status,
                        s.error,
                    )
                    for s in samples
                ),
            )

    def close(self) -> None:
        self._engine.dispose()


def _still_running(row: RunRow) -> bool:
    if row.pid_start_time is None:
        return procfs.pid_alive(row.pid)
    return procfs.is_alive(procfs.ProcessIdentity(row.pid, row.pid_start_time))


_LATENCY_COLUMNS = (
    "latency_p50_ms",
    "latency_p90_ms",
    "latency_p95_ms",
    "latency_p99_ms",
    "latency_max_ms",
)


def _load_record(row: LoadWindowRow) -> LoadWindowRecord:
    metrics: dict[str, float | None] = {
        "throughput_rps": row.throughput_rps,
        "error_ratio": row.error_ratio,
    }
    metrics.update({name: getattr(row, name) for name in _LATENCY_COLUMNS})
    return LoadWindowRecord(
        second=row.second,
        phase=row.phase,
        requests=row.requests,
        failures=row.failures,
        users=row.users,
        metrics=metrics,
        histogram=json.loads(row.histogram_json),
        errors=json.loads(row.errors_json),
    )


def _run_record(row: RunRow) -> RunRecord:
    return RunRecord(
        id=row.id,
        experiment=row.experiment,
        source=row.source,
        lab=row.lab,
        status=RunStatus(row.status),
        exit_code=row.exit_code,
        reasons=tuple(json.loads(row.reasons_json)),
        time_to_recover_s=row.time_to_recover_s,
        started_at=row.started_at,
        ended_at=row.ended_at,
        host=row.host,
        verdict=json.loads(row.verdict_json) if row.verdict_json else None,
    )


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
