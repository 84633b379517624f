"""Recording a run: real events through the event bus into a real SQLite file."""

from __future__ import annotations

import math
import time

from chaos.controller.events import Event, EventBus, EventKind, RunStatus
from chaos.controller.records import point_data, window_data
from chaos.load.stats import LoadWindow, bucket_us
from chaos.steady.hypothesis import Phase
from chaos.steady.slis import SliPoint
from chaos.store.repository import RunStore
from tests.store.run_events import VERDICT, full_run, new_id, start_run


def test_a_whole_run_round_trips(store: RunStore, bus: EventBus) -> None:
    run_id = new_id()
    before = time.time()
    full_run(bus, run_id)
    assert bus.errors == []

    detail = store.get_run(run_id)
    assert detail is not None
    run = detail.run
    assert run.id == run_id
    assert run.experiment == "lab-api-kill"
    assert run.source == "experiments/lab-api-kill.yaml"
    assert run.lab == "default"
    assert run.status is RunStatus.PASSED
    assert run.exit_code == 0
    assert run.reasons == ()
    assert run.time_to_recover_s == 1.5
    assert run.verdict == VERDICT
    assert before <= run.started_at <= run.ended_at <= time.time()
    assert run.host

    kinds = [event.kind for event in detail.events]
    assert kinds == [EventKind.RUN_STARTED, EventKind.FAULT_APPLIED, EventKind.VERDICT]
    started, applied, verdict = detail.events
    assert started.message == f"run {run_id} started"
    assert "spec" not in started.data  # the spec is kept once, on the run
    assert started.data["experiment"] == "lab-api-kill"
    assert applied.phase == "inject"
    assert applied.data == {"fault": "process-kill", "targets": ["api-1"]}
    assert verdict.data == VERDICT

    assert [(s.tick, s.ok) for s in detail.samples] == [(0, True), (1, False), (2, True)]
    failed = detail.samples[1]
    assert failed.phase == "baseline"
    assert failed.probe == "homepage"
    assert failed.status is None
    assert failed.error == "cannot connect: refused"
    assert failed.latency_ms == 13.5
    assert failed.started_at == 1001.0


def test_a_failed_verdict_keeps_its_reasons(store: RunStore, bus: EventBus) -> None:
    run_id = new_id()
    start_run(bus, run_id)
    reasons = ["homepage passed 1/3 samples during inject"]
    verdict = {**VERDICT, "status": "failed", "exit_code": 1, "reasons": reasons}
    verdict["time_to_recover_s"] = None
    bus.emit(EventKind.VERDICT, run_id=run_id, phase=Phase.VERDICT, data=verdict)

    run = store.get_run(run_id).run
    assert run.status is RunStatus.FAILED
    assert run.exit_code == 1
    assert run.reasons == tuple(reasons)
    assert run.time_to_recover_s is None


def test_a_failing_subscriber_does_not_stop_the_others(store: RunStore) -> None:
    bus = EventBus()
    seen: list[Event] = []

    def broken(event: Event) -> None:
        raise RuntimeError("terminal went away")

    bus.subscribe(broken)
    bus.subscribe(store.recorder())
    bus.subscribe(seen.append)
    run_id = new_id()
    full_run(bus, run_id)

    assert len(bus.errors) == 6  # one per event
    assert bus.errors[0] == "broken: terminal went away"
    assert len(seen) == 6
    assert store.get_run(run_id).run.status is RunStatus.PASSED


def emit_window(bus: EventBus, run_id: str, window: LoadWindow, *, phase: Phase) -> None:
    bus.emit(EventKind.LOAD_WINDOW, run_id=run_id, phase=phase, data=window_data(window))


def test_a_second_of_load_is_kept_once_a_late_part_replaces_it(
    store: RunStore, bus: EventBus
) -> None:
    run_id, other_id = new_id(), new_id()
    start_run(bus, run_id)
    start_run(bus, other_id)
    first = LoadWindow(second=2000, requests=100, failures=0, histogram={bucket_us(10): 100})
    emit_window(bus, run_id, first, phase=Phase.BASELINE)
    emit_window(bus, other_id, first, phase=Phase.BASELINE)
    emit_window(bus, run_id, LoadWindow(second=2001, requests=50, failures=0), phase=Phase.INJECT)
    merged = LoadWindow(  # second 2000 again: a slow Locust process reported late
        second=2000,
        requests=130,
        failures=3,
        histogram={bucket_us(10): 127, bucket_us(900): 3},
        errors={"ConnectionRefusedError": 3},
        users=20,
    )
    emit_window(bus, run_id, merged, phase=Phase.BASELINE)
    assert bus.errors == []

    load = store.get_run(run_id).load
    assert sorted(w.second for w in load) == [2000, 2001]
    second = next(w for w in load if w.second == 2000)
    assert (second.requests, second.failures, second.users) == (130, 3, 20)
    assert second.phase == "baseline"
    assert second.histogram == {"10000": 127, "900000": 3}
    assert second.errors == {"ConnectionRefusedError": 3}
    assert second.metrics["throughput_rps"] == 130.0
    assert math.isclose(second.metrics["error_ratio"], 3 / 130)
    assert second.metrics["latency_max_ms"] == 900.0
    # the same second of another run is its own row
    assert [(w.second, w.requests) for w in store.get_run(other_id).load] == [(2000, 100)]


def test_a_second_without_requests_keeps_no_latency(store: RunStore, bus: EventBus) -> None:
    run_id = new_id()
    start_run(bus, run_id)
    emit_window(bus, run_id, LoadWindow(second=2000, requests=0, failures=0), phase=Phase.INJECT)

    (window,) = store.get_run(run_id).load
    assert window.requests == 0
    assert window.metrics["throughput_rps"] == 0.0
    latencies = {name: value for name, value in window.metrics.items() if "latency" in name}
    assert set(latencies) == {
        "latency_p50_ms",
        "latency_p90_ms",
        "latency_p95_ms",
        "latency_p99_ms",
        "latency_max_ms",
    }
    assert set(latencies.values()) == {None}  # no data, not a zero latency
    assert window.histogram == {}


def test_sli_points_are_kept_in_order_with_their_verdict(store: RunStore, bus: EventBus) -> None:
    run_id = new_id()
    start_run(bus, run_id)
    points = [
        (SliPoint("p99", 2000.0, Phase.BASELINE, 42.0), True),
        (SliPoint("p99", 2001.0, Phase.INJECT, 1500.0), False),
        (SliPoint("p99", 2002.0, Phase.INJECT, math.nan, detail="no requests"), False),
    ]
    for point, ok in points:
        bus.emit(EventKind.SLI_POINT, run_id=run_id, phase=point.phase, data=point_data(point, ok))

    stored = store.get_run(run_id).sli_points
    assert [(p.at, p.phase, p.value, p.ok) for p in stored] == [
        (2000.0, "baseline", 42.0, True),
        (2001.0, "inject", 1500.0, False),
        (2002.0, "inject", None, False),
    ]
    assert stored[2].detail == "no requests"
    assert {p.sli for p in stored} == {"p99"}
