"""The monitor turns load seconds into SLI points per phase, trips SLI stop conditions and
explains the verdict (synthetic windows and a synthetic phase timeline: pure logic)."""

from __future__ import annotations

import math

import pytest

from chaos.controller.monitor import SteadyStateMonitor
from chaos.load.stats import LoadWindow, bucket_us
from chaos.steady.hypothesis import Phase
from tests.controller.experiments import experiment as make_experiment

REST = """\
  steadyState:
    slis:
      - {name: errors, metric: error_ratio, threshold: "< 10%", window: 2s}
      - {name: p99, metric: latency_p99_ms, threshold: "< 100", duringFault: "< 1000"}
  phases: {recoverySamples: 2}
  stopConditions:
    - {sli: errors, threshold: "> 50%", for: 2s}
"""

T0 = 1_000  # baseline starts at T0; inject at T0+3; revert at T0+6; recovery at T0+6.2


def window(second: int, requests: int, failures: int, latency_ms: float) -> LoadWindow:
    return LoadWindow(
        second=second,
        requests=requests,
        failures=failures,
        histogram={bucket_us(latency_ms): requests} if requests else {},
    )


@pytest.fixture
def monitor() -> SteadyStateMonitor:
    experiment = make_experiment("monitor", REST)
    monitor = SteadyStateMonitor(experiment)
    monitor.enter(Phase.PREFLIGHT, at=T0 - 2)
    monitor.enter(Phase.BASELINE, at=T0)
    return monitor


def test_points_are_computed_per_phase_and_stop_conditions_trip_on_fault_seconds(monitor):
    for s in range(T0, T0 + 3):
        record = monitor.record_load(window(s, 100, 0, 10))
        assert record.phase is Phase.BASELINE and record.tripped is None
    monitor.enter(Phase.INJECT, at=T0 + 3)
    first = monitor.record_load(window(T0 + 3, 100, 80, 500))
    assert first.phase is Phase.INJECT
    errors = next(p for p in first.points if p.sli == "errors")
    assert errors.value == pytest.approx(0.8)  # the 2 s window does not reach into baseline
    assert first.tripped is None  # for: 2s needs a second bad second
    second = monitor.record_load(window(T0 + 4, 100, 90, 500))
    assert second.tripped is not None
    assert second.tripped.description == "SLI errors > 50% for 2s"


def test_phase_checks_explanation_and_recovery(monitor):
    for s in range(T0, T0 + 3):
        monitor.record_load(window(s, 100, 0, 10))
    assert monitor.check(Phase.BASELINE).holds
    monitor.enter(Phase.INJECT, at=T0 + 3)
    for s in range(T0 + 3, T0 + 6):
        monitor.record_load(window(s, 100, 20, 500))
    monitor.enter(Phase.REVERT, at=T0 + 6.0)
    monitor.enter(Phase.RECOVERY, at=T0 + 6.2)
    monitor.record_load(window(T0 + 6, 100, 30, 50))  # still bad: errors
    monitor.record_load(window(T0 + 7, 100, 0, 50))
    monitor.record_load(window(T0 + 8, 100, 0, 50))
    monitor.record_load(window(T0 + 9, 100, 0, 50))
    inject = monitor.check(Phase.INJECT)
    assert not inject.holds
    assert any(r.startswith("inject: SLI errors broke < 10%") for r in inject.reasons)
    assert not any("p99" in r for r in inject.reasons)  # 500 ms is within duringFault
    recovery = monitor.recovery(reverted_at=T0 + 6.1)
    assert recovery.recovered
    # errors over 2 s windows: second 6 bad, 7 mixes 6 and 7 (15 %), recovered from 8
    assert recovery.signals["errors"] == pytest.approx(1.9)
    assert recovery.signals["p99"] == pytest.approx(0.0)
    rows = {row["name"]: row for row in monitor.explain(recovery)}
    assert rows["errors"]["baseline"] == 0.0
    assert rows["errors"]["fault_worst"] == pytest.approx(0.2)
    assert rows["errors"]["failed_in"] == ["inject"]
    assert rows["p99"]["passed"] and rows["p99"]["tolerance"] == "< 1000ms in fault"
    assert rows["p99"]["fault_worst"] == pytest.approx(500, rel=0.01)


def test_a_second_without_requests_is_a_point_without_data(monitor):
    record = monitor.record_load(window(T0, 0, 0, 0))
    p99 = next(p for p in record.points if p.sli == "p99")
    assert math.isnan(p99.value) and p99.detail == "no request completed in the window"
    check = monitor.check(Phase.BASELINE)
    assert not check.holds and any("no data" in r for r in check.reasons)


def test_a_late_part_of_a_second_is_merged(monitor):
    monitor.record_load(window(T0, 10, 0, 10))
    record = monitor.record_load(window(T0, 10, 10, 10))
    assert record.window.requests == 20 and record.window.failures == 10


def test_a_revert_after_a_failed_baseline_is_not_fault_time(monitor):
    monitor.enter(Phase.REVERT, at=T0 + 1)  # baseline never held: nothing was injected
    record = monitor.record_load(window(T0 + 1, 100, 100, 10))
    assert record.tripped is None and record.phase is None
