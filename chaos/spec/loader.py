"""Load experiment YAML (and game-day plans) into frozen models, reporting every problem
with file:line:col.

The YAML is composed into nodes (not loaded into dicts straight away) so each
value keeps its position; those positions are attached to validation errors.
All problems are collected and raised together in one :class:`SpecError`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import yaml
from pydantic import ValidationError

from chaos.errors import SpecError, SpecIssue
from chaos.spec.base import NAME_PATTERN, URL_PATTERN, FaultParams
from chaos.spec.gameday import GAMEDAY_STEP_TAGS, GameDay, GameDayPlan, PlannedStep
from chaos.spec.models import STEP_TAGS, Experiment
from chaos.spec.references import Loc, check_references


class FaultInfo(Protocol):
    """What the loader needs to know about a fault (the catalogue lives in chaos.faults)."""

    @property
    def params(self) -> type[FaultParams]: ...

    @property
    def reversible(self) -> bool: ...


FaultCatalog = Mapping[str, FaultInfo]


@dataclass
class _Document:
    file: str
    data: Any
    positions: dict[Loc, tuple[int, int]]  # where each key (or sequence item) starts
    issues: list[SpecIssue]
    values: dict[Loc, tuple[int, int]] = field(default_factory=dict)  # where each value starts
    constructor: yaml.SafeLoader = field(default_factory=lambda: yaml.SafeLoader(""))

    def issue(self, loc: Loc, message: str, *, at_key: bool = False) -> None:
        """Record a problem; it points at the value, or at the key for key problems."""
        line, column = self.position(loc, at_key=at_key)
        self.issues.append(SpecIssue(self.file, line, column, format_loc(loc), message))

    def position(self, loc: Loc, *, at_key: bool = False) -> tuple[int, int]:
        if not at_key and loc in self.values:
            return self.values[loc]
        for end in range(len(loc), -1, -1):
            if loc[:end] in self.positions:
                return self.positions[loc[:end]]
        return (1, 1)


def format_loc(loc: Loc) -> str:
    """('spec', 'method', 0, 'params') → 'spec.method[0].params'."""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


# ---------------------------------------------------------------- YAML with positions

_INTERPOLATION = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def _compose(doc: _Document, text: str) -> None:
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        message = f"invalid YAML: {exc.problem or exc.context}"
        doc.issues.append(SpecIssue(doc.file, line, column, "", message))
        return
    except yaml.YAMLError as exc:
        doc.issues.append(SpecIssue(doc.file, 1, 1, "", f"invalid YAML: {exc}"))
        return
    if node is None:
        doc.issues.append(SpecIssue(doc.file, 1, 1, "", "the file is empty"))
        return
    doc.data = _to_python(doc, node, ())


def _to_python(doc: _Document, node: yaml.Node, loc: Loc) -> Any:
    start = (node.start_mark.line + 1, node.start_mark.column + 1)
    doc.positions.setdefault(loc, start)
    doc.values[loc] = start
    if isinstance(node, yaml.MappingNode):
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = doc.constructor.construct_object(key_node, deep=True)
            child = (*loc, key)
            if key in result:
                doc.positions[child] = (
                    key_node.start_mark.line + 1,
                    key_node.start_mark.column + 1,
                )
                doc.issue(child, "duplicate key", at_key=True)
                continue
            doc.positions[child] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
            result[key] = _to_python(doc, value_node, child)
        return result
    if isinstance(node, yaml.SequenceNode):
        return [_to_python(doc, item, (*loc, index)) for index, item in enumerate(node.value)]
    value = doc.constructor.construct_object(node)
    if isinstance(value, str) and "${" in value:
        return _interpolate(doc, value, loc)
    return value


def _interpolate(doc: _Document, value: str, loc: Loc) -> str:
    """``${VAR}`` / ``${VAR:-default}`` from the environment (CI URLs, lab ports)."""

    def replace(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        if name in os.environ:
            return os.environ[name]
        if default is not None:
            return default
        doc.issue(loc, f"environment variable {name} is not set and has no default")
        return match.group(0)

    return _INTERPOLATION.sub(replace, value)


# ---------------------------------------------------------------- validation


def _validate_params(doc: _Document, catalog: FaultCatalog) -> None:
    """Replace each fault step's raw params by the fault's own validated model."""
    spec = doc.data.get("spec") if isinstance(doc.data, dict) else None
    method = spec.get("method") if isinstance(spec, dict) else None
    if not isinstance(method, list):
        return
    for index, step in enumerate(method):
        if not isinstance(step, dict):
            continue
        loc: Loc = ("spec", "method", index)
        if "fault" in step:
            _validate_step_params(doc, catalog, step, loc)
        parallel = step.get("parallel")
        if isinstance(parallel, list):
            for inner, fault_step in enumerate(parallel):
                if isinstance(fault_step, dict):
                    _validate_step_params(doc, catalog, fault_step, (*loc, "parallel", inner))


def _validate_step_params(
    doc: _Document, catalog: FaultCatalog, step: dict[str, Any], loc: Loc
) -> None:
    name = step.get("fault")
    raw = step.get("params", {})
    info = catalog.get(name) if isinstance(name, str) else None
    if info is None:
        known = ", ".join(sorted(catalog))
        doc.issue((*loc, "fault"), f"unknown fault {name!r} (known: {known})")
        step["params"] = FaultParams()
        return
    if raw is None:
        raw = {}
    try:
        step["params"] = info.params.model_validate(raw)
    except ValidationError as exc:
        _report(doc, exc, (*loc, "params"))
        step["params"] = FaultParams()
    if info.reversible and step.get("duration") is None:
        doc.issue(loc, f"fault {name!r} is reversible and needs a duration")


_UNION_TAGS = STEP_TAGS | GAMEDAY_STEP_TAGS  # pydantic's names for union members, not fields
_PATTERN_MESSAGES = {
    NAME_PATTERN: "use lower-case letters, digits and '-' (like a DNS label)",
    URL_PATTERN: "must be an http:// or https:// URL",
}


def _report(doc: _Document, exc: ValidationError, prefix: Loc = ()) -> None:
    errors = exc.errors(include_url=False)
    failed = [tuple(e["loc"]) for e in errors]
    for error in errors:
        raw_loc = tuple(error["loc"])
        if error["type"] == "too_short" and any(
            other[: len(raw_loc)] == raw_loc and other != raw_loc for other in failed
        ):
            continue  # "too few items" only because an item failed: the item's error says it
        loc = (*prefix, *(part for part in raw_loc if part not in _UNION_TAGS))
        doc.issue(loc, _message(error), at_key=error["type"] in ("extra_forbidden", "missing"))


def _message(error: Any) -> str:
    kind, message = error["type"], error["msg"]
    if kind == "extra_forbidden":
        return "unknown field"
    if kind == "missing":
        return "field required"
    if kind == "string_pattern_mismatch":
        pattern = (error.get("ctx") or {}).get("pattern", "")
        return _PATTERN_MESSAGES.get(pattern, message)
    return message.removeprefix("Value error, ")


# ---------------------------------------------------------------- public API


def load_text(text: str, *, file: str, catalog: FaultCatalog) -> Experiment:
    """Parse and validate one experiment; raise SpecError listing every problem."""
    doc = _Document(file=file, data=None, positions={}, issues=[])
    _compose(doc, text)
    if doc.data is not None and not isinstance(doc.data, dict):
        doc.issue((), "an experiment must be a mapping with apiVersion, kind, metadata, spec")
    if doc.issues:
        raise SpecError(doc.issues)
    _validate_params(doc, catalog)
    check_references(doc)
    try:
        experiment = Experiment.model_validate(doc.data)
    except ValidationError as exc:
        _report(doc, exc)
        raise SpecError(_sorted(doc.issues)) from None
    if doc.issues:
        raise SpecError(_sorted(doc.issues))
    return experiment


def load_file(path: Path | str, *, catalog: FaultCatalog) -> Experiment:
    return load_text(_read(path), file=str(path), catalog=catalog)


def _read(path: Path | str) -> str:
    file = str(path)
    try:
        return Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise SpecError([SpecIssue(file, 1, 1, "", f"cannot read file: {exc.strerror}")]) from exc
    except UnicodeDecodeError as exc:
        raise SpecError([SpecIssue(file, 1, 1, "", "file is not UTF-8 text")]) from exc


def load_gameday_file(path: Path | str, *, catalog: FaultCatalog) -> GameDayPlan:
    """A game-day plan and every experiment it names (relative to the plan's directory)."""
    return load_gameday_text(_read(path), file=str(path), base=Path(path).parent, catalog=catalog)


def load_gameday_text(text: str, *, file: str, base: Path, catalog: FaultCatalog) -> GameDayPlan:
    """Validate a plan and each experiment it names; raise one SpecError listing every
    problem: the plan's at plan:line:col, each experiment's at experiment:line:col."""
    doc = _Document(file=file, data=None, positions={}, issues=[])
    _compose(doc, text)
    if doc.data is not None and not isinstance(doc.data, dict):
        doc.issue((), "a game day must be a mapping with apiVersion, kind, metadata, spec")
    if doc.issues:
        raise SpecError(doc.issues)
    experiments, inner = _load_experiments(doc, base, catalog)
    try:
        gameday = GameDay.model_validate(doc.data)
    except ValidationError as exc:
        _report(doc, exc)
        gameday = None
    if gameday is None or doc.issues or inner:
        raise SpecError([*_sorted(doc.issues), *inner])
    steps = tuple(
        PlannedStep(index=index, step=step, **experiments.get(index, {}))
        for index, step in enumerate(gameday.spec.steps)
    )
    return GameDayPlan(gameday=gameday, source=file, steps=steps)


def _load_experiments(
    doc: _Document, base: Path, catalog: FaultCatalog
) -> tuple[dict[int, dict[str, Any]], list[SpecIssue]]:
    """Each step's experiment by step index, and the problems inside those files (each
    file's reported once, and pointed at from the step that names it)."""
    spec = doc.data.get("spec")
    steps = spec.get("steps") if isinstance(spec, dict) else None
    found: dict[int, dict[str, Any]] = {}
    inner: list[SpecIssue] = []
    loaded: dict[Path, Experiment | SpecError] = {}
    for index, step in enumerate(steps if isinstance(steps, list) else []):
        name = step.get("experiment") if isinstance(step, dict) else None
        if not isinstance(name, str) or not name:
            continue
        loc: Loc = ("spec", "steps", index, "experiment")
        path = Path(os.path.normpath(base / name))  # ../x.yaml shown as x.yaml's real place
        if not path.is_file():
            doc.issue(loc, f"no experiment file {str(path)!r}")
            continue
        key, first = path.resolve(), path.resolve() not in loaded
        if first:
            try:
                loaded[key] = load_file(path, catalog=catalog)
            except SpecError as exc:
                loaded[key] = exc
        result = loaded[key]
        if isinstance(result, SpecError):
            count = len(result.issues)
            doc.issue(loc, f"experiment {name!r} is invalid ({count} problem(s) in that file)")
            inner.extend(result.issues if first else ())
            continue
        found[index] = {"experiment": result, "path": path}
    return found, inner


def _sorted(issues: Iterable[SpecIssue]) -> list[SpecIssue]:
    unique = {(i.line, i.column, i.path, i.message): i for i in issues}
    return [unique[key] for key in sorted(unique)]
