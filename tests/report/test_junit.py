"""The JUnit XML report, read the way CI servers read it: validated against the JUnit
schema Jenkins uses and parsed with junitparser.

junit-10.xsd is the Jenkins xunit plugin's JUnit schema (MIT), copied from pytest 9.2.0
(testing/example_scripts/junit-10.xsd), which validates its own output against it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import xmlschema
from junitparser import Error, Failure, JUnitXml, Skipped, SystemOut, TestCase, TestSuite

from chaos.report.compare import compare
from chaos.report.junit import render_junit
from tests.report import samples
from tests.report.samples import REASON

SCHEMA = xmlschema.XMLSchema(Path(__file__).with_name("junit-10.xsd"))
HOSTILE = 'a\nb\r\n\x00\x1b[31m <&> "quoted" ]]>'


def parsed(document: dict[str, Any], tmp_path: Path) -> TestSuite:
    """The report as a CI server sees it: a schema-valid file with one suite."""
    text = render_junit(document)
    SCHEMA.validate(text)
    path = tmp_path / "junit.xml"
    path.write_text(text, encoding="utf-8")
    suites = list(JUnitXml.fromfile(str(path)))
    assert len(suites) == 1
    return suites[0]


def cases(suite: TestSuite) -> dict[str, TestCase]:
    found = {case.name: case for case in suite}
    assert len(found) == len(list(suite)), "case names must be unique"
    return found


def result(case: TestCase) -> Failure | Error | Skipped | None:
    results = case.result
    assert len(results) <= 1
    return results[0] if results else None


def properties(suite: TestSuite) -> dict[str, str]:
    return {prop.name: prop.value for prop in suite.properties()}


@pytest.mark.parametrize("name", sorted(samples.ALL))
def test_every_sample_validates_and_its_counts_match_its_cases(name: str, tmp_path: Path) -> None:
    suite = parsed(samples.ALL[name](), tmp_path)
    results = [result(case) for case in suite]
    assert suite.tests == len(results) > 0
    assert suite.failures == sum(isinstance(r, Failure) for r in results)
    assert suite.errors == sum(isinstance(r, Error) for r in results)
    assert suite.skipped == sum(isinstance(r, Skipped) for r in results)
    for case in suite:
        assert case.classname.startswith("chaos.shop-latency")
        for outcome in case.result:
            assert outcome.message and "\n" not in outcome.message


def test_the_schema_rejects_a_broken_report() -> None:
    """The validation above has teeth: a case without a name is not JUnit."""
    text = render_junit(samples.passing_document())
    assert SCHEMA.is_valid(text)
    assert not SCHEMA.is_valid(text.replace('name="run verdict" ', "", 1))


def test_a_passing_run_is_a_green_suite_with_one_case_per_signal_and_phase(
    tmp_path: Path,
) -> None:
    document = samples.passing_document()
    suite = parsed(document, tmp_path)
    found = cases(suite)
    assert (suite.failures, suite.errors, suite.skipped) == (0, 0, 0)
    assert suite.name == "shop-latency"
    assert suite.time == pytest.approx(18.5)
    assert suite.hostname == "ci-runner"
    assert suite.timestamp == document["run"]["started_at"]
    for signal in ("SLI errors", "SLI p99", "SLI throughput", "probe home"):
        for phase, words in (
            ("baseline", "in baseline"),
            ("inject", "during fault"),
            ("recovery", "in recovery"),
        ):
            case = found[f"{signal} {words}"]
            assert case.classname == f"chaos.shop-latency.{phase}"
            assert case.is_passed
    assert found["probe home during fault"].system_out.splitlines() == [
        "during fault: 8/8 passed",
        "threshold: ≥ 100% pass; tolerance: -",
        "phase inject: t+6.0s to t+14.0s",
    ]
    assert sum(case.time for case in suite) == pytest.approx(18.5 + 1.0)  # run + recovery
    assert "reverted" in found["all faults reverted"].system_out
    assert found["recovered after faults"].time == pytest.approx(1.0)
    assert found["stop condition error budget not tripped"].is_passed
    assert found["run verdict"].is_passed
    assert found["data complete"].is_passed
    assert "no regression" not in found  # no comparison was asked for
    assert properties(suite) == {
        "chaos.run_id": "pass0000abcd",
        "chaos.status": "passed",
        "chaos.exit_code": "0",
        "chaos.source": "experiments/shop-latency.yaml",
        "chaos.gate_status": "passed",
        "chaos.gate_exit_code": "0",
    }


def test_the_failing_slis_case_says_threshold_worst_value_and_phase(tmp_path: Path) -> None:
    suite = parsed(samples.failing_document(), tmp_path)
    found = cases(suite)
    failure = result(found["SLI p99 during fault"])
    assert isinstance(failure, Failure)
    assert failure.message == "SLI p99 broke < 1500ms during fault: worst 1800ms"
    assert failure.type == "chaos.sli"
    assert REASON in found["SLI p99 during fault"].system_out
    assert found["SLI p99 in baseline"].is_passed
    assert found["SLI p99 in recovery"].is_passed
    verdict = result(found["run verdict"])
    assert isinstance(verdict, Failure)
    assert verdict.message.startswith(f"failed: {REASON}")
    assert (suite.failures, suite.errors) == (2, 0)


def test_an_aborted_run_skips_the_phases_it_never_reached(tmp_path: Path) -> None:
    suite = parsed(samples.aborted_document(), tmp_path)
    found = cases(suite)
    for name in ("SLI p99 in recovery", "probe home in recovery", "recovered after faults"):
        skipped = result(found[name])
        assert isinstance(skipped, Skipped)
        assert skipped.message == "not reached: the run was aborted during inject"
    assert found["SLI p99 during fault"].is_passed
    tripped = result(found["stop condition error budget not tripped"])
    assert isinstance(tripped, Failure)
    assert tripped.message == (
        "stop condition tripped: error budget (errors > 20%) (35.00%) at t+8.5s"
    )
    verdict = result(found["run verdict"])
    assert isinstance(verdict, Failure)
    assert verdict.type == "chaos.aborted"
    assert suite.skipped == 5


def test_an_unreverted_fault_is_an_error_naming_it(tmp_path: Path) -> None:
    suite = parsed(samples.error_document(), tmp_path)
    found = cases(suite)
    unreverted = result(found["all faults reverted"])
    assert isinstance(unreverted, Error)
    assert unreverted.message == (
        "not confirmed reverted: latency on store [store-0 (pid 4242)]: "
        "agent at 10.0.0.7:9000 did not answer"
    )
    assert isinstance(result(found["run verdict"]), Error)
    assert properties(suite)["chaos.exit_code"] == "4"
    assert suite.errors == 2


def test_a_bare_document_still_makes_a_valid_report(tmp_path: Path) -> None:
    document = samples.interrupted_document()
    for key in ("verdict", "faults", "series", "timeline", "phases", "recovery", "gate"):
        document.pop(key)
    found = cases(parsed(document, tmp_path))
    assert isinstance(result(found["run verdict"]), Error)
    assert isinstance(result(found["data complete"]), Skipped)


def test_an_interrupted_run_is_an_error_with_its_gaps_listed(tmp_path: Path) -> None:
    document = samples.interrupted_document()
    suite = parsed(document, tmp_path)
    found = cases(suite)
    verdict = result(found["run verdict"])
    assert isinstance(verdict, Error)
    assert verdict.message == "interrupted: the process running this run died"
    left = result(found["all faults reverted"])
    assert isinstance(left, Error)
    assert "still active when the run ended" in left.message
    no_verdict = result(found["SLI p99 during fault"])
    assert isinstance(no_verdict, Skipped)
    assert no_verdict.message == "no verdict was stored for this run"
    assert result(found["SLI p99 in recovery"]).message == (
        "not reached: the run was interrupted during inject"
    )
    gaps = result(found["data complete"])
    assert isinstance(gaps, Skipped)
    assert found["data complete"].system_out.splitlines() == document["missing"]
    assert "chaos.exit_code" not in properties(suite)  # it never got one
    assert suite.time == pytest.approx(6.05)  # as far as its record goes


def test_each_regression_is_a_failure_naming_the_earlier_run(tmp_path: Path) -> None:
    suite = parsed(samples.regressed_document(fail_on_regression=True), tmp_path)
    found = cases(suite)
    regression = result(found["no regression in SLI p99 worst during fault"])
    assert isinstance(regression, Failure)
    assert regression.message == (
        "p99 worst during fault: 450ms → 900ms (+100%): "
        "worse than run prev0000abcd by more than 10%"
    )
    assert found["no regression in SLI p99 worst during fault"].classname == (
        "chaos.shop-latency.comparison"
    )
    assert found["run verdict"].is_passed  # the run passed; the gate failed it
    assert (
        properties(suite).items()
        >= {
            "chaos.status": "passed",
            "chaos.gate_status": "failed",
            "chaos.gate_exit_code": "1",
            "chaos.compared_against": "prev0000abcd",
        }.items()
    )
    assert (suite.failures, suite.errors) == (1, 0)


def test_a_comparison_without_regressions_is_one_passing_case(tmp_path: Path) -> None:
    document = samples.passing_document()
    document["comparison"] = compare(document, samples.passing_document(), margin_pct=10.0)
    found = cases(parsed(document, tmp_path))
    assert found["no regression"].is_passed
    assert found["no regression"].system_out == "compared against run pass0000abcd (margin 10%)"


def test_nothing_to_compare_with_is_skipped_with_the_reason(tmp_path: Path) -> None:
    found = cases(parsed(samples.first_ci_run_document(), tmp_path))
    skipped = result(found["no regression"])
    assert isinstance(skipped, Skipped)
    assert skipped.message.startswith("no earlier passed run of shop-latency in the store")


def test_a_signal_not_judged_during_the_fault_is_skipped_there(tmp_path: Path) -> None:
    document = samples.passing_document()
    document["verdict"][0]["tolerance"] = "not judged in fault"
    document["verdict"][0]["thresholds"]["inject"] = None  # as build_document says it
    found = cases(parsed(document, tmp_path))
    skipped = result(found["SLI errors during fault"])
    assert isinstance(skipped, Skipped)
    assert skipped.message == "not judged while faults were active (tolerated)"
    assert found["SLI errors in recovery"].is_passed


def test_hostile_text_stays_well_formed_and_one_line(tmp_path: Path) -> None:
    document = samples.aborted_document()
    document["run"]["experiment"] = f"shop-latency{HOSTILE}"
    document["stop_conditions"][0]["message"] = HOSTILE
    document["run"]["reasons"] = [HOSTILE]
    suite = parsed(document, tmp_path)
    tripped = result(cases(suite)["stop condition error budget not tripped"])
    assert tripped.message == 'a b \ufffd\ufffd[31m <&> "quoted" ]]> at t+8.5s'
    assert suite.name == 'shop-latencya b \ufffd\ufffd[31m <&> "quoted" ]]>'
    detail = suite.child(SystemOut).text.splitlines()  # detail keeps its lines
    assert detail[:3] == [
        "run abor0000abcd of shop-latencya",
        "b",
        '\ufffd\ufffd[31m <&> "quoted" ]]>: aborted',
    ]
