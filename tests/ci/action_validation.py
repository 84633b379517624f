"""Loading and validating a composite action (``action.yml``) before anything runs:
the checks listed in action_runner's docstring, every problem at once."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tests.ci.action_files import ActionError
from tests.ci.expressions import Expression, ExpressionError, condition, templates

STEP_KEYS = {"id", "name", "if", "run", "shell", "env", "uses", "with"}
UPLOAD_ARTIFACT = "actions/upload-artifact@v4"
UPLOAD_KEYS = {
    "name",
    "path",
    "if-no-files-found",
    "retention-days",
    "compression-level",
    "overwrite",
    "include-hidden-files",
}
_STEP_ID = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")


@dataclass(frozen=True)
class Action:
    directory: Path
    inputs: Mapping[str, Mapping[str, Any]]
    outputs: Mapping[str, str]
    steps: tuple[Mapping[str, Any], ...]

    def step_ids(self) -> list[str]:
        return [step["id"] for step in self.steps if "id" in step]


def load_action(directory: Path) -> Action:
    """Parse and validate ``directory/action.yml``; every problem at once in ``ActionError``."""
    raw = yaml.safe_load((directory / "action.yml").read_text())
    problems = validate(raw)
    if problems:
        raise ActionError("invalid action.yml:\n  " + "\n  ".join(problems))
    outputs = {name: spec["value"] for name, spec in (raw.get("outputs") or {}).items()}
    return Action(directory, raw.get("inputs") or {}, outputs, tuple(raw["runs"]["steps"]))


def validate(raw: Any) -> list[str]:
    if not isinstance(raw, dict):
        return ["action.yml must be a mapping"]
    problems = [f"missing top-level {key!r}" for key in ("name", "description") if key not in raw]
    runs = raw.get("runs") or {}
    if runs.get("using") != "composite":
        problems.append(f"runs.using must be 'composite', not {runs.get('using')!r}")
    steps = runs.get("steps")
    if not isinstance(steps, list) or not steps:
        return [*problems, "runs.steps must be a non-empty list"]
    inputs = raw.get("inputs") or {}
    for name, spec in inputs.items():
        if not (spec or {}).get("description"):
            problems.append(f"inputs.{name}: no description")
        if "default" in (spec or {}) and not isinstance(spec["default"], str):
            problems.append(f"inputs.{name}: default must be a string")
    seen: list[str] = []
    for index, step in enumerate(steps):
        where = f"step {index + 1} ({step.get('id') or step.get('name') or '?'})"
        problems += [f"{where}: {p}" for p in _step_problems(step, inputs, seen)]
        if "id" in step:
            seen.append(step["id"])
    for name, spec in (raw.get("outputs") or {}).items():
        value = (spec or {}).get("value")
        if not isinstance(value, str):
            problems.append(f"outputs.{name}: no value")
            continue
        problems += [f"outputs.{name}: {p}" for p in _template_problems(value, inputs, seen)]
    return problems


def _step_problems(step: Any, inputs: Mapping[str, Any], earlier: list[str]) -> list[str]:
    if not isinstance(step, dict):
        return ["a step must be a mapping"]
    problems = [f"unsupported key {key!r}" for key in step if key not in STEP_KEYS]
    if "id" in step and (not _STEP_ID.match(str(step["id"])) or step["id"] in earlier):
        problems.append(f"invalid or duplicate id {step['id']!r}")
    if ("run" in step) == ("uses" in step):
        problems.append("needs exactly one of run: and uses:")
    if "run" in step:
        if step.get("shell") != "bash":
            problems.append("a run: step needs shell: bash")
        if "${{" in str(step["run"]):
            problems.append("${{ }} inside run: (pass values through env: instead)")
    if "uses" in step:
        problems += _uses_problems(step)
    texts = [str(v) for v in (step.get("env") or {}).values()]
    texts += [str(v) for v in (step.get("with") or {}).values()]
    for text in texts:
        problems += _template_problems(text, inputs, earlier)
    if "if" in step:
        try:
            problems += _ref_problems(condition(str(step["if"])), inputs, earlier)
        except ExpressionError as exc:
            problems.append(f"if: {exc}")
    return problems


def _uses_problems(step: Mapping[str, Any]) -> list[str]:
    if step["uses"] != UPLOAD_ARTIFACT:
        return [f"uses: {step['uses']!r} is not modelled here (only {UPLOAD_ARTIFACT})"]
    with_ = step.get("with") or {}
    problems = [
        f"with.{k}: not an input of {UPLOAD_ARTIFACT}" for k in with_ if k not in UPLOAD_KEYS
    ]
    if "path" not in with_:
        problems.append("with.path is required")
    if with_.get("if-no-files-found", "warn") not in ("warn", "error", "ignore"):
        problems.append("with.if-no-files-found must be warn, error or ignore")
    return problems


def _template_problems(text: str, inputs: Mapping[str, Any], earlier: list[str]) -> list[str]:
    try:
        expressions = templates(text)
    except ExpressionError as exc:
        return [str(exc)]
    return [p for expression in expressions for p in _ref_problems(expression, inputs, earlier)]


def _ref_problems(
    expression: Expression, inputs: Mapping[str, Any], earlier: list[str]
) -> list[str]:
    problems: list[str] = []
    for ref in expression.refs():
        name = ".".join(ref.path)
        if ref.path[0] == "inputs" and ref.path[1] not in inputs:
            problems.append(f"{name} is not a declared input")
        if ref.path[0] == "steps" and ref.path[1] not in earlier:
            problems.append(f"{name}: no earlier step has id {ref.path[1]!r}")
    return problems
