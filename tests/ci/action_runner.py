"""A local stand-in for GitHub's runner that runs a composite action (``action.yml``).

Why a stand-in: GitHub's own runner only runs jobs it receives from GitHub, and ``act``
needs container images and network access; this machine has neither. So the tests run
the action's steps the way the runner does, for the subset of the runner an action like
ours relies on, and refuse (``ActionError``) whatever lies outside that subset instead of
guessing:

- validation before anything runs: ``runs.using: composite``; every ``${{ inputs.X }}``
  is declared; every ``run:`` step has ``shell: bash`` and no ``${{`` in its script (inputs
  reach scripts through ``env:`` only, the defence against script injection); every
  ``steps.ID`` reference names an earlier step (outputs: any step); the only ``uses:`` is
  ``actions/upload-artifact@v4``; every expression is in the grammar of ``expressions``.
- ``run:`` steps in order, as ``bash --noprofile --norc -eo pipefail SCRIPT`` (GitHub's
  ``shell: bash``), with ``GITHUB_ACTION_PATH``, ``GITHUB_WORKSPACE`` (also the working
  directory), ``RUNNER_TEMP`` and fresh ``GITHUB_OUTPUT`` / ``GITHUB_ENV`` / ``GITHUB_PATH``
  / ``GITHUB_STEP_SUMMARY`` files per step, parsed afterwards (``name=value`` and
  ``name<<DELIMITER`` blocks); variables and paths a step exports apply to later steps.
- ``if:`` with GitHub's implicit ``success()``: once a step fails the job is failed and
  only steps whose condition calls ``always()`` still run.
- ``::error::`` / ``::warning::`` / ``::notice::`` lines in a step's output become
  annotations.
- ``actions/upload-artifact@v4`` copies ``with.path`` into ``<artifacts>/<name>/`` with
  that action's rules: a directory's contents form the artifact's root, hidden files are
  left out unless ``include-hidden-files``, a second artifact with the same name is a
  conflict, and no files at all is an error, a warning or nothing by ``if-no-files-found``.

Stricter than GitHub on purpose: an undeclared input, or a missing required one, raises
(GitHub only warns), so a typo in a test cannot pass silently.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.ci.action_files import ActionError, parse_file_commands, upload_artifact
from tests.ci.action_validation import Action, load_action
from tests.ci.expressions import Ref, condition, expand, lookup, should_run

_ANNOTATION = re.compile(r"^::(error|warning|notice)(?: [^:]*)?::(.*)$")

__all__ = ["Action", "ActionError", "JobResult", "StepResult", "load_action", "run_action"]


@dataclass(frozen=True)
class Annotation:
    level: str
    message: str
    step: str


@dataclass(frozen=True)
class StepResult:
    id: str
    name: str
    outcome: str  # success | failure | skipped
    exit_code: int | None
    outputs: Mapping[str, str]
    log: str
    duration_s: float


@dataclass(frozen=True)
class JobResult:
    succeeded: bool
    steps: tuple[StepResult, ...]
    outputs: Mapping[str, str]
    env: Mapping[str, str]  # what the steps exported through GITHUB_ENV
    path: tuple[str, ...]  # what the steps added through GITHUB_PATH, newest first
    summary: str
    annotations: tuple[Annotation, ...]
    artifacts: Path

    def step(self, step_id: str) -> StepResult:
        return next(step for step in self.steps if step.id == step_id)

    def errors(self) -> list[str]:
        return [a.message for a in self.annotations if a.level == "error"]

    def transcript(self) -> str:
        """Every step's outcome and log, for assertion messages."""
        return "\n".join(
            f"--- {step.id or step.name}: {step.outcome} (exit {step.exit_code})\n{step.log}"
            for step in self.steps
        )


@dataclass
class _Job:
    action: Action
    base_env: dict[str, str]
    workspace: Path
    runner_temp: Path
    artifacts: Path
    logs: Path
    contexts: dict[str, dict[str, str]]
    exported: dict[str, str] = field(default_factory=dict)
    path: list[str] = field(default_factory=list)
    summary: list[str] = field(default_factory=list)
    annotations: list[Annotation] = field(default_factory=list)
    failed: bool = False

    def resolve(self, ref: Ref) -> str:
        return lookup(ref, self.contexts)

    def step_env(self, step: Mapping[str, Any]) -> dict[str, str]:
        env = {**self.base_env, **self.exported}
        env.update({k: expand(str(v), self.resolve) for k, v in (step.get("env") or {}).items()})
        env["PATH"] = os.pathsep.join([*self.path, env.get("PATH", os.defpath)])
        env.update(
            CI="true",
            GITHUB_ACTIONS="true",
            RUNNER_OS="Linux",
            GITHUB_ACTION_PATH=str(self.action.directory),
            GITHUB_WORKSPACE=str(self.workspace),
            RUNNER_TEMP=str(self.runner_temp),
        )
        return env


