"""The report document: its published schema, what it says of each kind of run, and what
it says is missing. The documents come from tests/report/samples.py (real
``build_document`` on stored-run records); tests/e2e/test_run_reports.py checks the
same things on real runs."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import jsonschema
import pytest

from chaos.report.document import SCHEMA_VERSION, apply_gate, build_document, schema_text
from chaos.store.records import LoadWindowRecord, RunDetail
from tests.report import samples


def validator() -> jsonschema.Draft202012Validator:
    schema = json.loads(schema_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())


@pytest.mark.parametrize("name", sorted(samples.ALL))
def test_every_kind_of_run_matches_the_published_schema(name: str) -> None:
    document = samples.ALL[name]()
    problems = [f"{list(e.path)}: {e.message}" for e in validator().iter_errors(document)]
    assert problems == []
    assert json.loads(json.dumps(document)) == document  # plain JSON, nothing lost


def test_the_schema_rejects_what_it_should() -> None:
    document = samples.passing_document()
    broken: list[dict[str, Any]] = [
        {**document, "schema_version": 2},
        {**document, "run": {**document["run"], "status": "fine"}},
        {**document, "surprise": True},
        {k: v for k, v in document.items() if k != "gate"},
    ]
    for candidate in broken:
        assert list(validator().iter_errors(candidate)), candidate.keys()
    assert document["schema_version"] == SCHEMA_VERSION


def test_a_passing_run_reads_as_it_happened() -> None:
    document = samples.passing_document()
    assert document["run"]["status"] == "passed"
    assert document["gate"] == {"status": "passed", "exit_code": 0, "reasons": []}
    assert [p["name"] for p in document["phases"]] == [
        "preflight",
        "baseline",
        "inject",
        "revert",
        "recovery",
    ]
    (fault,) = document["faults"]
    assert (fault["applied_s"], fault["ended_s"], fault["outcome"]) == (6.05, 14.0, "reverted")
    rows = {row["name"]: row for row in document["verdict"]}
    assert rows["p99"]["display"] == {
        "baseline": "120ms",
        "fault_worst": "900ms",
        "recovery": "120ms",
    }
    # a probe's figures are pass ratios for tools, and the words people read
    assert rows["home"]["baseline"] == 1.0
    assert rows["home"]["display"]["baseline"] == "5/5 passed"
    p99 = next(s for s in document["series"]["slis"] if s["name"] == "p99")
    assert p99["threshold"] == {"op": "<", "value": 500.0}
    assert p99["during_fault"] == {"op": "<", "value": 1500.0}
    assert len(document["series"]["load"]) == 18
    assert document["series"]["load"][0]["t_s"] == 0
    assert document["missing"] == []


def test_an_unreverted_fault_and_a_tripped_stop_condition_are_reported() -> None:
    error = samples.error_document()
    assert error["faults"][0]["outcome"] == "revert_failed"
    assert error["run"]["unreverted"]
    aborted = samples.aborted_document()
    (condition,) = aborted["stop_conditions"]
    assert condition["tripped"] and condition["tripped_s"] == 8.5
    assert condition["threshold"] == "> 20%"  # the SLI's unit, not the raw ratio


def test_an_interrupted_run_says_what_is_missing() -> None:
    document = samples.interrupted_document()
    assert document["verdict"] == []
    assert document["faults"][0]["outcome"] == "active_at_end"
    assert document["faults"][0]["ended_s"] is None
    missing = document["missing"]
    assert "no verdict: the process running this run died before it finished" in missing
    assert "no load samples were stored (the run ended before the load started)" in missing
    assert "no points were stored for SLI p99" in missing
    assert "no samples were stored for probe home" in missing


def test_seconds_without_load_samples_are_named() -> None:
    detail = samples.passing_detail()
    kept = tuple(w for w in detail.load if not 8 <= w.second - samples.T0 <= 10)
    document = build_document(
        RunDetail(detail.run, detail.events, detail.samples, kept, detail.sli_points)
    )
    assert document["missing"] == ["3 second(s) of load samples are missing (t+8s..t+10s)"]


def test_a_load_value_that_is_not_a_number_becomes_null() -> None:
    detail = samples.passing_detail()
    first = detail.load[0]
    odd = LoadWindowRecord(
        **{**first.__dict__, "metrics": {**first.metrics, "latency_p99_ms": float("nan")}}
    )
    document = build_document(
        RunDetail(
            detail.run, detail.events, detail.samples, (odd, *detail.load[1:]), detail.sli_points
        )
    )
    assert document["series"]["load"][0]["latency_p99_ms"] is None
    json.dumps(document, allow_nan=False)


def test_the_gate_fails_a_passing_run_only_when_asked_and_regressed() -> None:
    regressed = samples.regressed_document()
    assert regressed["gate"]["exit_code"] == 0  # flagged, but not asked to fail
    assert [r["name"] for r in regressed["comparison"]["regressions"]] == ["p99"]
    failed = samples.regressed_document(fail_on_regression=True)
    assert failed["gate"]["status"] == "failed"
    assert failed["gate"]["exit_code"] == 1
    assert failed["gate"]["reasons"] == [
        "regression: p99 worst during fault: 450ms → 900ms (+100%)"
    ]
    assert failed["run"]["status"] == "passed"  # the run's own verdict is unchanged
    # a run that already failed keeps its own outcome and reasons
    failing = apply_gate(samples.failing_document(), fail_on_regression=True)
    assert failing["gate"]["reasons"] == failing["run"]["reasons"]


def test_each_row_says_what_it_was_held_to_in_each_phase() -> None:
    rows = {row["name"]: row for row in samples.passing_document()["verdict"]}
    assert rows["p99"]["thresholds"] == {
        "baseline": "< 500ms",
        "inject": "< 1500ms",  # its looser duringFault threshold
        "recovery": "< 500ms",
    }
    assert rows["errors"]["thresholds"]["inject"] == "< 1%"
    detail = samples.passing_detail()
    verdict = dict(detail.run.verdict or {})
    verdict["explanation"] = [
        {**row, "tolerance": "not judged in fault"} if row["name"] == "errors" else row
        for row in verdict["explanation"]
    ]
    tolerated = build_document(
        RunDetail(
            dataclasses.replace(detail.run, verdict=verdict),
            detail.events,
            detail.samples,
            detail.load,
            detail.sli_points,
        )
    )
    errors = next(row for row in tolerated["verdict"] if row["name"] == "errors")
    assert errors["thresholds"] == {"baseline": "< 1%", "inject": None, "recovery": "< 1%"}
