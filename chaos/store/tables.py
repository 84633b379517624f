"""SQLModel tables: runs, their events, probe samples, load windows and SLI points."""

from __future__ import annotations

from sqlmodel import Field, SQLModel


class RunRow(SQLModel, table=True):
    __tablename__ = "runs"

    id: str = Field(primary_key=True, max_length=32)
    experiment: str = Field(index=True)
    source: str = ""
    lab: str = ""
    status: str = Field(index=True)
    exit_code: int | None = None
    reasons_json: str = "[]"
    time_to_recover_s: float | None = None
    started_at: float = Field(index=True)
    ended_at: float | None = None
    host: str = ""
    pid: int = 0
    pid_start_time: int | None = None
    spec_json: str = "{}"
    verdict_json: str | None = None


class EventRow(SQLModel, table=True):
    __tablename__ = "run_events"

    id: int | None = Field(default=None, primary_key=True)
    run_id: str = Field(index=True, foreign_key="runs.id")
    at: float
    kind: str = Field(index=True)
    phase: str | None = None
    message: str = ""
    data_json: str = "{}"


class SampleRow(SQLModel, table=True):
    __tablename__ = "probe_samples"

    id: int | None = Field(default=None, primary_key=True)
    run_id: str = Field(index=True, foreign_key="runs.id")
    tick: int
    phase: str
    probe: str
    started_at: float
    ok: bool
    latency_ms: float
    status: int | None = None
    error: str | None = None


LATENCY_COLUMNS = (
    "latency_p50_ms",
    "latency_p90_ms",
    "latency_p95_ms",
    "latency_p99_ms",
    "latency_max_ms",
)
"""The load window's latency columns, each named after the LoadMetric it holds."""


class LoadWindowRow(SQLModel, table=True):
    """One second of load, merged from every Locust process: counts, SLIs, the histogram."""

    __tablename__ = "load_windows"

    id: int | None = Field(default=None, primary_key=True)
    run_id: str = Field(index=True, foreign_key="runs.id")
    second: int
    phase: str
    requests: int
    failures: int
    users: int | None = None
    throughput_rps: float
    error_ratio: float | None = None
    latency_p50_ms: float | None = None
    latency_p90_ms: float | None = None
    latency_p95_ms: float | None = None
    latency_p99_ms: float | None = None
    latency_max_ms: float | None = None
    histogram_json: str = "{}"  # latency bucket (µs, 3 significant digits) → count
    errors_json: str = "{}"


class SliPointRow(SQLModel, table=True):
    """One point of an SLI as it was judged live (value None: no data)."""

    __tablename__ = "sli_points"

    id: int | None = Field(default=None, primary_key=True)
    run_id: str = Field(index=True, foreign_key="runs.id")
    sli: str
    at: float
    phase: str
    value: float | None = None
    ok: bool
    detail: str | None = None


class HaltRow(SQLModel, table=True):
    """An operator's halt of a run (``chaos halt``, the service's API): the process running
    the run polls for these, so a halt works from any terminal or host sharing the store."""

    __tablename__ = "halt_requests"

    id: int | None = Field(default=None, primary_key=True)
    run_id: str = Field(index=True, foreign_key="runs.id")
    requested_at: float
    reason: str = ""
