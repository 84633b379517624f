"""SQLModel tables: runs, their events and their probe samples."""

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
