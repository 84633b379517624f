"""Writing a run: each event on the bus becomes rows in the caller's session.

``RunStore.recorder()`` is the subscriber; it opens the session, holds the store's
lock and commits. Here each event kind is turned into its rows: the run itself,
probe samples, load windows and SLI points; every other event is kept as an event.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Callable
from typing import Any

from sqlmodel import Session, select

from chaos.controller.events import Event, EventKind, RunStatus
from chaos.host import procfs
from chaos.store.tables import (
    LATENCY_COLUMNS,
    EventRow,
    LoadWindowRow,
    RunRow,
    SampleRow,
    SliPointRow,
)


def add_event_rows(session: Session, event: Event) -> None:
    """Add the rows ``event`` stands for to ``session``; the caller commits."""
    _HANDLERS.get(event.kind, _add_event)(session, event)


def _add_run(session: Session, event: Event) -> None:
    me = procfs.identity(os.getpid())  # lets a later store tell if this process died
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
    _add_event(session, event, data={k: v for k, v in data.items() if k != "spec"})


def _add_sample(session: Session, event: Event) -> None:
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


def _replace_load_window(session: Session, event: Event) -> None:
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
            **{name: metrics.get(name) for name in LATENCY_COLUMNS},
            error_ratio=metrics.get("error_ratio"),
            histogram_json=json.dumps(data.get("histogram", {})),
            errors_json=json.dumps(data.get("errors", {})),
        )
    )


def _add_sli_point(session: Session, event: Event) -> None:
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


def _finish_run(session: Session, event: Event) -> None:
    row = session.get(RunRow, event.run_id)
    if row is not None:
        row.status = str(event.data["status"])
        row.exit_code = int(event.data["exit_code"])
        row.reasons_json = json.dumps(event.data.get("reasons", []))
        row.time_to_recover_s = event.data.get("time_to_recover_s")
        row.ended_at = event.at
        row.verdict_json = json.dumps(dict(event.data))
        session.add(row)
    _add_event(session, event)


def _add_event(session: Session, event: Event, data: dict[str, Any] | None = None) -> None:
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


_HANDLERS: dict[EventKind, Callable[[Session, Event], None]] = {
    EventKind.RUN_STARTED: _add_run,
    EventKind.SAMPLE: _add_sample,
    EventKind.LOAD_WINDOW: _replace_load_window,
    EventKind.SLI_POINT: _add_sli_point,
    EventKind.VERDICT: _finish_run,
}
