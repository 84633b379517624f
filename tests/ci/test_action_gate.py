"""The action's wiring, with a stand-in ``chaos`` that plays a planned outcome: which
arguments reach ``chaos run``, how the verdict and the first reason become outputs, the
job summary, the artifact and the gate's exit code and annotation. The real CLI against
the real lab: test_action.py."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.ci.action_runner import Action, JobResult, load_action, run_action
from tests.ci.cli_options import unknown_options

REPO = Path(__file__).resolve().parents[2]
FAKE_CHAOS = Path(__file__).resolve().parent / "fake_chaos"
REPORTS = {"junit.xml", "run.json", "summary.md", "report.html", "console.log"}


@pytest.fixture(scope="module")
def action() -> Action:
    return load_action(REPO)


@pytest.fixture(scope="module")
def runner_temp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Shared by the tests here, like one runner's temp dir: the venv is built once."""
    return tmp_path_factory.mktemp("runner-temp")


@pytest.fixture(scope="module")
def fake_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The stand-in built once (from a copy: a build writes into its source tree), so
    installing it again is pip's quick "already satisfied"."""
    source = tmp_path_factory.mktemp("fake-chaos-src")
    shutil.copytree(FAKE_CHAOS, source, dirs_exist_ok=True, ignore=shutil.ignore_patterns("build"))
    wheels = tmp_path_factory.mktemp("fake-chaos-wheel")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "-w",
            str(wheels),
            str(source),
        ],
        check=True,
        capture_output=True,
    )
    (wheel,) = wheels.glob("*.whl")
    return wheel


class Played:
    def __init__(self, result: JobResult, calls: list[list[str]], workspace: Path) -> None:
        self.result, self.workspace = result, workspace
        self.runs = [call for call in calls if call[:1] == ["run"]]

    @property
    def gate(self):
        return self.result.step("gate")

    def artifact_files(self, name: str = "chaos-reports") -> set[str]:
        root = self.result.artifacts / name
        return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}


@pytest.fixture
def play(action: Action, runner_temp: Path, fake_wheel: Path, tmp_path: Path):
    def play(plan: dict, **inputs: str) -> Played:
        return run_with_fake(action, runner_temp, fake_wheel, tmp_path, plan, **inputs)

    return play


def run_with_fake(
    action: Action, runner_temp: Path, wheel: Path, tmp_path: Path, plan: dict, **inputs: str
) -> Played:
    workspace = tmp_path / "workspace"
    workspace.mkdir(exist_ok=True)
    (tmp_path / "plan.json").write_text(json.dumps(plan))
    calls = tmp_path / "calls.jsonl"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CHAOS_", "GITHUB_"))}
    env.update(FAKE_CHAOS_PLAN=str(tmp_path / "plan.json"), FAKE_CHAOS_CALLS=str(calls))
    result = run_action(
        action,
        inputs={"experiment": "chaos/exp.yaml", "package": str(wheel), **inputs},
        workspace=workspace,
        runner_temp=runner_temp,
        artifacts=tmp_path / "artifacts",
        env=env,
    )
    recorded = (
        [json.loads(line) for line in calls.read_text().splitlines()] if calls.exists() else []
    )
    return Played(result, recorded, workspace)


def test_a_passed_run_passes_the_job_with_every_report(play, runner_temp):
    played = play({"exit_code": 0, "status": "passed"})
    result = played.result
    assert result.succeeded, result.transcript()
    reports = played.workspace / "chaos-reports"
    assert result.outputs == {"verdict": "passed", "exit-code": "0", "reports-dir": str(reports)}
    assert played.runs == [
        [
            "run",
            "chaos/exp.yaml",
            "--no-color",
            *("--junit", f"{reports}/junit.xml", "--json", f"{reports}/run.json"),
            *("--markdown", f"{reports}/summary.md", "--html", f"{reports}/report.html"),
        ]
    ]
    assert unknown_options(["run"], played.runs[0][2:]) == []
    assert result.path == (str(runner_temp / "chaos-venv" / "bin"),)
    assert "chaos 0.0.0+fake installed" in result.step("install").log
    assert result.summary == "## Chaos run fake-run-1\n\n**passed: hypothesis held**\n"
    assert played.artifact_files() == REPORTS
    assert result.step("lab").outcome == "skipped"
    assert result.errors() == []
    assert "verdict passed" in played.gate.log


