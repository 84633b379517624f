"""The verdict table's rows, from hand-made phase checks and a recovery check (pure logic)."""

from __future__ import annotations

from chaos.controller.explain import SliValues, Snapshot, probe_row, rows, sli_row
from chaos.spec.steady import SliSpec
from chaos.steady.hypothesis import (
    Observation,
    Phase,
    PhaseCheck,
    ProbeSummary,
    RecoveryCheck,
)
from chaos.steady.probes import ProbeSample
from chaos.steady.slis import SliSummary

ERRORS = SliSpec.model_validate(
    {"name": "errors", "metric": "error_ratio", "threshold": "< 1%", "for": "3s"}
)
P99 = SliSpec.model_validate(
    {
        "name": "p99",
        "metric": "latency_p99_ms",
        "threshold": "< 300",
        "duringFault": "< 2000",
        "for": "2s",
    }
)
QUEUE = SliSpec.model_validate(
    {
        "name": "queue",
        "prometheus": {"url": "http://127.0.0.1:9090", "query": "queue_depth"},
        "threshold": "< 50",
        "duringFault": "< 500",
    }
)


def probe(name: str, samples: int, passed: int, *, tolerated: bool = False) -> ProbeSummary:
    return ProbeSummary(name, samples, passed, tolerated, None, None)


def sli(name: str, phase: Phase, worst: float | None, *, holds: bool = True) -> SliSummary:
    reason = None if holds else f"{phase.value}: SLI {name} broke"
    return SliSummary(name, phase, 5, "< 1", worst, 0.0, holds, reason)


def check(phase: Phase, probes=(), slis=()) -> PhaseCheck:
    return PhaseCheck(phase, holds=True, probes=tuple(probes), reasons=(), slis=tuple(slis))


def in_recovery(name: str, *oks: bool) -> list[Observation]:
    return [
        Observation(i, Phase.RECOVERY, ProbeSample(name, 100.0 + i, ok, 5.0))
        for i, ok in enumerate(oks)
    ]


def snapshot(**changes) -> Snapshot:
    fields = {
        "slis": (),
        "probes": (),
        "min_pass_ratio": 0.9,
        "tolerated": (),
        "checks": {},
        "values": {},
        "observations": (),
    }
    return Snapshot(**{**fields, **changes})


RECOVERED = RecoveryCheck(True, 4.0, 10, None, {"web": 2.0, "errors": 4.0})


def test_a_probe_row_gives_the_pass_ratio_of_each_phase():
    state = snapshot(
        probes=("web",),
        checks={
            Phase.BASELINE: check(Phase.BASELINE, probes=[probe("web", 5, 5)]),
            Phase.INJECT: check(Phase.INJECT, probes=[probe("web", 4, 1)]),
        },
        observations=[
            Observation(0, Phase.INJECT, ProbeSample("web", 90.0, False, 5.0)),
            *in_recovery("web", False, True, True),
            *in_recovery("api", False),
        ],
    )
    row = probe_row("web", snapshot=state, recovery=RECOVERED)
    assert row == {
        "kind": "probe",
        "name": "web",
        "source": "probe",
        "threshold": "≥ 90% pass",
        "tolerance": "-",
        "baseline": "5/5 passed",
        "fault_worst": "1/4 passed",
        "recovery": "2/3 passed",  # neither fault samples nor another probe's count
        "failed_in": ["inject"],  # 25 % is under the 90 % it needs
        "passed": False,
        "time_to_recover_s": 2.0,
    }


def test_a_probe_tolerated_during_the_fault_does_not_fail_there():
    state = snapshot(
        probes=("web",),
        tolerated=("web",),
        checks={Phase.INJECT: check(Phase.INJECT, probes=[probe("web", 4, 0, tolerated=True)])},
    )
    row = probe_row("web", snapshot=state, recovery=None)
    assert row["tolerance"] == "not judged in fault"
    assert row["fault_worst"] == "0/4 passed"
    assert row["baseline"] is None and row["recovery"] is None  # not sampled there
    assert row["failed_in"] == [] and row["passed"]


def test_an_sli_row_reads_its_thresholds_in_the_metric_unit():
    state = snapshot(
        slis=(ERRORS, P99, QUEUE),
        checks={Phase.INJECT: check(Phase.INJECT, slis=[sli("p99", Phase.INJECT, 1500.0)])},
        values={"p99": SliValues(baseline=120.0, recovery=150.0)},
    )
    found = {row["name"]: row for row in rows(state, recovery=None)}
    assert found["errors"]["threshold"] == "< 1%"
    assert found["errors"]["tolerance"] == "breaches < 3s"
    assert found["p99"]["threshold"] == "< 300ms"
    assert found["p99"]["tolerance"] == "< 2000ms in fault; breaches < 2s"
    assert found["queue"]["source"] == "prometheus"
    assert found["queue"]["tolerance"] == "< 500 in fault"
    p99 = found["p99"]
    assert (p99["baseline"], p99["fault_worst"], p99["recovery"]) == (120.0, 1500.0, 150.0)
    assert found["errors"]["baseline"] is None  # no data


def test_an_sli_tolerated_during_the_fault_says_so_instead_of_its_fault_threshold():
    state = snapshot(slis=(P99,), tolerated=("p99",))
    row = sli_row(P99, snapshot=state, recovery=None)
    assert row["tolerance"] == "not judged in fault; breaches < 2s"


def test_an_sli_that_never_recovered_failed_in_recovery_too():
    baseline = [sli("errors", Phase.BASELINE, 0.0), sli("p99", Phase.BASELINE, 90.0)]
    fault = [sli("errors", Phase.INJECT, 0.4, holds=False), sli("p99", Phase.INJECT, 900.0)]
    state = snapshot(
        slis=(ERRORS, P99),
        checks={
            Phase.BASELINE: check(Phase.BASELINE, slis=baseline),
            Phase.INJECT: check(Phase.INJECT, slis=fault),
        },
    )
    stuck = RecoveryCheck(False, None, 30, "did not recover", {"errors": None, "p99": 1.5})
    found = {row["name"]: row for row in rows(state, recovery=stuck)}
    assert found["errors"]["failed_in"] == ["inject", "recovery"]
    assert not found["errors"]["passed"] and found["errors"]["time_to_recover_s"] is None
    assert found["p99"]["failed_in"] == [] and found["p99"]["passed"]
    assert found["p99"]["time_to_recover_s"] == 1.5


def test_rows_come_slis_first_then_probes():
    state = snapshot(slis=(ERRORS,), probes=("web", "api"))
    assert [(r["kind"], r["name"]) for r in rows(state, recovery=None)] == [
        ("sli", "errors"),
        ("probe", "web"),
        ("probe", "api"),
    ]
