"""``chaos run`` against the real lab writes every report, compares with earlier runs,
and refuses an unwritable report path before anything is injected."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import jsonschema
import pytest
import xmlschema
from junitparser import Failure, JUnitXml

from chaos.host import proxyctl
from chaos.report.document import schema_text
from tests.e2e.conftest import Lab
from tests.support import tmpfs

pytestmark = pytest.mark.slow
JUNIT_XSD = Path(__file__).resolve().parents[1] / "report" / "junit-10.xsd"

# a short store outage under load: 2 s of baseline, 3 s of fault, up to 8 s of recovery
EXPERIMENT = """\
apiVersion: chaos/v1
kind: Experiment
metadata: {name: report-store-outage, description: "Reports of a short outage"}
spec:
  targets:
    store: {kind: process, selector: {labels: {app: store}}}
  load:
    host: "${CHAOS_VAR_LAB_URL}"
    users: 4
    wait: 50ms
    tasks: [{name: homepage, path: /}]
  steadyState:
    slis:
      - {name: errors, metric: error_ratio, threshold: "< 5%", window: 2s}
      - {name: p99, metric: latency_p99_ms, threshold: "< 800", window: 2s}
      - {name: throughput, metric: throughput_rps, threshold: "> 5", window: 2s}
    probes:
      - {name: homepage, http: {url: "${CHAOS_VAR_LAB_URL}/", timeout: 2s}}
  phases: {baseline: 2s, recovery: 8s, recoverySamples: 2}
  method:
    - fault: network-partition
      target: store
      params: {direction: in, action: reject}
      duration: 3s
  stopConditions:
    - {name: error budget, sli: errors, threshold: "> 50%", for: 1s}
  safety: {maxTargets: 1}
"""


@pytest.fixture
def experiment(tmp_path: Path) -> Path:
    path = tmp_path / "report-store-outage.yaml"
    path.write_text(EXPERIMENT)
    return path


@pytest.fixture
def db(tmp_path: Path) -> str:
    """A store of this test's own: ``latest-pass`` sees only the runs made here."""
    return f"sqlite:///{tmp_path / 'reports.db'}"


def run(lab: Lab, experiment: Path, db: str, *args: str) -> subprocess.CompletedProcess[str]:
    return lab.chaos("run", str(experiment), "--lab", lab.state.lab_id, "--db", db, *args)


def reports(out: Path) -> list[str]:
    return [
        "--junit",
        str(out / "junit.xml"),
        "--json",
        str(out / "run.json"),
        "--markdown",
        str(out / "summary.md"),
        "--html",
        str(out / "report.html"),
    ]


def test_a_run_writes_every_report(
    resilient_lab: Lab, experiment: Path, db: str, tmp_path: Path
) -> None:
    out = tmp_path / "reports" / "first"  # made by chaos run
    result = run(resilient_lab, experiment, db, *reports(out))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"reports: {out / 'junit.xml'}" in result.stdout

    document = json.loads((out / "run.json").read_text())
    schema = json.loads(schema_text())
    jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker()).validate(
        document
    )
    assert document["run"]["status"] == "passed"
    assert document["gate"]["exit_code"] == 0
    assert document["missing"] == []
    (fault,) = document["faults"]
    assert fault["outcome"] == "reverted"
    assert 2.5 < fault["ended_s"] - fault["applied_s"] < 4.5
    assert len(document["series"]["load"]) >= 8  # a point per second of load
    assert {row["name"] for row in document["verdict"]} == {
        "errors",
        "p99",
        "throughput",
        "homepage",
    }

    xmlschema.XMLSchema(JUNIT_XSD).validate(out / "junit.xml")
    suites = JUnitXml.fromfile(str(out / "junit.xml"))
    cases = [case for suite in suites for case in suite]
    assert cases and all(case.is_passed or case.is_skipped for case in cases)
    assert any("p99" in case.name for case in cases)

    summary = (out / "summary.md").read_text()
    assert "PASSED" in summary and "report-store-outage" in summary
    page = (out / "report.html").read_text()
    assert "<svg" in page and "report-store-outage" in page

    # the stored run renders the same reports later
    again = resilient_lab.chaos(
        "report", document["run"]["id"], "--db", db, "--json", str(tmp_path / "again.json")
    )
    assert again.returncode == 0, again.stderr
    stored = json.loads((tmp_path / "again.json").read_text())
    assert stored["run"] == document["run"]
    assert stored["verdict"] == document["verdict"]