def test_a_failed_verdict_fails_the_job_with_exit_1_after_uploading(play, tmp_path):
    reasons = ["errors: 31% > 1% during the fault (observe)", "p99: 2300 ms > 1500 ms"]
    played = play({"exit_code": 1, "status": "failed", "reasons": reasons})
    result = played.result
    assert not result.succeeded
    assert result.step("run").outcome == "success"  # the run step never fails by itself
    upload = result.step("upload")
    assert upload.outcome == "success"
    assert played.artifact_files() == REPORTS
    assert (played.gate.outcome, played.gate.exit_code) == ("failure", 1)
    assert result.outputs["verdict"] == "failed"
    assert result.errors() == [
        "chaos run chaos/exp.yaml: verdict failed (exit 1): "
        "errors: 31% > 1% during the fault (observe)"
    ]


@pytest.mark.parametrize(("code", "status"), [(3, "aborted"), (4, "error")])
def test_the_gate_fails_with_the_runs_own_exit_code(play, tmp_path, code, status):
    played = play({"exit_code": code, "status": status, "reasons": ["why"]})
    assert (played.gate.outcome, played.gate.exit_code) == ("failure", code)
    assert played.result.outputs["verdict"] == status
    assert played.result.errors() == [
        f"chaos run chaos/exp.yaml: verdict {status} (exit {code}): why"
    ]


def test_an_invalid_experiment_has_no_report_and_no_stale_one(play, tmp_path):
    stale = tmp_path / "workspace" / "chaos-reports"
    stale.mkdir(parents=True)
    for name in ("run.json", "summary.md"):  # an earlier run's, which must not pass for this one
        (stale / name).write_text(json.dumps({"run": {"status": "passed", "exit_code": 0}}))
    message = "chaos/exp.yaml:12:5: spec.method[0].fault: unknown fault 'cpu-hog'"
    played = play({"exit_code": 2, "output": message, "reports": False})
    result = played.result
    assert result.outputs["verdict"] == "invalid"
    assert (played.gate.outcome, played.gate.exit_code) == ("failure", 2)
    assert result.errors() == [f"chaos run chaos/exp.yaml: verdict invalid (exit 2): {message}"]
    assert "No report was written" in result.summary and message in result.summary
    assert played.artifact_files() == {"console.log"}


def test_comparison_inputs_and_args_reach_chaos_run_unexpanded(play, tmp_path):
    played = play(
        {"exit_code": 1, "status": "passed", "reasons": ["p99 regressed: 40 ms > 22 ms + 5%"]},
        **{
            "compare-to": "previous/run.json",
            "regression-margin": "5",
            "fail-on-regression": "TRUE",
            "args": """--seed 7 --allowed-namespaces 'shop staging' --webhook "$HOME;id" """,
            "reports-dir": "out/chaos",
            "upload": "false",
        },
    )
    (run,) = played.runs
    assert run[run.index("--compare-to") + 1] == "previous/run.json"
    assert run[run.index("--regression-margin") + 1] == "5"
    assert "--fail-on-regression" in run
    assert run[-6:] == [
        "--seed",
        "7",
        "--allowed-namespaces",
        "shop staging",
        "--webhook",
        "$HOME;id",
    ]
    assert unknown_options(["run"], run[2:]) == []
    result = played.result
    assert result.outputs["verdict"] == "regressed"
    assert result.outputs["reports-dir"] == str(played.workspace / "out" / "chaos")
    assert result.step("upload").outcome == "skipped"  # upload: 'false'
    assert not result.artifacts.joinpath("chaos-reports").exists()
    assert played.gate.exit_code == 1


def test_inputs_cannot_inject_shell_or_workflow_commands(play, tmp_path):
    experiment = 'x.yaml"; touch injected; echo "$(touch injected2)'
    played = play(
        {"exit_code": 1, "status": "failed", "reasons": ["100% down, %0A kept\n::error::forged"]},
        experiment=experiment,
    )
    assert played.runs[0][1] == experiment
    assert not any(played.workspace.glob("injected*"))
    assert played.result.errors() == [
        f"chaos run {experiment}: verdict failed (exit 1): 100% down, %0A kept"
    ]


def test_a_bad_flag_value_is_invalid_and_runs_nothing(play, tmp_path):
    played = play({"exit_code": 0, "status": "passed"}, **{"fail-on-regression": "yes"})
    assert played.runs == []
    assert played.result.outputs["verdict"] == "invalid"
    assert played.gate.exit_code == 2
    assert played.result.errors() == [
        "chaos run chaos/exp.yaml: verdict invalid (exit 2): "
        "fail-on-regression must be 'true' or 'false'"
    ]
    assert played.artifact_files() == {"console.log"}
