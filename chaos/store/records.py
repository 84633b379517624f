"""What the store hands back: plain frozen records, each built from one table row.

These converters are the one place a row becomes a record: JSON columns are decoded
and the status becomes a ``RunStatus``, so no SQLModel object leaves the package.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from chaos.controller.events import RunStatus
from chaos.store.tables import (
    LATENCY_COLUMNS,
    EventRow,
    LoadWindowRow,
    RunRow,
    SampleRow,
    SliPointRow,
)


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
    spec: dict[str, Any] = field(default_factory=dict)  # the experiment as it was run


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


def run_record(row: RunRow) -> RunRecord:
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
        spec=json.loads(row.spec_json or "{}"),
    )


def event_record(row: EventRow) -> EventRecord:
    return EventRecord(row.at, row.kind, row.phase, row.message, json.loads(row.data_json))


def sample_record(row: SampleRow) -> SampleRecord:
    return SampleRecord(
        row.tick,
        row.phase,
        row.probe,
        row.started_at,
        row.ok,
        row.latency_ms,
        row.status,
        row.error,
    )


def load_record(row: LoadWindowRow) -> LoadWindowRecord:
    metrics: dict[str, float | None] = {
        "throughput_rps": row.throughput_rps,
        "error_ratio": row.error_ratio,
    }
    metrics.update({name: getattr(row, name) for name in LATENCY_COLUMNS})
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


def sli_point_record(row: SliPointRow) -> SliPointRecord:
    return SliPointRecord(row.sli, row.at, row.phase, row.value, row.ok, row.detail)