def test_a_run_is_compared_with_earlier_ones(
    resilient_lab: Lab, experiment: Path, db: str, tmp_path: Path
) -> None:
    first = run(resilient_lab, experiment, db, "--json", str(tmp_path / "first.json"))
    assert first.returncode == 0, first.stdout + first.stderr
    earlier = json.loads((tmp_path / "first.json").read_text())

    second = run(
        resilient_lab, experiment, db, "--compare-to", "latest-pass", *reports(tmp_path / "2")
    )
    assert second.returncode == 0, second.stdout + second.stderr
    comparison = json.loads((tmp_path / "2" / "run.json").read_text())["comparison"]
    assert comparison["against"]["run_id"] == earlier["run"]["id"]
    assert comparison["compared"]

    # an earlier report (main's CI artifact, say) in which p99 during the fault was far
    # lower: the next run regressed, and --fail-on-regression fails the gate
    for row in earlier["verdict"]:
        if row["name"] == "p99":
            row["fault_worst"] = 0.01
    (tmp_path / "main.json").write_text(json.dumps(earlier))
    third = run(
        resilient_lab,
        experiment,
        db,
        "--compare-to",
        str(tmp_path / "main.json"),
        "--fail-on-regression",
        *reports(tmp_path / "3"),
    )
    assert third.returncode == 1, third.stdout + third.stderr
    document = json.loads((tmp_path / "3" / "run.json").read_text())
    assert document["run"]["status"] == "passed"  # the run itself passed...
    assert document["gate"]["status"] == "failed"  # ...the gate did not
    regressed = [(r["name"], r["measure"]) for r in document["comparison"]["regressions"]]
    # the doctored figure is flagged; other measures of these two real runs may also
    # differ by more than the margin on a busy machine (p99 at the end of recovery, say)
    assert ("p99", "fault_worst") in regressed, regressed
    suites = JUnitXml.fromfile(str(tmp_path / "3" / "junit.xml"))
    failures = [
        result.message
        for suite in suites
        for case in suite
        for result in case.result
        if isinstance(result, Failure)
    ]
    assert any("p99" in (message or "") for message in failures), failures
    assert "p99" in (tmp_path / "3" / "summary.md").read_text()
    assert "regression" in (tmp_path / "3" / "report.html").read_text().lower()


@pytest.fixture
def read_only_dir(tmp_path: Path) -> Iterator[Path]:
    if os.geteuid() != 0:
        pytest.skip("mounting a read-only tmpfs needs root")
    with tmpfs(tmp_path / "ro", "ro,size=1m") as where:
        yield where


def test_an_unwritable_report_path_stops_the_run_before_it_starts(
    resilient_lab: Lab, experiment: Path, db: str, read_only_dir: Path, tmp_path: Path
) -> None:
    result = run(
        resilient_lab,
        experiment,
        db,
        "--json",
        str(tmp_path / "fine.json"),
        "--html",
        str(read_only_dir / "report.html"),
    )
    assert result.returncode == 2, result.stdout + result.stderr
    assert f"--html {read_only_dir / 'report.html'}: cannot write there" in result.stderr
    assert "run id" not in result.stdout  # no run was started...
    listed = resilient_lab.chaos("runs", "list", "--db", db)
    assert "report-store-outage" not in listed.stdout  # ...or stored
    links = proxyctl.list_links(resilient_lab.state.control_url)
    assert all(not link.toxics for link in links)  # and nothing was injected
    assert not (tmp_path / "fine.json").exists()

    unknown = run(resilient_lab, experiment, db, "--compare-to", "nosuchrun")
    assert unknown.returncode == 2
    assert "--compare-to nosuchrun: no such run" in unknown.stderr
    assert "report-store-outage" not in resilient_lab.chaos("runs", "list", "--db", db).stdout
