"""The GitHub Action, for real, against the real lab: a fresh virtual environment with the
platform pip-installed from a checkout, ``chaos lab up`` on free ports, a whole
experiment under Locust load, the reports, the artifact, the gate, and the lab stopped
afterwards. Steps run under the local stand-in for GitHub's runner (action_runner.py)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from chaos.host import procfs
from chaos.lab.manage import is_lab_supervisor, lab_down
from tests.ci.action_runner import JobResult, StepResult, load_action, run_action
from tests.support import free_base_port, pid_alive

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
REPORTS = {"junit.xml", "run.json", "summary.md", "report.html", "console.log"}

# The store refuses connections for 4 s under load. ${CHAOS_VAR_LAB_URL} has no default on
# purpose: unless the action exports the lab's URL, the experiment is invalid (exit 2).
STORE_OUTAGE = """\
apiVersion: chaos/v1
kind: Experiment
metadata:
  name: {name}
spec:
  targets:
    store: {{kind: process, selector: {{labels: {{app: store}}}}}}
  load:
    host: "${{CHAOS_VAR_LAB_URL}}"
    users: 4
    wait: 50ms
    timeout: 5s
    tasks: [{{name: homepage, path: /}}]
  steadyState:
    slis:
      - {{name: errors, metric: error_ratio, threshold: "< 1%", window: 3s}}
      - {{name: p99, metric: latency_p99_ms, threshold: "< 500", window: 3s, duringFault: "< 1500"}}
    probes:
      - name: homepage
        http: {{url: "${{CHAOS_VAR_LAB_URL}}/", status: 200, timeout: 1500ms}}
  phases: {{baseline: 3s, recovery: 8s, recoverySamples: 2}}
  method:
    - fault: network-partition
      target: store
      params: {{direction: in, action: reject}}
      duration: 4s
  safety: {{maxTargets: 1}}
"""


@pytest.fixture(scope="module")
def checkout(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The action as a workflow gets it: this repository's files (tracked and new ones,
    not ignored ones), copied, so pip's in-tree build leaves nothing in the working tree."""
    destination = tmp_path_factory.mktemp("action-checkout")
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        source = REPO / name
        if source.is_file():  # a tracked file deleted in the working tree is not there
            (destination / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, destination / name)
    return destination


