"""Rows become the records callers see: JSON decoded, statuses as enums (no database)."""

from __future__ import annotations

import json

from chaos.controller.events import RunStatus
from chaos.store.records import (
    event_record,
    load_record,
    run_record,
    sample_record,
    sli_point_record,
)
from chaos.store.tables import EventRow, LoadWindowRow, RunRow, SampleRow, SliPointRow


def test_a_finished_run_row_becomes_a_record_with_its_verdict() -> None:
    verdict = {"status": "failed", "exit_code": 1, "reasons": ["p99 breached"]}
    row = RunRow(
        id="abc",
        experiment="lab-api-kill",
        source="experiments/lab-api-kill.yaml",
        lab="default",
        status="failed",
        exit_code=1,
        reasons_json=json.dumps(["p99 breached"]),
        time_to_recover_s=2.5,
        started_at=1000.0,
        ended_at=1060.0,
        host="box",
        verdict_json=json.dumps(verdict),
    )
    record = run_record(row)
    assert record.status is RunStatus.FAILED
    assert record.reasons == ("p99 breached",)
    assert record.verdict == verdict
    assert (record.started_at, record.ended_at, record.time_to_recover_s) == (1000.0, 1060.0, 2.5)
    assert (record.id, record.experiment, record.lab, record.host) == (
        "abc",
        "lab-api-kill",
        "default",
        "box",
    )


def test_a_running_row_has_no_verdict_and_no_reasons() -> None:
    record = run_record(RunRow(id="abc", experiment="e", status="running", started_at=1.0))
    assert record.status is RunStatus.RUNNING
    assert record.verdict is None
    assert record.reasons == ()
    assert record.exit_code is None
    assert record.ended_at is None


def test_a_load_window_row_gives_every_load_metric_by_name() -> None:
    row = LoadWindowRow(
        run_id="abc",
        second=2000,
        phase="inject",
        requests=10,
        failures=1,
        users=5,
        throughput_rps=10.0,
        error_ratio=0.1,
        latency_p50_ms=5.0,
        latency_p99_ms=80.0,
        latency_max_ms=95.0,
        histogram_json=json.dumps({"5000": 9, "95000": 1}),
        errors_json=json.dumps({"HTTP 500": 1}),
    )
    record = load_record(row)
    assert record.metrics == {
        "throughput_rps": 10.0,
        "error_ratio": 0.1,
        "latency_p50_ms": 5.0,
        "latency_p90_ms": None,  # no data
        "latency_p95_ms": None,
        "latency_p99_ms": 80.0,
        "latency_max_ms": 95.0,
    }
    assert record.histogram == {"5000": 9, "95000": 1}
    assert record.errors == {"HTTP 500": 1}
    assert (record.second, record.phase, record.requests, record.failures, record.users) == (
        2000,
        "inject",
        10,
        1,
        5,
    )


def test_event_sample_and_sli_point_rows_keep_every_field() -> None:
    event = event_record(
        EventRow(
            run_id="abc",
            at=1.5,
            kind="fault.applied",
            phase="inject",
            message="process-kill applied to api",
            data_json=json.dumps({"targets": ["api-1"]}),
        )
    )
    assert (event.at, event.kind, event.phase, event.message) == (
        1.5,
        "fault.applied",
        "inject",
        "process-kill applied to api",
    )
    assert event.data == {"targets": ["api-1"]}

    sample = sample_record(
        SampleRow(
            run_id="abc",
            tick=3,
            phase="recovery",
            probe="homepage",
            started_at=2.0,
            ok=False,
            latency_ms=30.5,
            status=503,
            error="HTTP 503",
        )
    )
    assert (sample.tick, sample.phase, sample.probe, sample.started_at) == (
        3,
        "recovery",
        "homepage",
        2.0,
    )
    assert (sample.ok, sample.latency_ms, sample.status, sample.error) == (
        False,
        30.5,
        503,
        "HTTP 503",
    )

    point = sli_point_record(
        SliPointRow(run_id="abc", sli="p99", at=3.0, phase="inject", ok=False, detail="no data")
    )
    assert (point.sli, point.at, point.phase, point.value, point.ok, point.detail) == (
        "p99",
        3.0,
        "inject",
        None,
        False,
        "no data",
    )