def run_action(
    action: Action,
    *,
    inputs: Mapping[str, str],
    workspace: Path,
    runner_temp: Path,
    artifacts: Path,
    env: Mapping[str, str] | None = None,
    after_step: Callable[[StepResult], None] | None = None,
    step_timeout_s: float = 900,
) -> JobResult:
    """Run every step of ``action`` as one job would; ``env`` is the job's environment
    (default: this process's). ``after_step`` sees each step's result as it ends."""
    job = _Job(
        action=action,
        base_env=dict(os.environ if env is None else env),
        workspace=workspace,
        runner_temp=runner_temp,
        artifacts=artifacts,
        logs=runner_temp / "_runner_logs" / uuid.uuid4().hex,
        contexts={
            "inputs": _input_values(action, inputs),
            "github": {"action_path": str(action.directory)},
            "runner": {"temp": str(runner_temp)},
        },
    )
    for directory in (workspace, runner_temp, artifacts, job.logs):
        directory.mkdir(parents=True, exist_ok=True)
    results = []
    for index, step in enumerate(action.steps):
        result = _run_step(job, index, step, step_timeout_s)
        if "id" in step:
            job.contexts[f"steps.{step['id']}"] = dict(result.outputs)
        results.append(result)
        if result.outcome == "failure":
            job.failed = True
        if after_step is not None:
            after_step(result)
    return JobResult(
        succeeded=not job.failed,
        steps=tuple(results),
        outputs={name: expand(value, job.resolve) for name, value in action.outputs.items()},
        env=dict(job.exported),
        path=tuple(job.path),
        summary="".join(job.summary),
        annotations=tuple(job.annotations),
        artifacts=artifacts,
    )


def _input_values(action: Action, given: Mapping[str, str]) -> dict[str, str]:
    unknown = sorted(set(given) - set(action.inputs))
    if unknown:
        raise ActionError(f"unexpected inputs {unknown}; declared: {sorted(action.inputs)}")
    values = {}
    for name, raw_spec in action.inputs.items():
        spec = raw_spec or {}
        if name in given:
            values[name] = str(given[name])
        elif spec.get("required") and "default" not in spec:
            raise ActionError(f"input {name!r} is required")
        else:
            values[name] = str(spec.get("default", ""))
    return values


def _run_step(job: _Job, index: int, step: Mapping[str, Any], timeout_s: float) -> StepResult:
    step_id, name = str(step.get("id", "")), str(step.get("name", step.get("id", index + 1)))
    if "if" in step:
        runs = should_run(condition(str(step["if"])), job_failed=job.failed, resolve=job.resolve)
    else:
        runs = not job.failed  # GitHub's default condition, success()
    if not runs:
        return StepResult(step_id, name, "skipped", None, {}, "", 0.0)
    started = time.monotonic()
    log_file = job.logs / f"{index + 1:02d}-{step_id or 'step'}.log"
    if "uses" in step:
        with_ = {k: expand(str(v), job.resolve) for k, v in (step.get("with") or {}).items()}
        exit_code, text = upload_artifact(with_, workspace=job.workspace, artifacts=job.artifacts)
        log_file.write_text(text)
        outputs: dict[str, str] = {}
    else:
        exit_code, outputs = _run_script(job, step, log_file, timeout_s)
    log = log_file.read_text(errors="replace")
    job.annotations += [
        Annotation(match.group(1), _unescape(match.group(2)), step_id or name)
        for match in map(_ANNOTATION.match, log.splitlines())
        if match
    ]
    outcome = "success" if exit_code == 0 else "failure"
    return StepResult(step_id, name, outcome, exit_code, outputs, log, time.monotonic() - started)


def _run_script(
    job: _Job, step: Mapping[str, Any], log_file: Path, timeout_s: float
) -> tuple[int, dict[str, str]]:
    commands = job.runner_temp / "_runner_file_commands"
    commands.mkdir(parents=True, exist_ok=True)
    token = uuid.uuid4().hex
    files = {
        kind: commands / f"{kind.lower()}_{token}"
        for kind in ("GITHUB_OUTPUT", "GITHUB_ENV", "GITHUB_PATH", "GITHUB_STEP_SUMMARY")
    }
    for path in files.values():
        path.touch()
    script = job.runner_temp / f"{token}.sh"
    script.write_text(str(step["run"]))
    env = {**job.step_env(step), **{kind: str(path) for kind, path in files.items()}}
    argv = ["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)]
    with log_file.open("wb") as log:
        process = subprocess.Popen(
            argv,
            cwd=job.workspace,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # so a timeout can end the step's whole process group
        )
        try:
            exit_code = process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            log.write(f"\n::error::step timed out after {timeout_s}s\n".encode())
            exit_code = 124
    job.exported.update(parse_file_commands(files["GITHUB_ENV"].read_text()))
    job.path[:0] = reversed(
        [line.strip() for line in files["GITHUB_PATH"].read_text().splitlines() if line.strip()]
    )
    job.summary.append(files["GITHUB_STEP_SUMMARY"].read_text())
    outputs = parse_file_commands(files["GITHUB_OUTPUT"].read_text())
    script.unlink()
    return exit_code, outputs


def _unescape(message: str) -> str:
    return message.replace("%0A", "\n").replace("%0D", "\r").replace("%25", "%")
