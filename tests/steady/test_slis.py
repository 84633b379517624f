"""SLI judging, SLI stop conditions and recovery across probes and SLIs (pure functions)."""

from __future__ import annotations

import math

import pytest

from chaos.spec.models import StopCondition
from chaos.spec.steady import SliSpec
from chaos.spec.units import parse_threshold
from chaos.steady.hypothesis import Phase, check_recovery, recovered_at
from chaos.steady.slis import (
    SliPoint,
    SliStopWatch,
    breaches,
    describe_condition,
    judge_sli,
    threshold_for,
    worst_value,
)


def sli(**fields: object) -> SliSpec:
    return SliSpec.model_validate({"name": "p99", "metric": "latency_p99_ms", **fields})


def points(
    values: list[float], phase: Phase = Phase.INJECT, start: float = 100.0
) -> list[SliPoint]:
    return [SliPoint("p99", start + i, phase, value) for i, value in enumerate(values)]


def test_any_breaching_point_violates_when_for_is_zero():
    summary = judge_sli(points([100, 350, 120]), sli=sli(threshold="< 300"), phase=Phase.INJECT)
    assert not summary.holds
    assert summary.worst == 350
    assert "broke < 300ms for 1s (worst 350ms)" in summary.reason
    assert summary.reason.startswith("inject: SLI p99 ")


def test_a_breach_shorter_than_for_is_allowed():
    spec = sli(threshold="< 300", **{"for": "3s"})
    two = judge_sli(points([100, 350, 400, 120]), sli=spec, phase=Phase.INJECT)
    assert two.holds and two.longest_breach_s == 2.0
    three = judge_sli(points([100, 350, 400, 500, 120]), sli=spec, phase=Phase.INJECT)
    assert not three.holds and three.longest_breach_s == 3.0


def test_during_fault_threshold_replaces_the_threshold_only_while_faults_are_active():
    spec = sli(threshold="< 300", duringFault="< 1000")
    assert judge_sli(points([900]), sli=spec, phase=Phase.INJECT).holds
    assert not judge_sli(points([900], Phase.RECOVERY), sli=spec, phase=Phase.RECOVERY).holds
    assert str(threshold_for(spec, Phase.BASELINE)) == "< 300"


def test_tolerated_sli_is_not_judged_during_the_fault():
    summary = judge_sli(
        points([5000]), sli=sli(threshold="< 300"), phase=Phase.INJECT, tolerated=["p99"]
    )
    assert summary.holds and summary.threshold is None and summary.worst == 5000


def test_points_without_data_breach_and_say_why():
    no_data = [SliPoint("p99", 100.0, Phase.BASELINE, math.nan, detail="no request completed")]
    summary = judge_sli(no_data, sli=sli(threshold="< 300"), phase=Phase.BASELINE)
    assert not summary.holds and summary.worst is None
    assert "no data: no request completed" in summary.reason


def test_an_sli_with_no_points_in_a_judged_phase_fails():
    summary = judge_sli([], sli=sli(threshold="< 300"), phase=Phase.BASELINE)
    assert not summary.holds and "has no data" in summary.reason


def test_worst_value_follows_the_direction_of_the_threshold():
    assert worst_value([5, 1, 9], parse_threshold("< 3")) == 9
    assert worst_value([5, 1, 9], parse_threshold(">= 3")) == 1
    assert math.isnan(worst_value([math.nan], parse_threshold("< 3")))


def test_breaches_are_runs_of_consecutive_breaching_points():
    found = breaches(points([1, 5, 6, 1, 7]), parse_threshold("< 3"))
    assert [(b.start, b.end, b.worst) for b in found] == [(101.0, 103.0, 6), (104.0, 105.0, 7)]


def test_stop_condition_with_its_own_threshold_trips_after_for():
    spec = sli(name="errors", metric="error_ratio", threshold="< 0.01")
    condition = StopCondition(sli="errors", threshold="> 0.2", **{"for": "2s"})
    watch = SliStopWatch([condition], [spec])
    first = SliPoint("errors", 100.0, Phase.INJECT, 0.5)
    second = SliPoint("errors", 101.0, Phase.INJECT, 0.6)
    assert watch.observe(0, first) is None
    assert watch.observe(0, second) is condition
    assert describe_condition(condition, spec) == "SLI errors > 20% for 2s"


def test_stop_condition_defaults_to_breaking_the_fault_threshold_and_ignores_no_data():
    spec = sli(name="errors", metric="error_ratio", threshold="< 0.01", duringFault="< 0.1")
    condition = StopCondition(sli="errors")
    watch = SliStopWatch([condition], [spec])
    assert watch.observe(0, SliPoint("errors", 100.0, Phase.INJECT, 0.05)) is None
    assert watch.observe(0, SliPoint("errors", 101.0, Phase.INJECT, math.nan)) is None
    assert watch.observe(0, SliPoint("errors", 102.0, Phase.INJECT, 0.2)) is condition
    assert describe_condition(condition, spec) == "SLI errors broke < 10%"


def test_a_passing_point_resets_the_stop_condition_clock():
    spec = sli(name="errors", metric="error_ratio", threshold="< 0.01")
    watch = SliStopWatch([StopCondition(sli="errors", **{"for": "2s"})], [spec])
    values = [0.5, 0.0, 0.5, 0.0]
    assert all(
        watch.observe(0, SliPoint("errors", 100.0 + i, Phase.INJECT, v)) is None
        for i, v in enumerate(values)
    )


def test_recovery_moment_needs_every_signal_to_pass_from_there():
    series = {
        "p99": [(10.0, False), (11.0, True), (12.0, True), (13.0, True)],
        "errors": [(10.0, True), (11.0, False), (12.0, True), (13.0, True), (14.0, True)],
    }
    assert recovered_at(series, needed=2) == 12.0
    assert recovered_at({"p99": series["p99"]}, needed=3) == 11.0
    assert recovered_at(series, needed=4) is None


def test_recovery_combines_probes_and_slis_and_reports_each_signal():
    check = check_recovery(
        [],
        probes=[],
        needed=2,
        reverted_at=10.5,
        slis={"p99": [(10.0, False), (11.0, True), (12.0, True)], "errors": [(10.0, True)] * 1},
    )
    assert not check.recovered
    assert "errors" in check.reason
    check = check_recovery(
        [],
        probes=[],
        needed=2,
        reverted_at=10.5,
        slis={
            "p99": [(10.0, False), (11.0, True), (12.0, True)],
            "errors": [(10.0, True), (11.0, True), (12.0, True)],
        },
    )
    assert check.recovered and check.time_to_recover_s == pytest.approx(0.5)
    assert check.signals == {"p99": pytest.approx(0.5), "errors": 0.0}