@pytest.fixture(scope="module")
def runner_temp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One runner's temp dir for both tests: the first install builds the venv, the
    second reuses it (as a second use of the action in one job does)."""
    return tmp_path_factory.mktemp("runner-temp")


@dataclass(frozen=True)
class ActionRun:
    result: JobResult
    workspace: Path
    home: Path
    lab_id: str
    base_port: int
    lab_state: dict[str, Any]  # state.json as it was right after the lab came up

    def artifact(self) -> Path:
        return self.result.artifacts / "chaos-reports"

    def report(self) -> dict[str, Any]:
        return json.loads((self.artifact() / "run.json").read_text())


@pytest.fixture
def run_the_action(checkout: Path, runner_temp: Path, tmp_path: Path) -> Iterator:
    started: list[tuple[Path, str]] = []

    def run(*, name: str, variant: str) -> ActionRun:
        home, workspace = tmp_path / "chaos-home", tmp_path / "workspace"
        (workspace / "chaos").mkdir(parents=True)
        (workspace / "chaos" / f"{name}.yaml").write_text(STORE_OUTAGE.format(name=name))
        lab_id, base_port = f"ci-{name}-{os.getpid()}", free_base_port()
        started.append((home, lab_id))
        env = {k: v for k, v in os.environ.items() if not k.startswith(("CHAOS_", "GITHUB_"))}
        env.update(CHAOS_HOME=str(home), COLUMNS="120")
        snapshot: dict[str, Any] = {}

        def remember_the_lab(step: StepResult) -> None:
            if step.id == "lab" and step.outcome == "success":
                state = home / "labs" / lab_id / "state.json"
                snapshot.update(json.loads(state.read_text()))

        result = run_action(
            load_action(checkout),
            inputs={
                "experiment": f"chaos/{name}.yaml",
                "lab": "true",
                "lab-id": lab_id,
                "lab-variant": variant,
                "lab-args": f"--base-port {base_port}",
            },
            workspace=workspace,
            runner_temp=runner_temp,
            artifacts=tmp_path / "artifacts",
            env=env,
            after_step=remember_the_lab,
        )
        install = result.step("install")
        print(f"\n[{name}] install step: {install.duration_s:.1f} s ({install.outcome})")
        return ActionRun(result, workspace, home, lab_id, base_port, snapshot)

    yield run
    for home, lab_id in started:  # only if a test failed before the action stopped its lab
        lab_down(chaos_home=home, lab_id=lab_id)


def assert_lab_is_down(run: ActionRun) -> None:
    status = subprocess.run(
        [sys.executable, "-m", "chaos", "lab", "status", "--lab", run.lab_id],
        env={**os.environ, "CHAOS_HOME": str(run.home)},
        capture_output=True,
        text=True,
        check=False,
    )
    assert (status.returncode, status.stdout.strip()) == (4, f"lab {run.lab_id}: not running")
    supervisor = run.lab_state["supervisor_pid"]
    assert not is_lab_supervisor(supervisor, lab_id=run.lab_id)
    for service in run.lab_state["services"]:
        pid = service["pid"]
        environ = procfs.read_environ(pid) if pid_alive(pid) else None
        assert not environ or environ.get("CHAOS_LAB_ID") != run.lab_id, service


def test_a_passing_experiment_on_the_lab_passes_the_job(run_the_action, runner_temp):
    run = run_the_action(name="ci-store-outage-pass", variant="resilient")
    result = run.result
    assert result.succeeded, result.transcript()
    reports = run.workspace / "chaos-reports"
    assert result.outputs == {"verdict": "passed", "exit-code": "0", "reports-dir": str(reports)}
    assert result.path == (str(runner_temp / "chaos-venv" / "bin"),)
    assert result.env == {
        "CHAOS_LAB": run.lab_id,
        "CHAOS_VAR_LAB_URL": f"http://127.0.0.1:{run.base_port}",
    }
    assert run.lab_state["services"][0]["port"] >= run.base_port

    artifact = run.artifact()
    files = {str(p.relative_to(artifact)) for p in artifact.rglob("*") if p.is_file()}
    assert files >= REPORTS and "lab-logs/supervisor.log" in files
    report = run.report()
    assert (report["run"]["status"], report["run"]["exit_code"]) == ("passed", 0)
    assert report["run"]["lab"] == run.lab_id
    suite = ET.parse(artifact / "junit.xml").getroot()
    assert suite.iter("testcase") and not list(suite.iter("failure"))
    summary = (artifact / "summary.md").read_text()
    assert summary and summary in result.summary
    assert "run id" in (artifact / "console.log").read_text()
    assert result.step("lab-down").outcome == "success"
    assert result.errors() == []
    assert_lab_is_down(run)


def test_a_failed_verdict_fails_the_job_after_upload_and_teardown(run_the_action):
    run = run_the_action(name="ci-store-outage-fail", variant="fragile")
    result = run.result
    assert not result.succeeded
    gate = result.step("gate")
    assert (gate.outcome, gate.exit_code) == ("failure", 1), result.transcript()
    assert result.outputs["verdict"] == "failed" and result.outputs["exit-code"] == "1"
    report = run.report()
    assert (report["run"]["status"], report["run"]["exit_code"]) == ("failed", 1)
    first_reason = report["run"]["reasons"][0].splitlines()[0]
    experiment = "chaos/ci-store-outage-fail.yaml"
    assert result.errors() == [f"chaos run {experiment}: verdict failed (exit 1): {first_reason}"]
    assert result.step("upload").outcome == "success"
    assert result.step("lab-down").outcome == "success"
    files = {p.name for p in run.artifact().iterdir()}
    assert files >= REPORTS
    assert (run.artifact() / "summary.md").read_text() in result.summary
    assert_lab_is_down(run)
